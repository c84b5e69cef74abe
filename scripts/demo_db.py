"""Starts the demo's embedded PostgreSQL (files/demo-pg, port 54329, as configuration.json says) and loads the
sample shop into it; with `stop`, stops it.

    python scripts/demo_db.py [stop]
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for testkit
from testkit import embedded_pg  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATADIR = ROOT / "files" / "demo-pg"

if __name__ == "__main__":
    config = json.loads((ROOT / "configuration.json").read_text())
    if sys.argv[1:] == ["stop"]:
        stopped = embedded_pg.stop(DATADIR)
        print(f"demo database on 127.0.0.1:{config['port']} {'stopped' if stopped else 'was not running'}")
        sys.exit()
    try:
        settings = embedded_pg.start(DATADIR, int(config["port"]))
    except RuntimeError as e:
        sys.exit(str(e))
    embedded_pg.psql(settings, (Path(__file__).parent / "sample_data.sql").read_text())
    print(f"demo database ready on {settings['host']}:{settings['port']} (schema shop)")
