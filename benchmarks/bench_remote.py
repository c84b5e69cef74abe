"""Issue 15: reading from a database one network hop away. The embedded PostgreSQL runs in a network namespace
behind a delay line (delayline.py: TUN devices and a user-space delay, as the kernel here has no netem), and
connector_accel.read_arrow and ConnectorX read the same 1M-row table (bench.wide) through it, in the same run:

    rows/s at round trips of 0, 5 and 20 ms  x  1, 2, 4 and 8 partitions (workers = partitions)

plus, per tool, the time from its first packet to the first bulk data and the number of requests that waited on
an answer before it (see delayline.py), at each round trip. The resource monitor stays on (the default), and any
"other processes' CPU" adjustment our read logs is reported.

Target: read_arrow >= 1.3x ConnectorX at every partition count at 20 ms.
Run (root): python benchmarks/bench_remote.py [--rounds 3] [--rtts 0,5,20] [--partitions 1,2,4,8] [--wmem-max BYTES]
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
import delayline  # noqa: E402

PORT = "54330"


def start_in_namespace(datadir: Path):
    """Restarts the benchmark server inside the namespace, listening only on its address there."""
    from testkit import embedded_pg

    embedded_pg.stop(datadir)
    hba = datadir / "pg_hba.conf"
    line = "host all all 10.213.0.0/24 scram-sha-256\n"
    if line not in hba.read_text():
        with open(hba, "a") as f:
            f.write(line)
    subprocess.run(["ip", "netns", "exec", delayline.NAMESPACE, "runuser", "-u", embedded_pg.SERVICE_USER, "--",
                    embedded_pg._bin("pg_ctl"), "-D", str(datadir), "-w", "-t", "60", "-l", str(datadir / "server.log"),
                    "-o", f"-h {delayline.NS_IP} -p {PORT} -k {datadir}", "start"], check=True, capture_output=True)


def stop_in_namespace(datadir: Path):
    from testkit import embedded_pg

    subprocess.run(["ip", "netns", "exec", delayline.NAMESPACE, "runuser", "-u", embedded_pg.SERVICE_USER, "--",
                    embedded_pg._bin("pg_ctl"), "-D", str(datadir), "-m", "fast", "-w", "stop"], capture_output=True)


def ours(settings, partitions, log):
    import connector_accel as ca
    import pyarrow as pa

    config = b.connection_config(settings, workers=partitions)
    reader = ca.read_arrow(config, "bench.wide", partitions=partitions)
    rows = pa.table(reader).num_rows
    log.extend(text for _, text in reader.take_log())
    return rows


def connectorx(settings, partitions, log):
    import connectorx as cx

    url = (f"postgresql://{settings['user']}:{settings['password']}@{settings['host']}:{settings['port']}/"
           f"{settings['database']}")
    extra = {"partition_on": "id", "partition_num": partitions} if partitions > 1 else {}
    return cx.read_sql(url, "SELECT * FROM bench.wide", return_type="arrow", **extra).num_rows


def drops(line):
    """Packets lost on the delay line: its own failed writes and both devices' queue overflows."""
    def tx_dropped(dev, ns):
        prefix = ["ip", "netns", "exec", delayline.NAMESPACE] if ns else []
        return int(subprocess.run(prefix + ["cat", f"/sys/class/net/{dev}/statistics/tx_dropped"],
                                  capture_output=True, text=True).stdout or 0)
    return line.report()["dropped"] + tx_dropped(delayline.HOST_IF, False) + tx_dropped(delayline.NS_IF, True)


def measure(line, fn, rounds):
    """Median rows/s over `rounds` runs, and the first run's packet report."""
    rates, first = [], None
    for _ in range(rounds):
        line.mark()
        started = time.perf_counter()
        rows = fn()
        rates.append(rows / (time.perf_counter() - started))
        first = first or line.report()
    return statistics.median(rates), first


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rtts", default="0,5,20")
    parser.add_argument("--partitions", default="1,2,4,8")
    parser.add_argument("--wmem-max", type=int, default=None,
                        help="the server's net.ipv4.tcp_wmem maximum in bytes (default: the namespace's, 4 MB)")
    if os.geteuid() != 0:
        sys.exit("bench_remote needs root (network namespace and TUN devices)")
    args, settings = b.server_for(parser)
    datadir = Path(args.datadir).resolve()
    line = delayline.DelayLine()
    try:
        if args.wmem_max:
            subprocess.run(["ip", "netns", "exec", delayline.NAMESPACE, "sysctl", "-qw",
                            f"net.ipv4.tcp_wmem=4096 16384 {args.wmem_max}"], check=True)
        start_in_namespace(datadir)
        remote = dict(settings, host=delayline.NS_IP, port=PORT)
        run(line, remote, args)
    finally:
        stop_in_namespace(datadir)
        line.close()


def run(line, settings, args):
    log: list[str] = []
    tools = {"read_arrow": ours, "connectorx": connectorx}
    for rtt in [float(x) for x in args.rtts.split(",")]:
        line.set_rtt(rtt)
        for n in [int(x) for x in args.partitions.split(",")]:
            for tool in tools.values():  # one untimed warm-up of each
                tool(settings, n, [])
            figures = {name: measure(line, lambda t=tool, n=n: t(settings, n, log), args.rounds)
                       for name, tool in tools.items()}
            (ours_rate, ours_first), (cx_rate, cx_first) = figures["read_arrow"], figures["connectorx"]

            def first(r):
                s = r["first_bulk_s"]
                return f"{s * 1000:6.0f} ms / {r['flights']:2d} requests" if s is not None else "   n/a"

            print(f"rtt {rtt:4.0f} ms  partitions {n}: read_arrow {ours_rate:>10,.0f} rows/s  connectorx "
                  f"{cx_rate:>10,.0f} rows/s  ratio {ours_rate / cx_rate:4.2f}x   first bulk data: ours "
                  f"{first(ours_first)}, connectorx {first(cx_first)}", flush=True)
    print(f"packets dropped: {drops(line)} (a lossy delay line would be measuring TCP's loss recovery)")
    throttled = [m for m in log if "other processes" in m]
    print(f"resource monitor adjustments for other processes' CPU during our reads: {len(throttled)}")
    for m in throttled[:5]:
        print("  " + m)


if __name__ == "__main__":
    main()
