"""The Partner SDK server's Update stream written into a real DuckDB warehouse by the Connector SDK's own runner:
a relay connector whose schema() is the server's Schema and whose update() replays each response through the
SDK's public operations (a record's type as op.upsert / op.update / op.delete / op.truncate, a checkpoint as
op.checkpoint). Fivetran's destination cannot run here; the SDK runner applies the same four record types with the
same meaning (a truncate marks the rows synced before it deleted, an update touches the row it finds), and commits
at each checkpoint, so a test sees what a destination would hold, in the same warehouse the SDK connector writes
(which is what a user switching between the two doors keeps)."""
import json
from datetime import datetime, timezone
from pathlib import Path

# DataType -> the SDK's column type names (DECIMAL carries its precision and scale).
SDK_TYPES = {1: "BOOLEAN", 2: "SHORT", 3: "INT", 4: "LONG", 6: "FLOAT", 7: "DOUBLE", 8: "NAIVE_DATE",
             9: "NAIVE_DATETIME", 10: "UTC_DATETIME", 11: "BINARY", 12: "XML", 13: "STRING", 14: "JSON"}


def python_value(v):
    """A ValueType as the Python value the SDK's operations take."""
    kind = v.WhichOneof("inner")
    if kind in (None, "null"):
        return None
    if kind in ("naive_datetime", "utc_datetime", "naive_date"):
        t = getattr(v, kind)
        at = datetime.fromtimestamp(t.seconds, tz=timezone.utc).replace(microsecond=t.nanos // 1000)
        if kind == "naive_date":
            return at.date().isoformat()
        return at.isoformat() if kind == "utc_datetime" else at.replace(tzinfo=None).isoformat()
    if kind == "json":
        return json.loads(v.json)
    return getattr(v, kind)


def declarations(schema_response) -> list:
    tables = []
    for schema in schema_response.with_schema.schemas:
        for table in schema.tables:
            columns = {}
            for c in table.columns:
                if c.type == 5:
                    columns[c.name] = {"type": "DECIMAL", "precision": c.params.decimal.precision,
                                       "scale": c.params.decimal.scale}
                elif c.type in SDK_TYPES:
                    columns[c.name] = SDK_TYPES[c.type]
            entry = {"table": table.name, "schema": schema.name, "columns": columns}
            keys = [c.name for c in table.columns if c.primary_key]
            if keys:
                entry["primary_key"] = keys
            tables.append(entry)
    return tables


def replay(response) -> None:
    """One UpdateResponse through the SDK's operations."""
    from fivetran_connector_sdk import Logging as log
    from fivetran_connector_sdk import Operations as op

    kind = response.WhichOneof("operation")
    records = {"records": lambda: list(response.records.records), "record": lambda: [response.record]}
    if kind in records:
        for r in records[kind]():
            data = {k: python_value(v) for k, v in r.data.items()}
            schema = r.schema_name if r.HasField("schema_name") else None
            if r.type == 3:
                op.truncate(r.table_name, schema=schema)
            elif r.type == 2:
                op.delete(r.table_name, data, schema=schema)
            else:
                (op.update if r.type == 1 else op.upsert)(r.table_name, data, schema=schema)
    elif kind == "checkpoint":
        op.checkpoint(json.loads(response.checkpoint.state_json))
    elif kind == "warning":
        log.warning(response.warning.message)
    elif kind == "task":
        raise RuntimeError(f"the server sent a task: {response.task.message}")


def run_relayed(project: Path, server, configuration: dict, state: dict | None = None, on_response=None,
                selection=None) -> dict:
    """One sync of `server` (testkit.grpc_server.Server) through the SDK's runner into project/files/warehouse.db,
    as run_sync runs the SDK connector; `on_response(response)` sees each response first; `selection` is
    Fivetran's (a `Selection` message). Returns the final state."""
    from fivetran_connector_sdk import Connector

    from testkit.sync import run_sync_of

    sdk, served = server.stubs.connector_sdk, configuration

    def schema(configuration=None):  # the SDK passes its own (empty) configuration: the server gets the test's
        return declarations(server.client.Schema(sdk.SchemaRequest(configuration=served)))

    def update(configuration=None, state=None):
        request = sdk.UpdateRequest(configuration=served)
        if state:
            request.state_json = json.dumps(state)
        if selection is not None:
            request.selection.CopyFrom(selection)
        for response in server.client.Update(request, timeout=300):
            if on_response is not None:
                on_response(response)
            replay(response)

    return run_sync_of(Connector(update=update, schema=schema), project, state)
