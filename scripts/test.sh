#!/usr/bin/env bash
# All tests: Rust unit tests (dev profile), then pytest against a real (embedded) PostgreSQL and the real Connector
# SDK runner, on the package built and installed (into .venv, scripts/venv.sh) as a user gets it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
export DO_NOT_TRACK=1
install_package test
# The Snowflake peers (fakesnow's server, snowflake-connector-python) in a venv of their own: their pins conflict with
# the SDK's (testkit/snowflake/requirements.txt); tests/test_snowflake*.py run them as separate processes. Made on the
# first run, checked (seconds) on later ones; without it a fresh clone's Snowflake tests all fail.
echo "==> the Snowflake peers' venv (.venv-snowflake)"
PYTHON=python3 scripts/snowflake-peers.sh
echo "==> cargo test (the Rust unit tests; a first run compiles the dev profile: minutes)"
cargo test --quiet
echo "==> pytest"
python3 -m pytest -q "$@"
