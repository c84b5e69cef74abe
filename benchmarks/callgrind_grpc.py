"""Instructions, not seconds, for the Partner SDK server's row path (this machine is noisy; callgrind's counts repeat):
the release binary (`cargo build --release -p fivetran_source`, LTO off) under `valgrind --tool=callgrind` serves
one Update of bench.wide, drained by a grpcio client; prints the process's instruction count, the records sent and
the sha256 of the sorted bytes of its UPSERT records (the rows themselves: equal before and after a change that
keeps the output).
Run: python benchmarks/callgrind_grpc.py --rows 200000 [--key-pass] [--binary PATH] [--port 54330]
`--key-pass` hands the server a state that says the destination holds the table, so the read is followed by the
truncate and the key pass (a first load sends its truncate first and no key pass)."""
import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_grpc  # noqa: E402
import bench_read as b  # noqa: E402
from grpc_servers import grpc_options  # noqa: E402

from testkit import grpc_stubs  # noqa: E402
from testkit.sync import free_port  # noqa: E402

UPSERT = 0


def main():
    parser = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", str(b.ROOT / "target"))
    parser.add_argument("--binary", default=str(Path(target) / "release" / "fivetran_source"))
    parser.add_argument("--key-pass", action="store_true")
    parser.add_argument("--keep", metavar="FILE", help="also copy callgrind's output there (for callgrind_annotate)")
    args, settings = b.server_for(parser)
    config = bench_grpc.configuration(settings)
    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        server = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", args.binary,
                                   "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            records, digest = drain(port, config, args.key_pass)
        finally:
            server.send_signal(signal.SIGINT)  # the server's Ctrl-C: it ends, and callgrind writes its counts
            stderr = server.communicate(timeout=300)[1].decode()
        if args.keep:
            Path(args.keep).write_bytes(out.read_bytes())
        totals = [line for line in out.read_text().splitlines() if line.startswith(("summary:", "totals:"))]
    instructions = int(totals[0].split()[1]) if totals else None
    print(json.dumps({"rows": args.rows, "key_pass": args.key_pass, "instructions": instructions,
                      "records": records, "upserts_sha256": digest}))
    if instructions is None:
        print(stderr[-2000:], file=sys.stderr)


def drain(port, config, key_pass):
    stubs = grpc_stubs.load()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=grpc_options())
    grpc.channel_ready_future(channel).result(timeout=300)
    client = stubs.connector_sdk_grpc.SourceConnectorStub(channel)
    request = stubs.connector_sdk.UpdateRequest(configuration=config)
    if key_pass:
        request.state_json = json.dumps({"version": 2, "tables": {"bench.wide": {"reload": True}}})
    records, upserts = 0, []
    started = time.monotonic()
    for response in client.Update(request, timeout=3600):
        kind = response.WhichOneof("operation")
        batch = list(response.records.records) if kind == "records" else [response.record] if kind == "record" else []
        records += len(batch)
        upserts.extend(r.SerializeToString(deterministic=True) for r in batch if r.type == UPSERT)
    print(f"drained in {time.monotonic() - started:.0f}s under callgrind", file=sys.stderr)
    channel.close()
    return records, hashlib.sha256(b"".join(sorted(upserts))).hexdigest()


if __name__ == "__main__":
    main()
