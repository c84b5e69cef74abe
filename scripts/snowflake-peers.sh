#!/usr/bin/env bash
# The Snowflake peers' own venv (.venv-snowflake): fakesnow's server and snowflake-connector-python, which tests and
# benchmarks run as separate processes. Apart from the project's venv because the connector's pins (pyOpenSSL<26,
# so cryptography<47) conflict with the Connector SDK's (cryptography==49); see testkit/snowflake/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
[ -x .venv-snowflake/bin/python ] || "$python" -m venv --system-site-packages .venv-snowflake
.venv-snowflake/bin/python -m pip install --quiet -r testkit/snowflake/requirements.txt
