"""Issue 22's targets, one run, same table (1M-row bench.wide), one draining client for every server:

  (1) the seed's architecture: a Python grpcio server (benchmarks/grpc_servers.py seed), psycopg server-side
      cursor + fetchmany, one ValueType per cell, batches as the Partner SDK's Python example builds them
      (<= 100 records, ByteSize() of the candidate batch <= 100 KiB)                               rows/s
  (1r) the same server with a running sum of record sizes instead of re-measuring the batch         rows/s
  (2) with --sdk213 PYTHON: our connector.py served by fivetran-connector-sdk 2.13.1's own gRPC runtime, in
      that SDK's venv (python -m venv /work/venv-sdk213 && /work/venv-sdk213/bin/pip install
      fivetran-connector-sdk==2.13.1), our package from this tree on PYTHONPATH                    rows/s
  (3) our Rust server: `python -m connector_accel serve`, our connector's configuration keys,
      one table (tables=bench.wide)                                                                  rows/s
  (a) connector_accel.read_arrow of the same table, 1 partition -> pyarrow.Table (no gRPC)           rows/s
  (c) the client's ceiling: (3)'s UpdateResponse messages captured once as bytes, replayed by a Python grpcio
      server that only yields them (benchmarks/grpc_servers.py replay)                               rows/s

The draining client is grpcio over stubs generated from our .proto files (testkit.grpc_stubs): it reads the
Update stream, counts records (Records batches and lone records) and discards them; `--client skim` (default)
counts them from the wire format without decoding the records (protobuf's C parser over a message that keeps
them as bytes), `--client decode` parses every message. Every server runs in its own
process; its peak RSS (VmHWM) is read from /proc when the rounds are done.
Targets: (3)/(1) >= 10x; (3)/(a) >= 0.7x.
(3) is a table's first load (no state): its truncate comes first and no key pass follows, so it sends rows + 1
records; `--key-pass` hands (3) a state that says the destination holds the table (`{"reload": true}`), so it runs
the key pass after the read as every later full read of a table without a cursor does (2 x rows + 1 records).
Run: python benchmarks/bench_grpc.py [--rows 1000000] [--rounds 3] [--client skim|decode] [--sdk213 PYTHON] [--key-pass]
     (after one untimed round of (3), (a) and (c); (1) and (1r) are too slow for a warm-up to matter). The paths'
     rounds are interleaved: round r runs every path once, the order turned by one each round.
"""
import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_arrow  # noqa: E402
import bench_read as b  # noqa: E402
import connector_accel as ca  # noqa: E402
from grpc_servers import grpc_options  # noqa: E402

from testkit import grpc_stubs  # noqa: E402
from testkit.grpc_server import as_configuration  # noqa: E402
from testkit.sync import free_port  # noqa: E402

UPDATE = "/fivetran_sdk.v2.SourceConnector/Update"


class Served:
    """A server process on a free loopback port and the draining client's channel to it."""

    def __init__(self, *args, python=sys.executable, env=None, state_json=None):
        self.port, self.state_json = free_port(), state_json
        self.process = subprocess.Popen([python, *args, "--port", str(self.port)], cwd=b.ROOT, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}", options=grpc_options())
        ready = grpc.channel_ready_future(self.channel)
        deadline = time.monotonic() + 120
        while not ready.done():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError(f"{args} did not start: {self.process.communicate()[1].decode()}")
            time.sleep(0.1)
        self.stubs = grpc_stubs.load()
        self.client = self.stubs.connector_sdk_grpc.SourceConnectorStub(self.channel)

    def drain(self, configuration, client="skim"):
        """The draining client: records counted, everything else discarded. `skim` counts them from the wire
        format without decoding (the cheapest a client can be); `decode` parses every message with the stubs."""
        request = self.stubs.connector_sdk.UpdateRequest(configuration=configuration)
        if self.state_json is not None:
            request.state_json = self.state_json
        records = 0
        if client == "skim":
            update = self.channel.unary_stream(UPDATE, request_serializer=type(request).SerializeToString,
                                               response_deserializer=None)
            for message in update(request, timeout=3600):
                records += count_records(message)
            return records
        for response in self.client.Update(request, timeout=3600):
            kind = response.WhichOneof("operation")
            if kind == "records":
                records += len(response.records.records)
            elif kind == "record":
                records += 1
        return records

    def capture(self, configuration, path):
        """Update's responses as the server serialized them, each as a 4-byte length and its bytes."""
        request = self.stubs.connector_sdk.UpdateRequest(configuration=configuration)
        update = self.channel.unary_stream(UPDATE, request_serializer=type(request).SerializeToString,
                                           response_deserializer=None)
        with open(path, "wb") as out:
            for message in update(request, timeout=3600):
                out.write(struct.pack("<I", len(message)))
                out.write(message)

    def peak_rss_mb(self):
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        self.channel.close()
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _skim_message():
    """A message class that reads an UpdateResponse's bytes as only what counting needs: field 1 (`record`) and
    field 6 (`records`, a Records whose field 1 repeats) kept as undecoded bytes. Parsed by protobuf's C runtime
    (upb), so the client spends no Python per record; built from a descriptor here, no generated file."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FileDescriptorProto(name="bench_skim.proto", package="bench_skim", syntax="proto3")
    batch = f.message_type.add(name="Batch")
    batch.field.add(name="records", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
                    label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED)
    response = f.message_type.add(name="Response")
    response.field.add(name="record", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
                       label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL, proto3_optional=True,
                       oneof_index=0)
    response.oneof_decl.add(name="_record")
    response.field.add(name="records", number=6, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                       label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL, type_name=".bench_skim.Batch")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("bench_skim.Response"))


SKIM = _skim_message()


def count_records(message):
    """Records in one serialized UpdateResponse: 1 for `record` (field 1), the number of field-1 entries inside
    `records` (field 6, a Records message), 0 for anything else (checkpoint, warning, task, schema_change)."""
    skim = SKIM.FromString(message)
    return len(skim.records.records) + skim.HasField("record")


def configuration(settings):
    """Our connector's keys (testkit's connection_config), every value a string; the seed reads the same ones."""
    return as_configuration(b.config_for(settings))


def cpu_seconds(pid=None):
    """utime + stime of process `pid` (None: this one, every thread), in seconds."""
    if pid is None:
        return sum(os.times()[:2])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_rounds(runs, rounds, rows, cpu):
    """Table rows per second of every path in `runs`, their rounds interleaved (round r runs each path once, the
    order turned by one each round), so that a machine that slows down or speeds up during the run weighs on every
    path alike; `sent[key]`, the records each stream carried (more than the rows for (2) and (3), whose connectors
    also send a truncate, and so for (3)'s replay (c)). `cpu`: {key: (list, pid)} to append the CPU seconds that
    pid (None: this process) spent on each round of that path."""
    rates, sent, keys = {key: [] for key in runs}, {}, list(runs)
    for r in range(rounds):
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            watched = cpu.get(key)
            started, cpu_before = time.perf_counter(), watched and cpu_seconds(watched[1])
            n = runs[key]()
            rates[key].append(rows / (time.perf_counter() - started))
            if watched:
                watched[0].append(cpu_seconds(watched[1]) - cpu_before)
            sent[key] = n
            assert n == rows or (key in ("2", "3", "c") and n > rows), (key, n, rows)
    return rates, sent


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--client", choices=["skim", "decode"], default="skim",
                        help="how the draining client counts records: from the wire format, or decoding each message")
    parser.add_argument("--sdk213", metavar="PYTHON", help="also (2): our connector.py under fivetran-connector-sdk "
                        "2.13.1's gRPC runtime, run by PYTHON (its venv's interpreter, e.g. /work/venv-sdk213/bin/python)")
    parser.add_argument("--key-pass", action="store_true", help="(3) reloads a table the destination holds: "
                        "the read, then the truncate and the key pass (a first load sends the truncate first instead)")
    parser.add_argument("--no-running", action="store_true", help="skip (1r), the seed with running sizes")
    parser.add_argument("--no-seed", action="store_true", help="skip (1) and (1r), the seed's servers (slow; for "
                        "iterating on (3) against (a) and (c))")
    args, settings = b.server_for(parser)
    config, servers = configuration(settings), {}
    try:  # a server that fails to start, or a failed round, leaves no process behind
        rates, rss, captured_mb, sent = measure(args, settings, config, servers)
    finally:
        for s in servers.values():
            s.stop()
    report(args, rates, rss, captured_mb, sent)


def measure(args, settings, config, servers):
    """Every path's rates, each server's peak RSS, the capture's size and the records each stream sent."""
    held = json.dumps({"version": 2, "tables": {"bench.wide": {"reload": True}}}) if args.key_pass else None
    servers["3"] = Served("-m", "connector_accel", "serve", state_json=held)
    if not args.no_seed:
        servers["1"] = Served(str(HERE / "grpc_servers.py"), "seed")
    if not (args.no_running or args.no_seed):
        servers["1r"] = Served(str(HERE / "grpc_servers.py"), "seed", "--sizing", "running")
    if args.sdk213:  # its Update parses state_json unconditionally, so it gets "{}" (the others: none)
        env = dict(os.environ, PYTHONPATH=str(Path(ca.__file__).parent.parent))
        servers["2"] = Served(str(HERE / "grpc_servers.py"), "sdk213", python=args.sdk213, env=env, state_json="{}")
    with tempfile.TemporaryDirectory() as scratch:
        capture = Path(scratch) / "update.bin"
        servers["3"].capture(config, capture)  # also (3)'s untimed round
        servers["c"] = Served(str(HERE / "grpc_servers.py"), "replay", "--capture", str(capture))
        captured_mb = capture.stat().st_size / 1e6
        runs = {"3": lambda: servers["3"].drain(config, args.client),
                "a": lambda: bench_arrow.ours(settings, 1), "c": lambda: servers["c"].drain(config, args.client)}
        for key in ("1", "1r", "2"):
            if key in servers:
                runs[key] = lambda key=key: servers[key].drain(config, args.client)
        for key in ("a", "c"):
            runs[key]()
        cpu = {"3": [], "a": []}
        # (a) reads in this process; (3)'s client is here too
        watched = {"3": (cpu["3"], servers["3"].process.pid), "a": (cpu["a"], None)}
        rates, sent = timed_rounds(runs, args.rounds, args.rows, watched)
        print(f"CPU seconds per round: (3)'s server process {[round(c, 2) for c in cpu['3']]}, "
              f"(a) the read_arrow process {[round(c, 2) for c in cpu['a']]} (PostgreSQL's not counted)")
        rss = {key: s.peak_rss_mb() for key, s in servers.items()}
    return rates, rss, captured_mb, sent


def report(args, rates, rss, captured_mb, sent):
    med = {k: statistics.median(v) for k, v in rates.items()}
    names = {"1": "seed: Python grpcio + psycopg (example's batching)",
             "1r": "seed with running batch sizes",
             "2": "connector.py under fivetran-connector-sdk 2.13.1",
             "3": "ours: python -m connector_accel serve (Rust)",
             "a": "read_arrow, 1 partition (no gRPC)",
             "c": "client ceiling: replayed captured responses"}
    print(f"bench.wide: {args.rows:,} rows, 10 columns; 2 cores; median of {args.rounds} rounds; "
          f"captured Update stream {captured_mb:,.0f} MB; client: {args.client}")
    for k, name in names.items():
        if k in med:
            peak = f"server peak RSS {rss[k]:6.0f} MB" if k in rss else " " * 26
            print(f"({k:>2}) {name:<52} {med[k]:>10,.0f} rows/s  {peak}  {[round(r) for r in rates[k]]}")
    if "1" in med:
        print(f"(3)/(1)  = {med['3'] / med['1']:.2f}x  (target >= 10x)")
    if "1r" in med:
        print(f"(3)/(1r) = {med['3'] / med['1r']:.2f}x  (against the seed without its per-record re-measuring)")
    print(f"(3) sent {sent['3']:,} records for {args.rows:,} rows (its rate counts table rows)")
    if "2" in med:
        print(f"(2) sent {sent['2']:,} records for {args.rows:,} rows (its rate counts table rows)")
        print(f"(3)/(2)  = {med['3'] / med['2']:.2f}x  (against our connector.py through the SDK's runtime)")
    print(f"(3)/(a)  = {med['3'] / med['a']:.2f}x  (target >= 0.7x)")
    print(f"(3)/(c)  = {med['3'] / med['c']:.2f}x  (how close ours runs to what the client can take)")
    print(json.dumps({"median_rows_per_s": {k: round(v) for k, v in med.items()},
                      "peak_rss_mb": {k: round(v) for k, v in rss.items()}, "records_sent": sent}))


if __name__ == "__main__":
    main()
