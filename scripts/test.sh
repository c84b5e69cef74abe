#!/usr/bin/env bash
# All tests: Rust unit tests (dev profile), then pytest against a real (embedded) PostgreSQL and the real Connector
# SDK runner, on the package built and installed (into .venv, scripts/venv.sh) as a user gets it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
export DO_NOT_TRACK=1
install_package test
echo "==> cargo test (the Rust unit tests; a first run compiles the dev profile: minutes)"
cargo test --quiet
echo "==> pytest"
python3 -m pytest -q "$@"
