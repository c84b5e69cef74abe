#!/usr/bin/env bash
# The main job on a fresh machine: install, start the demo database, and sync it with `fivetran debug` from a
# connector project generated the way users make theirs (files/demo-project: just connector.py, requirements.txt,
# configuration.json and a README, so the SDK's dependency check has nothing else to scan).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet ".[test]"
python3 scripts/demo_db.py
project=files/demo-project
rm -rf "$project"
python3 -m connector_accel init "$project" --source postgres >/dev/null
cp configuration.json "$project/configuration.json"
(cd "$project" && DO_NOT_TRACK=1 fivetran debug --configuration configuration.json)
python3 - "$project" <<'PY'
import sys
import duckdb
con = duckdb.connect(f"{sys.argv[1]}/files/warehouse.db", read_only=True)
query = "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema LIKE 'tester%' ORDER BY 1, 2"
for schema, table in con.execute(query).fetchall():
    count = con.execute('SELECT count(*) FROM "%s"."%s"' % (schema, table)).fetchone()[0]
    print(f"{schema}.{table}: {count} rows")
PY
