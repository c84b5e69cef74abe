#!/usr/bin/env bash
# Release artifacts into dist/: a manylinux2014 (glibc 2.17) abi3 wheel for x86_64, linked with zig (from PyPI) so
# that it runs on older Linux than this build machine's, and the sdist. Then the checks a package index makes.
# aarch64, macOS and Windows wheels need toolchains this machine cannot fetch: .github/workflows/release.yml builds
# them on a CI service (not run here).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
python -m pip install --quiet "maturin>=1.9.4,<2" "ziglang==0.13.0" twine auditwheel
rm -rf dist
python -m maturin build --release --zig --compatibility manylinux2014 --target x86_64-unknown-linux-gnu --out dist
python -m maturin sdist --out dist
python -m twine check --strict dist/*
for wheel in dist/*.whl; do
    python -m auditwheel show "$wheel"
done
ls -l dist
