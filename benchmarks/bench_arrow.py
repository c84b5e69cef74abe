"""Issue 5's targets, one run, same table (1M-row bench.wide), equal partition counts:

  (a1) connector_accel.read_arrow, 1 partition   -> pyarrow.Table     rows/s
  (a2) connector_accel.read_arrow, 2 partitions  -> pyarrow.Table     rows/s
  (x1) connectorx.read_sql(..., return_type="arrow"), 1 partition    rows/s
  (x2) connectorx, partition_on="id", partition_num=2                rows/s
  (c)  psql: COPY bench.wide TO STDOUT (FORMAT binary) > /dev/null   rows/s (one stream, the wire's ceiling)

Targets: (a1)/(x1) and (a2)/(x2) >= 1.2x; (a1)/(c) >= 0.9x.
Run: python benchmarks/bench_arrow.py [--rounds 5]   (after one untimed warm-up round of every path)
(needs `pip install connectorx pyarrow`)
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_read as b  # noqa: E402


def ours(settings, partitions):
    import connector_accel as ca
    import pyarrow as pa

    config = b.connection_config(settings, resource_monitoring="false")
    return pa.table(ca.read_arrow(config, "bench.wide", partitions=partitions)).num_rows


def connectorx(settings, partitions):
    import connectorx as cx

    url = (f"postgresql://{settings['user']}:{settings['password']}@{settings['host']}:{settings['port']}/"
           f"{settings['database']}")
    extra = {"partition_on": "id", "partition_num": partitions} if partitions > 1 else {}
    return cx.read_sql(url, "SELECT * FROM bench.wide", return_type="arrow", **extra).num_rows


def copy_binary(settings, rows):
    from testkit import embedded_pg

    env = dict(os.environ, PGPASSWORD=settings["password"])
    with open(os.devnull, "wb") as sink:
        subprocess.run([embedded_pg._bin("psql"), "-X", "-q", "-h", settings["host"], "-p", settings["port"],
                        "-U", settings["user"], "-d", settings["database"],
                        "-c", "COPY bench.wide TO STDOUT (FORMAT binary)"], env=env, stdout=sink, check=True)
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args, settings = b.server_for(parser)
    runs = {"a1": lambda: ours(settings, 1), "a2": lambda: ours(settings, 2), "x1": lambda: connectorx(settings, 1),
            "x2": lambda: connectorx(settings, 2), "c": lambda: copy_binary(settings, args.rows)}
    rates = {k: [] for k in runs}
    for fn in runs.values():  # one untimed round: libraries loaded, runtime started, table in the page cache
        fn()
    for _ in range(args.rounds):
        for key, fn in runs.items():
            started = time.perf_counter()
            rows = fn()
            rates[key].append(rows / (time.perf_counter() - started))
            assert rows == args.rows, (key, rows)
    med = {k: statistics.median(v) for k, v in rates.items()}
    names = {"a1": "read_arrow, 1 partition", "a2": "read_arrow, 2 partitions", "x1": "connectorx, 1 partition",
             "x2": "connectorx, 2 partitions", "c": "COPY binary via psql > /dev/null"}
    print(f"bench.wide: {args.rows:,} rows, 10 columns; 2 cores; median of {args.rounds} rounds")
    for k, name in names.items():
        print(f"({k}) {name:<36} {med[k]:>12,.0f} rows/s   {[round(r) for r in rates[k]]}")
    print(f"(a1)/(x1) = {med['a1'] / med['x1']:.2f}x  (a2)/(x2) = {med['a2'] / med['x2']:.2f}x  (target >= 1.2x)")
    print(f"(a1)/(c)  = {med['a1'] / med['c']:.2f}x  (target >= 0.9x)")


if __name__ == "__main__":
    main()
