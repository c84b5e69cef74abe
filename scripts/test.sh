#!/usr/bin/env bash
# All tests: Rust unit tests, then pytest against a real (embedded) PostgreSQL and the real Connector SDK runner.
set -euo pipefail
cd "$(dirname "$0")/.."
export DO_NOT_TRACK=1
python3 -m pip install --quiet ".[test]"
cargo test --release --quiet
python3 -m pytest -q "$@"
