"""Change data capture (issue 23): change events per second from a logical replication slot, in one run on one
server (wal_level = logical) and one stream of mixed changes to bench.cdc (10 columns):

  (p) the server alone: count(*) over pg_logical_slot_peek_binary_changes (decoding, no client work): the ceiling
  (l) the library: connector_accel.read_changes, events as dicts              events/s, share of (p), peak RSS
  (s) the SDK connector's catch-up (logical.Catchup) into a counting sink     events/s, share of (p), peak RSS
  (g) the Partner SDK server's catch-up (`serve`), one draining grpcio client events/s, share of (p), server's RSS
  and the slot's retained WAL before a sync and after the next sync's start acknowledged it.

Run: python benchmarks/bench_cdc.py [--changes 1000000] [--rounds 3]
The stream is 50% updates, 25% inserts, 25% deletes in transactions of 10,000. Peeking never moves the slot, so
every round reads the same stream; each measurement runs in a process of its own (its peak RSS is its own).
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
sys.path.insert(0, str(ROOT))
import bench_read as b  # noqa: E402

SLOT = "bench_cdc"


def config(settings) -> dict:
    return b.connection_config(settings, tables="bench.cdc", update_method="logical", replication_slot=SLOT,
                               publication=SLOT, sync_validation="false", source_metadata="false")


def prepare(settings, changes: int) -> str:
    """bench.cdc with `changes` / 2 rows, the slot at its start, then the stream; returns the slot's position."""
    import psycopg
    from connector_accel import read_changes

    rows = changes // 2
    with psycopg.connect(**b.conninfo(settings), autocommit=True) as conn:
        conn.execute(f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{SLOT}'")
        conn.execute(f"DROP PUBLICATION IF EXISTS {SLOT}")
        conn.execute("DROP TABLE IF EXISTS bench.cdc; CREATE SCHEMA IF NOT EXISTS bench")
        conn.execute(f"CREATE TABLE bench.cdc {b.WIDE_COLUMNS}")
        conn.execute(b.wide_rows_sql("bench.cdc", rows))
        start = [e for e in read_changes(config(settings))][-1]["lsn"]
        step = 10_000
        for lo in range(0, rows, step):  # updates: every row once
            conn.execute(f"UPDATE bench.cdc SET qty = qty + 1, name = name || 'x' WHERE id > {lo} AND id <= {lo + step}")
        for lo in range(rows, rows + changes // 4, step):  # inserts
            conn.execute(b.wide_rows_sql("bench.cdc", step).replace("generate_series(1, ", f"generate_series({lo + 1}, {lo} + "))
        for lo in range(0, changes // 4, step):  # deletes
            conn.execute(f"DELETE FROM bench.cdc WHERE id > {lo} AND id <= {lo + step}")
    return start


def server_decoding(settings) -> tuple[int, float]:
    import psycopg

    with psycopg.connect(**b.conninfo(settings), autocommit=True) as conn:
        started = time.perf_counter()
        n = conn.execute(f"SELECT count(*) FILTER (WHERE substr(data, 1, 1) IN ('I', 'U', 'D')) FROM "
                         f"pg_logical_slot_peek_binary_changes('{SLOT}', NULL, NULL, 'proto_version', '1', "
                         f"'publication_names', '{SLOT}', 'binary', 'true')").fetchone()[0]
        return n, time.perf_counter() - started


def library(settings, start: str) -> tuple[int, float]:
    from connector_accel import read_changes

    started = time.perf_counter()
    n = sum(1 for e in read_changes(config(settings), after=start) if e["op"] != "end")
    return n, time.perf_counter() - started


def sdk_catchup(settings, start: str) -> tuple[int, float]:
    from connector_accel import Source, logical, sdk

    cfg = config(settings)
    b.install_sink(sdk.schema(cfg))
    source = Source(cfg)
    tables, _ = source.discover()
    state = {"tables": {}, "replication": {"slot": SLOT, "lsn": start}}
    catchup = logical.Catchup(source, tables, state)
    started = time.perf_counter()
    catchup.run()
    return catchup.events, time.perf_counter() - started


def grpc_catchup(settings, start: str) -> tuple[int, float, float]:
    """The server's Update from a state at `start` whose table takes its changes from the log (no load after):
    (events, seconds, the server's peak RSS in MB)."""
    from testkit.grpc_server import Server, as_configuration

    state = {"version": 2, "tables": {"bench.cdc": {"phase": "logical", "slot": SLOT, "partitions": ""}},
             "replication": {"slot": SLOT, "lsn": start}}
    server = Server()
    try:
        request = server.stubs.connector_sdk.UpdateRequest(configuration=as_configuration(config(settings)),
                                                          state_json=json.dumps(state))
        n, started = 0, time.perf_counter()
        for r in server.client.Update(request, timeout=3600):
            kind = r.WhichOneof("operation")
            n += len(r.records.records) if kind == "records" else kind == "record"
        seconds = time.perf_counter() - started
        with open(f"/proc/{server.process.pid}/status") as status:
            hwm = next(line for line in status if line.startswith("VmHWM:"))
        return n, seconds, int(hwm.split()[1]) / 1024
    finally:
        server.stop()


def child(mode: str, settings: dict, start: str) -> None:
    if mode == "g":
        n, seconds, rss = grpc_catchup(settings, start)
    else:
        n, seconds = {"p": server_decoding, "l": library, "s": sdk_catchup}[mode](*(
            (settings,) if mode == "p" else (settings, start)))
        # VmHWM: this process image's own peak; ru_maxrss also counts the parent's pages from before the exec
        rss = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
    print(json.dumps({"events": n, "seconds": seconds, "rss_mb": rss}))


def retained(settings) -> int:
    import psycopg

    with psycopg.connect(**b.conninfo(settings), autocommit=True) as conn:
        return conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::int8 FROM "
                            f"pg_replication_slots WHERE slot_name = '{SLOT}'").fetchone()[0]


def main():
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], json.loads(sys.argv[3]), sys.argv[4])
        return
    from testkit import embedded_pg

    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--datadir", default=str(ROOT / "files" / "bench-pg-logical"))
    parser.add_argument("--port", type=int, default=54331)
    args = parser.parse_args()
    settings = embedded_pg.start_for_this_process(Path(args.datadir), args.port,
                                                  conf={"wal_level": "logical", "max_wal_size": "4GB"})
    start = prepare(settings, args.changes)
    results = {"p": [], "l": [], "s": [], "g": []}
    for _ in range(args.rounds):
        for mode in results:
            out = subprocess.run([sys.executable, __file__, "--child", mode, json.dumps(settings), start],
                                 capture_output=True, text=True, cwd=ROOT)
            if out.returncode != 0:
                sys.exit(f"({mode}) failed: {out.stderr[-2000:]}")
            results[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    events = {m: r[0]["events"] for m, r in results.items()}
    assert events["l"] == events["s"] == events["p"] == events["g"], events
    rate = {m: statistics.median(x["events"] / x["seconds"] for x in r) for m, r in results.items()}
    rss = {m: max(x["rss_mb"] for x in r) for m, r in results.items()}
    before = retained(settings)
    from connector_accel import read_changes
    end = [e for e in read_changes(config(settings), after=start)][-1]["lsn"]
    list(read_changes(config(settings), after=end))  # the next sync's start acknowledges `end`
    after = retained(settings)
    print(f"bench.cdc: {events['l']:,} change events (50% update, 25% insert, 25% delete), median of {args.rounds}")
    print(f"(p) server decoding alone       {rate['p']:>10,.0f} events/s")
    print(f"(l) library read_changes        {rate['l']:>10,.0f} events/s  {rate['l'] / rate['p']:.0%} of (p)  "
          f"peak RSS {rss['l']:,.0f} MB")
    print(f"(s) SDK catch-up, counting sink {rate['s']:>10,.0f} events/s  {rate['s'] / rate['p']:.0%} of (p)  "
          f"peak RSS {rss['s']:,.0f} MB")
    print(f"(g) Partner SDK server catch-up {rate['g']:>10,.0f} events/s  {rate['g'] / rate['p']:.0%} of (p)  "
          f"server's peak RSS {rss['g']:,.0f} MB")
    print(f"retained WAL: {before / 2**20:,.1f} MB before the sync, {after / 2**20:,.1f} MB after the next start "
          "acknowledged it")


if __name__ == "__main__":
    main()
