#!/usr/bin/env bash
# The main job on a fresh machine: install, start the demo database, sync it with `fivetran debug`.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet ".[test]"
rm -rf files/warehouse.db files/state.json
python3 scripts/demo_db.py
fivetran debug --configuration configuration.json
python3 - <<'PY'
import duckdb
con = duckdb.connect("files/warehouse.db", read_only=True)
query = "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema LIKE 'tester%' ORDER BY 1, 2"
for schema, table in con.execute(query).fetchall():
    count = con.execute('SELECT count(*) FROM "%s"."%s"' % (schema, table)).fetchone()[0]
    print(f"{schema}.{table}: {count} rows")
PY
