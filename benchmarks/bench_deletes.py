"""Delete reconciliation's key scan (issue 19), measured in one run on the same server and table:

  (f) a full read of bench.wide (10 columns), as every full load reads it    rows/s
  (k) the key-only scan delete reconciliation reads (Source.read(keys_only)) keys/s, and its time as a share of (f)
  (s) the key pass as a sync runs it: keys handed to the SDK as key-only op.update (fast path records), timed
      against a full load through the same counting sink                      keys/s, share

Run: python benchmarks/bench_deletes.py [--rows 1000000] [--rounds 3]
Each figure is the median of the rounds; the reads alternate, so drift hits both alike. The table is vacuumed, so
PostgreSQL answers the key scan with an index-only scan (the plan is printed).
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_read as b  # noqa: E402


def read(settings, keys_only: bool) -> tuple[int, float]:
    from connector_accel import Source

    source = Source(b.config_for(settings))
    source.discover()
    plan = source.plan("bench", "wide")
    started = time.perf_counter()
    rows = 0
    with source.read("bench", "wide", partitions=plan["partitions"], workers=plan["workers"],
                     keys_only=keys_only) as reader:
        for batch in reader:
            rows += len(batch)
    return rows, time.perf_counter() - started


def through_the_sdk(settings, keys_only: bool) -> tuple[int, float]:
    """Records for the SDK's sink (a counting sink: no warehouse), as TableSync hands them over."""
    from connector_accel import Source, emit, sdk

    config = b.config_for(settings)
    b.install_sink(sdk.schema(config))
    source = Source(config)
    tables, _ = source.discover()
    table = next(t for t in tables if t["table"] == "wide")
    policy = emit.Policy("auto")
    assert policy.on, policy.off_reason
    fast = emit.FastTable(policy, table, update=keys_only)
    plan = source.plan("bench", "wide")
    started = time.perf_counter()
    rows = 0
    with source.read("bench", "wide", partitions=plan["partitions"], workers=plan["workers"],
                     keys_only=keys_only) as reader:
        while (done := fast.next(reader)) is not None:
            rows += done[0]
    return rows, time.perf_counter() - started


def index_only(settings) -> str:
    import psycopg

    with psycopg.connect(**b.conninfo(settings)) as conn:
        plan = conn.execute("EXPLAIN SELECT src.id FROM bench.wide AS src ORDER BY src.id").fetchall()
    return plan[0][0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args, settings = b.server_for(parser)
    rates = {"f": [], "k": [], "sf": [], "sk": []}
    for _ in range(args.rounds):
        for name, fn, keys in (("f", read, False), ("k", read, True), ("sf", through_the_sdk, False),
                               ("sk", through_the_sdk, True)):
            rows, seconds = fn(settings, keys)
            assert rows == args.rows, (name, rows)
            rates[name].append(rows / seconds)
    m = {k: statistics.median(v) for k, v in rates.items()}
    print(f"bench.wide: {args.rows:,} rows, 10 columns; median of {args.rounds} rounds; key scan plan: "
          f"{index_only(settings)}")
    print(f"(f) full read, dicts               {m['f']:>12,.0f} rows/s  {[round(r) for r in rates['f']]}")
    print(f"(k) key-only scan, dicts           {m['k']:>12,.0f} keys/s  {[round(r) for r in rates['k']]}"
          f"  share of (f): {m['f'] / m['k']:.0%}")
    print(f"(sf) full load, SDK records        {m['sf']:>12,.0f} rows/s  {[round(r) for r in rates['sf']]}")
    print(f"(sk) key pass, SDK UPDATE records  {m['sk']:>12,.0f} keys/s  {[round(r) for r in rates['sk']]}"
          f"  share of (sf): {m['sf'] / m['sk']:.0%}")


if __name__ == "__main__":
    main()
