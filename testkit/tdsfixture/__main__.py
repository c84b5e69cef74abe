"""Runs the TDS test server in the foreground (for benchmarks): `python -m tdsfixture --port P --backing JSON`
where JSON is the psycopg connection settings of the PostgreSQL database served as database `--database`."""
import argparse
import json
import threading

from .server import TdsServer

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, default=0)
parser.add_argument("--database", default="ehr")
parser.add_argument("--backing", required=True)
parser.add_argument("--user", default="sa")
parser.add_argument("--password", required=True)
args = parser.parse_args()
server = TdsServer({args.database: json.loads(args.backing)}, {args.user: args.password}, port=args.port,
                   forking=True)
print(server.port, flush=True)
threading.Event().wait()
