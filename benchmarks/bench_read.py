"""Throughput and memory of the PostgreSQL path, every figure measured in the same run against the same table.

    python benchmarks/bench_read.py [--rows 1000000]

(a) our reader producing dicts            (b) psycopg 3 producing dicts (server-side cursor, dict_row)
(c) a seed-style connector: psycopg + per-row flatten/convert + op.upsert, through the SDK's operations
(d) our connector (connector_accel.sdk.update) with emit=sdk: rows through the SDK's operations (op.upsert)
(e) the SDK's own ceiling: op.upsert fed the very dicts (d) emits, built in advance (first --ceiling-rows rows)
(f) our connector with emit=auto: records encoded in Rust, handed to the SDK's sink
(c) to (f) emit into a sink that only counts records. Peak RSS of (f) is measured in a child process at two table
sizes. With --debug, also `fivetran debug` end to end (DuckDB warehouse) in both modes on bench.wide_quarter.
"""
import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository root, for testkit
from testkit.embedded_pg import connection_config, conninfo  # noqa: E402


class CountingSink:
    """The Connector SDK's Sink protocol, counting records and doing nothing else."""

    def __init__(self):
        self.records = 0

    def record(self, record):
        self.records += 1

    def checkpoint(self, checkpoint):
        pass

    def truncate(self, truncate):
        pass

    def file_chunk(self, chunk):
        pass

    def warning(self, warning):
        pass

    def task(self, task):
        raise RuntimeError(task.message)


def install_sink(declared_tables):
    from fivetran_connector_sdk import Logging
    from fivetran_connector_sdk_cli import runtime, schema_processing

    Logging.LOG_LEVEL = Logging.Level.WARNING
    schema_processing.reset()
    schema_processing.process_tables(declared_tables, {})
    sink = CountingSink()
    runtime.install(sink)
    return sink


WIDE_COLUMNS = """(id bigint PRIMARY KEY, qty int, name text, price numeric(12,2), score double precision,
            active boolean, created_at timestamptz, local_ts timestamp, day date, attrs jsonb)"""


def wide_rows_sql(table, rows):
    """Fills `table` (WIDE_COLUMNS) with `rows` rows."""
    return f"""INSERT INTO {table} SELECT i, i % 1000, 'name-' || md5(i::text), (i % 100000) / 100.0, i * 0.001,
            i % 3 = 0, timestamptz '2020-01-01 00:00:00+00' + i * interval '1 second',
            timestamp '2021-01-01' + i * interval '1 second', date '2020-01-01' + (i % 3000),
            jsonb_build_object('color', 'c' || (i % 10), 'size', i % 40, 'ok', i % 2 = 0)
        FROM generate_series(1, {rows}) i;"""


def table_ready(settings, name, rows):
    import psycopg

    exists = (f"SELECT 1 FROM pg_class WHERE relname = '{name}' AND relnamespace = 'bench'::regnamespace "
              f"AND reltuples = {rows}")
    with psycopg.connect(**conninfo(settings), autocommit=True) as conn:
        return bool(conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'bench'").fetchone()
                    and conn.execute(exists).fetchone())


def prepare(settings, rows):
    from testkit import embedded_pg

    if table_ready(settings, "wide", rows):
        return
    embedded_pg.psql(settings, f"""
        DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench;
        CREATE TABLE bench.wide {WIDE_COLUMNS};
        {wide_rows_sql("bench.wide", rows)}
        CREATE TABLE bench.wide_quarter AS SELECT * FROM bench.wide WHERE id <= {rows // 4};
        ALTER TABLE bench.wide_quarter ADD PRIMARY KEY (id);
        VACUUM ANALYZE bench.wide; VACUUM ANALYZE bench.wide_quarter;""")


def server_for(parser):
    """The options every benchmark takes (--rows, --datadir) parsed, the embedded server started, and bench.wide
    ready: (args, server settings)."""
    from testkit import embedded_pg

    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--datadir", default=str(ROOT / "files" / "bench-pg"))
    parser.add_argument("--port", type=int, default=54330, help="the benchmark server's port (stopped on exit)")
    args = parser.parse_args()
    settings = embedded_pg.start_for_this_process(Path(args.datadir), args.port)
    prepare(settings, args.rows)
    return args, settings


def config_for(s, table="bench.wide"):
    return connection_config(s, tables=table, checkpoint_rows=100000, sync_validation="false", source_metadata="false")


def timed(fn):
    started = time.perf_counter()
    rows = fn()
    return rows, time.perf_counter() - started


def ours_dicts(s):
    from connector_accel import Source

    source = Source(config_for(s))
    source.discover()
    rows = 0
    for batch in source.read("bench", "wide"):
        rows += len(batch)
    return rows


def psycopg_dicts(s):
    import psycopg
    from psycopg.rows import dict_row

    rows = 0
    with psycopg.connect(**conninfo(s)) as conn:
        with conn.cursor(name="bench", row_factory=dict_row) as cur:
            cur.itersize = 5000
            cur.execute("SELECT * FROM bench.wide ORDER BY id")
            for _ in cur:
                rows += 1
    return rows


def seed_flatten(d, parent="", sep="_"):
    """Seed 000/003's flatten_dict: nested dicts flattened, NULL and '' become 'N/A', lists become JSON."""
    items = {}
    for k, v in d.items():
        key = f"{parent}{sep}{k}" if parent else k
        if isinstance(v, dict):
            items.update(seed_flatten(v, key, sep))
        elif v is None or v == "":
            items[key] = "N/A"
        elif isinstance(v, list):
            items[key] = json.dumps(v)
        else:
            items[key] = v
    return items


def seed_convert(v):
    if v is None or isinstance(v, (bool, int, float, str, dict, list)):
        return v
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    return str(v)


def seed_connector(s):
    import psycopg
    from fivetran_connector_sdk import Operations as op
    from psycopg.rows import dict_row

    sink = install_sink([{"table": "wide"}])  # the seeds declare no types
    with psycopg.connect(**conninfo(s)) as conn:
        with conn.cursor(name="seed", row_factory=dict_row) as cur:
            cur.itersize = 5000
            cur.execute("SELECT * FROM bench.wide")
            for row in cur:
                op.upsert("wide", seed_flatten({k: seed_convert(v) for k, v in row.items()}))
    return sink.records


def our_connector(s, table="bench.wide", emit="auto"):
    from connector_accel import sdk

    sdk._SOURCES.clear()
    config = {**config_for(s, table), "emit": emit}
    sink = install_sink(sdk.schema(config))
    sdk.update(config, {})
    return sink.records


def sdk_ceiling(s, limit):
    from connector_accel import Source, sdk
    from fivetran_connector_sdk import Operations as op

    source = Source(config_for(s))
    tables, _ = source.discover()
    ready = []
    for batch in source.read("bench", "wide", batch_size=5000):
        ready.extend(batch)
        if len(ready) >= limit:
            break
    ready = ready[:limit]
    sink = install_sink([sdk.declaration(t) for t in tables])
    upsert = op.upsert
    started = time.perf_counter()
    for row in ready:
        upsert("wide", row, schema="bench")
    return sink.records, time.perf_counter() - started


def fivetran_debug(s, emit, table="bench.wide_quarter"):
    """`fivetran debug` of `table` in a fresh project, end to end into DuckDB: (rows in the warehouse, seconds)."""
    import os
    import shutil
    import tempfile

    import duckdb

    project = Path(tempfile.mkdtemp(prefix="bench-debug-"))
    shutil.copy(ROOT / "connector.py", project / "connector.py")
    (project / "requirements.txt").write_text("")
    (project / "configuration.json").write_text(json.dumps({**config_for(s, table), "emit": emit}))
    command = [str(Path(sys.executable).parent / "fivetran"), "debug", "--configuration", "configuration.json"]
    started = time.perf_counter()
    subprocess.run(command, cwd=project, env=dict(os.environ, DO_NOT_TRACK="1"), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    db = duckdb.connect(str(project / "files" / "warehouse.db"), read_only=True)
    rows = db.execute(f"SELECT count(*) FROM tester_bench.{table.split('.')[1]}").fetchone()[0]
    db.close()
    shutil.rmtree(project)
    return rows, seconds


def peak_rss_mb():
    """VmHWM: unlike ru_maxrss, it starts afresh at exec, so a child does not inherit its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_rss(settings, table):
    """Peak RSS (MB) of a fresh process that runs our connector over `table` into the counting sink."""
    code = (f"import json,sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_read as b; "
            "n = b.our_connector(json.loads(sys.argv[1]), sys.argv[2]); print(n, b.peak_rss_mb())"
            )
    out = subprocess.run([sys.executable, "-c", code, json.dumps(settings), table], capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[0]), float(out[1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--ceiling-rows", type=int, default=200_000)
    parser.add_argument("--datadir", default=str(ROOT / "files" / "bench-pg"))
    parser.add_argument("--port", type=int, default=54330, help="the benchmark server's port (stopped on exit)")
    parser.add_argument("--debug", action="store_true", help="also time `fivetran debug` end to end, both modes")
    args = parser.parse_args()
    from testkit import embedded_pg

    settings = embedded_pg.start_for_this_process(Path(args.datadir), args.port)
    t0 = time.perf_counter()
    prepare(settings, args.rows)
    print(f"table bench.wide: {args.rows:,} rows (ready in {time.perf_counter() - t0:.1f}s); 2 cores; "
          f"10 columns: bigint PK, int, text, numeric, double, boolean, timestamptz, timestamp, date, jsonb")
    results = {}
    for label, fn in [("a", lambda: ours_dicts(settings)), ("b", lambda: psycopg_dicts(settings)),
                      ("c", lambda: seed_connector(settings)), ("d", lambda: our_connector(settings, emit="sdk")),
                      ("f", lambda: our_connector(settings, emit="auto"))]:
        rows, seconds = timed(fn)
        assert rows == args.rows, (label, rows)
        results[label] = rows / seconds
    rows, seconds = sdk_ceiling(settings, args.ceiling_rows)
    results["e"] = rows / seconds
    names = {"a": "our reader -> dicts", "b": "psycopg 3 -> dicts", "c": "seed-style connector -> SDK ops",
             "d": "our connector, emit=sdk -> SDK ops", "e": "SDK ceiling (prebuilt dicts -> SDK ops)",
             "f": "our connector, emit=auto -> SDK sink"}
    for k in "abcdef":
        print(f"({k}) {names[k]:<42} {results[k]:>12,.0f} rows/s")
    print(f"ratio (a)/(b) = {results['a'] / results['b']:.2f}x   (target >= 4x)")
    print(f"ratio (d)/(e) = {results['d'] / results['e']:.2f}x   (target >= 0.9x)")
    print(f"ratio (d)/(c) = {results['d'] / results['c']:.2f}x   (our connector, emit=sdk, vs seed-style)")
    print(f"ratio (f)/(c) = {results['f'] / results['c']:.2f}x   (emit=auto vs seed-style; target >= 8x)")
    print(f"ratio (f)/(d) = {results['f'] / results['d']:.2f}x   (emit=auto vs emit=sdk; target >= 5x)")
    if args.debug:
        for emit in ("sdk", "auto"):
            rows, seconds = fivetran_debug(settings, emit)
            print(f"fivetran debug, emit={emit}: {rows:,} rows in {seconds:.1f}s = {rows / seconds:,.0f} rows/s "
                  "(end to end: start-up, DuckDB writes)")
    small_rows, small_rss = child_rss(settings, "bench.wide_quarter")
    big_rows, big_rss = child_rss(settings, "bench.wide")
    print(f"peak RSS of our connector: {small_rss:.0f} MB at {small_rows:,} rows, {big_rss:.0f} MB at {big_rows:,} rows "
          f"(target < 250 MB, flat)")


if __name__ == "__main__":
    main()
