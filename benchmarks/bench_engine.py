"""Issue 3's targets, measured in one run on the same server and tables:

  (p1) our reader, one stream              rows/s
  (p2) our reader, 2 partitions, 1 snapshot rows/s   target (p2)/(p1) >= 1.5x
  peak RSS of a whole sync (our connector -> SDK counting sink) at 1M and at 5M rows: target within 20%

Run: python benchmarks/bench_engine.py [--rows 1000000] [--big-rows 5000000] [--rounds 3]
Each figure is the median of the rounds; single and partitioned reads alternate, so drift hits both alike.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_read as b  # noqa: E402


def read_all(settings, partitions):
    from connector_accel import Source

    source = Source(b.connection_config(settings, tables="bench.wide", partitions=str(partitions),
                                                small_table_rows="1000"))
    source.discover()
    plan = source.plan("bench", "wide")
    started = time.perf_counter()
    rows = 0
    with source.read("bench", "wide", partitions=plan["partitions"], workers=partitions) as reader:
        for batch in reader:
            rows += len(batch)
    return rows, time.perf_counter() - started, len(plan["partitions"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--big-rows", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args, settings = b.server_for(parser)
    from testkit import embedded_pg

    if not b.table_ready(settings, "wide_big", args.big_rows):
        embedded_pg.psql(settings, f"""DROP TABLE IF EXISTS bench.wide_big; CREATE TABLE bench.wide_big {b.WIDE_COLUMNS};
            {b.wide_rows_sql("bench.wide_big", args.big_rows)} VACUUM ANALYZE bench.wide_big;""")
    rates = {1: [], 2: []}
    for _ in range(args.rounds):
        for partitions in (1, 2):
            rows, seconds, planned = read_all(settings, partitions)
            assert rows == args.rows and planned == partitions, (rows, planned)
            rates[partitions].append(rows / seconds)
    p1, p2 = statistics.median(rates[1]), statistics.median(rates[2])
    print(f"bench.wide: {args.rows:,} rows, 10 columns; 2 cores; median of {args.rounds} rounds")
    print(f"(p1) our reader, one stream                 {p1:>12,.0f} rows/s   {[round(r) for r in rates[1]]}")
    print(f"(p2) our reader, 2 partitions on 1 snapshot {p2:>12,.0f} rows/s   {[round(r) for r in rates[2]]}")
    print(f"ratio (p2)/(p1) = {p2 / p1:.2f}x   (target >= 1.5x)")
    small_rows, small_rss = b.child_rss(settings, "bench.wide")
    big_rows, big_rss = b.child_rss(settings, "bench.wide_big")
    print(f"peak RSS of a whole sync: {small_rss:.0f} MB at {small_rows:,} rows, {big_rss:.0f} MB at {big_rows:,} rows; "
          f"ratio {big_rss / small_rss:.2f} (target within 20%)")


if __name__ == "__main__":
    main()
