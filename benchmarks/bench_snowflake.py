"""Issue 24's comparison, in one run against the same fakesnow server (testkit/snowflake, the service's Arrow
encodings, results cut into chunks served from URLs), on the same table:

  (c) snowflake-connector-python 3.12.2 (seed 000's pin): SELECT *, cursor.fetch_arrow_all()     rows/s
  (o) ours: Source + discover + read_arrow of the table (chunks downloaded 4 ahead), every batch  rows/s
  (r) ours: the read_arrow alone                                                                  rows/s
  ratios (o)/(c), (r)/(c)

Both read the same result over the same loopback HTTP from the same server, which re-encodes and chunks it in
Python: the server's cost is in both figures. The connector runs in the peers' venv (.venv-snowflake), a process of
its own; its figure is its own timing of connect + execute + fetch_arrow_all, ours of Source + read_arrow.
Run: python benchmarks/bench_snowflake.py [--rows 200000] [--rounds 3]
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from testkit.snowflake import ACCOUNT, DATABASE, PASSWORD, USER, Server, peer_python  # noqa: E402

CONNECTOR = """
import json, sys, time
import snowflake.connector
port, rows = int(sys.argv[1]), int(sys.argv[2])
start = time.perf_counter()
conn = snowflake.connector.connect(user=USER, password=PASSWORD, account=ACCOUNT, host="127.0.0.1", port=port,
                                   protocol="http", database=DATABASE, schema="PUBLIC")
table = conn.cursor().execute('SELECT * FROM "PUBLIC"."BENCH"').fetch_arrow_all()
elapsed = time.perf_counter() - start
assert table.num_rows == rows, table.num_rows
print(json.dumps({"seconds": elapsed}))
""".replace("USER", repr(USER)).replace("PASSWORD", repr(PASSWORD)).replace("ACCOUNT", repr(ACCOUNT)).replace(
    "DATABASE", repr(DATABASE))


def prepare(server: Server, rows: int) -> None:
    server.sql("CREATE DATABASE IF NOT EXISTS SHOP", database=None, schema=None)
    server.sql("CREATE SCHEMA IF NOT EXISTS SHOP.PUBLIC", schema=None)
    server.sql("CREATE OR REPLACE TABLE BENCH (ID NUMBER(18,0) PRIMARY KEY, QTY NUMBER(9,0), NAME VARCHAR, "
               "PRICE NUMBER(12,2), SCORE FLOAT, ACTIVE BOOLEAN, CREATED_AT TIMESTAMP_NTZ, DAY DATE, NOTE VARCHAR)",
               f"INSERT INTO BENCH SELECT i, i % 1000, 'name ' || i, i / 100, i * 0.5, i % 2 = 0, "
               f"TIMESTAMP '2024-01-01' + INTERVAL (i) SECOND, DATEADD(day, i % 365, DATE '2024-01-01'), "
               f"CASE WHEN i % 3 = 0 THEN NULL ELSE 'note' END FROM range(1, {rows + 1}) t(i)")


def ours(server: Server, rows: int) -> tuple[float, float]:
    """(login + discovery + read, the read alone): discovery is several catalog statements the connector's figure
    has no counterpart of."""
    from connector_accel import Source

    start = time.perf_counter()
    source = Source(server.configuration(tables="BENCH", sync_validation="false", source_metadata="false"))
    source.discover()
    read = time.perf_counter()
    got = sum(batch.num_rows for batch in _batches(source.read_arrow("PUBLIC", "BENCH")))
    end = time.perf_counter()
    assert got == rows, got
    return end - start, end - read


def _batches(reader):
    import pyarrow as pa

    return pa.RecordBatchReader.from_stream(reader)


def connector(server: Server, rows: int) -> float:
    out = subprocess.run([peer_python(), "-c", CONNECTOR, str(server.port), str(rows)], capture_output=True,
                         text=True, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(f"snowflake-connector-python failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--encoding", choices=["snowflake", "fakesnow"], default="snowflake",
                        help="the service's Arrow encodings (re-encoded by the wrapper, in Python) or fakesnow's own")
    args = parser.parse_args()
    server = Server("--encoding", args.encoding, "--chunk-rows", "50000")
    try:
        prepare(server, args.rows)
        connector(server, args.rows), ours(server, args.rows)  # warm-up: imports, the server's first answers
        c = statistics.median(connector(server, args.rows) for _ in range(args.rounds))
        runs = [ours(server, args.rows) for _ in range(args.rounds)]
        o, r = statistics.median(t for t, _ in runs), statistics.median(t for _, t in runs)
    finally:
        server.stop()
    print(f"rows={args.rows} rounds={args.rounds} encoding={args.encoding} (median)")
    print(f"(c) snowflake-connector-python fetch_arrow_all: {args.rows / c:,.0f} rows/s ({c:.2f} s)")
    print(f"(o) ours, login + discovery + read_arrow:       {args.rows / o:,.0f} rows/s ({o:.2f} s)")
    print(f"(r) ours, read_arrow alone:                     {args.rows / r:,.0f} rows/s ({r:.2f} s)")
    print(f"(o)/(c): {c / o:.2f}x   (r)/(c): {c / r:.2f}x")


if __name__ == "__main__":
    main()
