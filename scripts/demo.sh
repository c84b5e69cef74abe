#!/usr/bin/env bash
# The main job on a fresh machine: install, start the demo database, and sync it with `fivetran debug` from a
# connector project generated the way users make theirs (files/demo-project: just connector.py, requirements.txt,
# configuration.json and a README, so the SDK's dependency check has nothing else to scan).
#
#   ./scripts/demo.sh        install into .venv (scripts/venv.sh), start the database, sync, print row counts
#   ./scripts/demo.sh stop   stop the demo database (it keeps running after a demo, for a second look)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
case "${1:-}" in
  "") ;;
  stop)
    python3 scripts/demo_db.py stop
    exit ;;
  *)
    echo "usage: $0 [stop]" >&2
    exit 2 ;;
esac
# A first build leaves the Partner SDK server out (the demo does not use it; 48 crates fewer to compile, a minute or two on 2
# cores); once a build exists, every later one (this script's, test.sh's) links it in as the wheel does.
if ! python3 -c "import connector_accel._core" >/dev/null 2>&1; then
  export CONNECTOR_ACCEL_SERVER=0
fi
install_package demo
python3 scripts/demo_db.py
project=files/demo-project
rm -rf "$project"
python3 -m connector_accel init "$project" --source postgres >/dev/null
cp configuration.json "$project/configuration.json"
echo "==> fivetran debug in $project"
(cd "$project" && DO_NOT_TRACK=1 fivetran debug --configuration configuration.json)
echo "==> what landed in $project/files/warehouse.db"
python3 - "$project" <<'PY'
import sys
import duckdb
con = duckdb.connect(f"{sys.argv[1]}/files/warehouse.db", read_only=True)
query = "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema LIKE 'tester%' ORDER BY 1, 2"
for schema, table in con.execute(query).fetchall():
    count = con.execute('SELECT count(*) FROM "%s"."%s"' % (schema, table)).fetchone()[0]
    print(f"{schema}.{table}: {count} rows")
PY
# The SDK suggests `duckdb -ui`, a CLI this install does not have; the venv's Python has the duckdb module.
cat <<EOT
Look at the warehouse with the venv's Python (no duckdb CLI needed):
  ${VIRTUAL_ENV#"$PWD/"}/bin/python -c "import duckdb; print(duckdb.connect('$project/files/warehouse.db', read_only=True).sql('SELECT * FROM tester_shop.customers LIMIT 5'))"
The demo database is still running on 127.0.0.1:54329; stop it with: ./scripts/demo.sh stop
EOT
