"""Issue 4's target, measured in one run against the TDS test server (testkit/tdsfixture) on the same data:

  (s) seed-style connector: python-tds (pytds), fetchmany(5000), dict per row, seed flatten, op.upsert   rows/s
  (o) our connector (Source via connector_accel.sdk), same counting sink, the plan's one stream     rows/s
  (p) the same with partitions=2, workers=2                                                             rows/s
  target (o)/(s) >= 3x
  (e) the SDK's own ceiling: op.upsert fed the dicts (f) produced, nothing else                         rows/s
  (f) our reader alone, no SDK: the fastest client here, so the fixture serves at least this fast      rows/s

The fixture is Python (a process per session here), so every figure is bounded by it; (f) shows how
close to that bound the others are. Run: python benchmarks/bench_mssql.py [--rows 200000] [--rounds 3]
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import bench_read as b  # noqa: E402

PASSWORD = "Bench!Passw0rd"
COLUMNS = ("id bigint NOT NULL PRIMARY KEY, qty int, name nvarchar(40), price decimal(12,2), score float, "
           "active bit, created_at datetime2(7), day date, code uniqueidentifier, note varchar(60)")


def prepare(settings, rows):
    import psycopg

    from testkit.tdsfixture import create_table
    from testkit.tdsfixture.engine import bootstrap

    info = b.conninfo(settings)
    with psycopg.connect(**info, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'ehr_bench'").fetchone():
            conn.execute("CREATE DATABASE ehr_bench")
    backing = dict(info, dbname="ehr_bench")
    bootstrap(backing)
    with psycopg.connect(**backing, autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM pg_class WHERE relname = 'bench' AND reltuples = %s", (rows,))
        if have.fetchone()[0]:
            return backing
    create_table(backing, "dbo", "bench", COLUMNS)
    with psycopg.connect(**backing, autocommit=True) as conn:
        conn.execute("""INSERT INTO dbo.bench SELECT g, g %% 1000, 'name ' || g, g / 100.0, g * 0.5, g %% 2 = 0,
            timestamp '2024-01-01' + g * interval '1 second', date '2024-01-01' + g %% 365, gen_random_uuid(),
            CASE WHEN g %% 10 = 0 THEN NULL ELSE 'note ' || g END FROM generate_series(1, %s) g""", (rows,))
        conn.execute("VACUUM ANALYZE dbo.bench")
    return backing


def start_fixture(backing):
    proc = subprocess.Popen([sys.executable, "-m", "testkit.tdsfixture", "--backing", json.dumps(backing), "--database",
                             "ehr", "--password", PASSWORD], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())


def config(port, **extra):
    return {"mssql_server": "127.0.0.1", "mssql_port": str(port), "mssql_database": "ehr", "mssql_user": "sa",
            "mssql_password": PASSWORD, "encrypt": "disable", "tables": "dbo.bench", "sync_validation": "false",
            "source_metadata": "false", **extra}


def seed_connector(port):
    import pytds
    from fivetran_connector_sdk import Operations as op

    sink = b.install_sink([{"table": "bench"}])  # seed 004 declares no types
    with pytds.connect("127.0.0.1", "ehr", "sa", PASSWORD, port=port, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("SELECT * FROM bench")
        names = [d[0] for d in cur.description]
        while True:
            rows = cur.fetchmany(5000)
            if not rows:
                break
            for row in rows:
                op.upsert("bench", b.seed_flatten({k: b.seed_convert(v) for k, v in zip(names, row, strict=False)}))
    return sink.records


def our_connector(port, **extra):
    from connector_accel import sdk

    sdk._SOURCES.clear()
    cfg = config(port, **extra)
    sink = b.install_sink(sdk.schema(cfg))
    sdk.update(cfg, {})
    return sink.records


def our_reader(port):
    from connector_accel import Source

    source = Source(config(port))
    source.discover()
    rows = 0
    with source.read("dbo", "bench") as reader:
        for batch in reader:
            rows += len(batch)
    return rows


def sdk_ceiling(port):
    """op.upsert alone, fed the very dicts our reader produced: what any connector emitting through the SDK gets."""
    from connector_accel import Source, sdk
    from fivetran_connector_sdk import Operations as op

    source = Source(config(port))
    tables, _ = source.discover()
    with source.read("dbo", "bench") as reader:
        rows = [row for batch in reader for row in batch]
    b.install_sink([sdk.declaration(t) for t in tables])
    started = time.perf_counter()
    for row in rows:
        op.upsert("bench", row, schema="dbo")
    return len(rows) / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--datadir", default=str(ROOT / "files" / "bench-pg"))
    parser.add_argument("--port", type=int, default=54330, help="the benchmark server's port (stopped on exit)")
    args = parser.parse_args()
    from testkit import embedded_pg

    settings = embedded_pg.start_for_this_process(Path(args.datadir), args.port)
    backing = prepare(settings, args.rows)
    proc, port = start_fixture(backing)
    try:
        rates = {"s": [], "o": [], "p": [], "f": []}
        two = lambda p: our_connector(p, partitions="2", workers="2")  # noqa: E731
        for _ in range(args.rounds):
            for name, fn in (("s", seed_connector), ("o", our_connector), ("p", two), ("f", our_reader)):
                rows, seconds = b.timed(lambda fn=fn: fn(port))
                assert rows == args.rows, (name, rows)
                rates[name].append(rows / seconds)
        ceiling = statistics.median(sdk_ceiling(port) for _ in range(args.rounds))
    finally:
        proc.terminate()
    s, o, p, f = (statistics.median(rates[k]) for k in "sopf")
    print(f"dbo.bench: {args.rows:,} rows, 10 columns, via the TDS test server; median of {args.rounds} rounds")
    print(f"(s) seed-style pytds connector -> SDK sink   {s:>10,.0f} rows/s  {[round(r) for r in rates['s']]}")
    print(f"(o) our connector -> SDK sink                {o:>10,.0f} rows/s  {[round(r) for r in rates['o']]}")
    print(f"(p) our connector, 2 partitions -> sink   {p:>10,.0f} rows/s  {[round(r) for r in rates['p']]}")
    print(f"(f) our reader alone (fixture serves >= this) {f:>9,.0f} rows/s  {[round(r) for r in rates['f']]}")
    print(f"(e) SDK ceiling: op.upsert of (f)'s dicts    {ceiling:>10,.0f} rows/s")
    print(f"ratio (o)/(s) = {o / s:.2f}x, (p)/(s) = {p / s:.2f}x   (target >= 3x)")


if __name__ == "__main__":
    main()
