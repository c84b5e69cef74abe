"""The two Python gRPC servers bench_grpc.py measures against ours, each run in its own process:

    python benchmarks/grpc_servers.py seed --port N [--sizing exact|running]
    python benchmarks/grpc_servers.py replay --port N --capture FILE
    /work/venv-sdk213/bin/python benchmarks/grpc_servers.py sdk213 --port N   (PYTHONPATH: our package)

`seed`: the seed's architecture, a grpcio server implementing fivetran_sdk.v2 SourceConnector.Update over our
generated stubs. It reads the configured tables with psycopg (server-side cursor, fetchmany), builds one ValueType
per cell and one Record per row, and batches as the Partner SDK's Python example does: a Records message of at most
100 records whose ByteSize() (of the batch with the candidate appended) stays within 100 KiB, a record too big for
that alone as `record`, a checkpoint every 100,000 rows and at the end. `--sizing running` keeps a running sum of
record sizes instead of re-measuring the whole batch per row: the example's batching made cheaper, to show how
much of the seed's cost is that check.

`replay`: the draining client's ceiling. It yields the serialized UpdateResponse messages captured from our server
(FILE: each message as a 4-byte little-endian length and its bytes), with no serializer, so the server does
nothing per message but hand bytes to grpcio.

`sdk213`: our connector.py served by fivetran-connector-sdk 2.13.1's own gRPC runtime (`Connector.run`), the last
public release that served gRPC as production does; run with that SDK's venv and our package on PYTHONPATH.
"""
import argparse
import json
import struct
import sys
from concurrent import futures
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository root, for testkit and connector.py

MAX_BATCH_RECORDS = 100
MAX_BATCH_BYTES = 100 * 1024
CHECKPOINT_ROWS = 100_000
FETCH_ROWS = 5000  # the seeds' batch size for tables under 50M rows
MESSAGE_LIMIT = 128 * 1024 * 1024  # Fivetran's runtimes allow 128 MiB each way
SERVICE = "fivetran_sdk.v2.SourceConnector"


def grpc_options():
    return [("grpc.max_send_message_length", MESSAGE_LIMIT), ("grpc.max_receive_message_length", MESSAGE_LIMIT)]


def to_value(common, v):
    """One Python value from psycopg as the protocol's ValueType, the way a hand-written connector maps it."""
    out = common.ValueType()
    if v is None:
        out.null = True
    elif isinstance(v, bool):
        out.bool = v
    elif isinstance(v, int):
        out.long = v
    elif isinstance(v, float):
        out.double = v
    elif isinstance(v, Decimal):
        out.decimal = str(v)
    elif isinstance(v, datetime):
        (out.utc_datetime if v.tzinfo else out.naive_datetime).FromDatetime(v)
    elif isinstance(v, date):
        out.naive_date.FromDatetime(datetime(v.year, v.month, v.day))
    elif isinstance(v, (dict, list)):
        out.json = json.dumps(v)
    elif isinstance(v, (bytes, memoryview)):
        out.binary = bytes(v)
    else:
        out.string = str(v)
    return out


class Batcher:
    """The Partner SDK example's batching: records appended while the batch stays within both caps."""

    def __init__(self, sdk, sizing):
        self.sdk, self.running = sdk, sizing == "running"
        self.batch, self.size = [], 0

    def add(self, record):
        """Appends `record`, yielding first what must be sent for it to fit: the batch, or `record` alone."""
        # A repeated field's element costs its size plus a tag byte and its length varint.
        size = record.ByteSize() if self.running else 0
        size += 1 + _varint_len(size) if self.running else 0
        if self._fits(record, size):
            self.batch.append(record)
            self.size += size
            return
        yield from self.flush()
        if self.sdk.Records(records=[record]).ByteSize() > MAX_BATCH_BYTES:
            yield self.sdk.UpdateResponse(record=record)
        else:
            self.batch.append(record)
            self.size = size

    def _fits(self, record, size):
        if len(self.batch) + 1 > MAX_BATCH_RECORDS:
            return False
        if self.running:
            return self.size + size <= MAX_BATCH_BYTES
        # The example: the serialized size of the whole candidate batch, measured afresh for every record.
        return self.sdk.Records(records=self.batch + [record]).ByteSize() <= MAX_BATCH_BYTES

    def flush(self):
        if self.batch:
            yield self.sdk.UpdateResponse(records=self.sdk.Records(records=self.batch))
            self.batch, self.size = [], 0


def _varint_len(n):
    length = 1
    while n >= 0x80:
        n >>= 7
        length += 1
    return length


class SeedConnector:
    """Update only, what the benchmark drives (the generated servicer's base answers the rest UNIMPLEMENTED)."""

    def __init__(self, stubs, sizing):
        self.sdk, self.common, self.sizing = stubs.connector_sdk, stubs.common, sizing

    def Update(self, request, context):
        import psycopg

        config = request.configuration
        state = json.loads(request.state_json or "{}") if request.HasField("state_json") else {}
        with psycopg.connect(host=config["host"], port=config["port"], user=config["user"],
                             password=config["password"], dbname=config["database"]) as conn:
            for name in config["tables"].split(","):
                schema, table = name.strip().split(".")
                yield from self._table(conn, schema, table, state)
        yield self._checkpoint(state)

    def _table(self, conn, schema, table, state):
        batcher, rows = Batcher(self.sdk, self.sizing), 0
        with conn.cursor(name=f"seed_{table}") as cur:
            cur.execute(f'SELECT * FROM "{schema}"."{table}"')
            columns = [d.name for d in cur.description]
            while chunk := cur.fetchmany(FETCH_ROWS):
                for row in chunk:
                    record = self.sdk.Record(schema_name=schema, table_name=table, type=self.common.UPSERT)
                    for column, v in zip(columns, row, strict=True):
                        record.data[column].CopyFrom(to_value(self.common, v))
                    yield from batcher.add(record)
                    rows += 1
                    if rows % CHECKPOINT_ROWS == 0:
                        yield from batcher.flush()
                        state[f"{schema}.{table}"] = rows
                        yield self._checkpoint(state)
        yield from batcher.flush()
        state[f"{schema}.{table}"] = rows

    def _checkpoint(self, state):
        return self.sdk.UpdateResponse(checkpoint=self.sdk.Checkpoint(state_json=json.dumps(state)))


def read_capture(path):
    data, messages, at = Path(path).read_bytes(), [], 0
    while at < len(data):
        (n,) = struct.unpack_from("<I", data, at)
        messages.append(data[at + 4:at + 4 + n])
        at += 4 + n
    return messages


def replay_handler(messages):
    def update(request, context):
        yield from messages

    return grpc.method_handlers_generic_handler(SERVICE, {"Update": grpc.unary_stream_rpc_method_handler(
        update, request_deserializer=None, response_serializer=None)})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["seed", "replay", "sdk213"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sizing", choices=["exact", "running"], default="exact")
    parser.add_argument("--capture")
    args = parser.parse_args()
    if args.kind == "sdk213":
        from connector import connector  # its own server: 10 workers, 128 MiB limits, [::]:port

        connector.run(port=args.port)
        return
    from testkit import grpc_stubs

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), options=grpc_options())
    if args.kind == "seed":
        stubs = grpc_stubs.load()
        servicer = type("Seed", (SeedConnector, stubs.connector_sdk_grpc.SourceConnectorServicer), {})
        stubs.connector_sdk_grpc.add_SourceConnectorServicer_to_server(servicer(stubs, args.sizing), server)
    else:
        server.add_generic_rpc_handlers((replay_handler(read_capture(args.capture)),))
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    server.wait_for_termination()


if __name__ == "__main__":
    main()
