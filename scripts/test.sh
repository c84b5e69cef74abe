#!/usr/bin/env bash
# All tests: Rust unit tests (dev profile), then pytest against a real (embedded) PostgreSQL and the real Connector
# SDK runner, on the package built and installed as a user gets it.
set -euo pipefail
cd "$(dirname "$0")/.."
export DO_NOT_TRACK=1
python3 -m pip install --quiet ".[test]"
cargo test --quiet
python3 -m pytest -q "$@"
