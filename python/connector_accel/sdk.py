"""`schema()` and `update()` for the Fivetran Connector SDK, on top of the Rust core.

Rust discovers, reads, converts and flattens; this module only declares the tables and hands each ready row to
`op.upsert`, checkpointing the last primary key so that a rerun continues where it stopped.

State (one JSON object): ``{"tables": {"schema.table": {"after": [key text...]} | {"done": true}},
"last_completed_at": ISO time}``. ``tables`` tracks the sync pass in progress; when every table is done it is
emptied, so the next sync reads every table again.
"""
import time
from datetime import datetime, timezone

from fivetran_connector_sdk import Logging as log
from fivetran_connector_sdk import Operations as op

from connector_accel._core import PostgresSource

# One source per configuration per process: schema() and update() run in the same process, and update() must see
# the very tables and flattened columns that schema() declared.
_SOURCES: dict = {}


def source_for(configuration: dict) -> PostgresSource:
    key = tuple(sorted((str(k), str(v)) for k, v in (configuration or {}).items()))
    if key not in _SOURCES:
        _SOURCES[key] = PostgresSource(configuration or {})
    return _SOURCES[key]


def declaration(table: dict) -> dict:
    """A table as `schema()` declares it."""
    entry = {"table": table["table"], "schema": table["schema"], "columns": table["columns"]}
    if table["primary_key"]:
        entry["primary_key"] = table["primary_key"]
    return entry


def schema(configuration: dict) -> list:
    tables, _ = source_for(configuration).discover()
    return [declaration(t) for t in tables]


def update(configuration: dict, state: dict):
    source = source_for(configuration)
    for warning in source.warnings:
        log.warning(warning)
    tables, warnings = source.discover()
    for warning in warnings:
        log.warning(warning)
    state = dict(state or {})
    progress = dict(state.get("tables") or {})
    state["tables"] = progress
    log.info("plan: " + ", ".join(f"{t['schema']}.{t['table']} (~{t['row_estimate'] or 0} rows)" for t in tables))
    for table in tables:
        name = f"{table['schema']}.{table['table']}"
        if progress.get(name, {}).get("done"):
            log.info(f"{name}: already synced in this pass, skipped")
            continue
        sync_table(source, table, progress, state)
    state["tables"] = {}
    state["last_completed_at"] = datetime.now(timezone.utc).isoformat()
    op.checkpoint(state)


def sync_table(source: PostgresSource, table: dict, progress: dict, state: dict) -> None:
    """Upserts every row of one table, checkpointing every `checkpoint_rows` rows and at the end."""
    schema_name, table_name = table["schema"], table["table"]
    name = f"{schema_name}.{table_name}"
    after = (progress.get(name) or {}).get("after")
    log.info(f"{name}: {'resuming after key ' + str(after) if after else 'reading from the start'}")
    upsert, every, since, started = op.upsert, source.checkpoint_rows, 0, time.monotonic()
    with source.read(schema_name, table_name, after=after) as reader:
        for batch in reader:
            for row in batch:
                upsert(table_name, row, schema=schema_name)
            since += len(batch)
            for warning in reader.take_warnings():
                log.warning(warning)
            if since >= every and reader.last_key is not None:
                progress[name] = {"after": reader.last_key}
                op.checkpoint(state)
                since = 0
        rows = reader.rows_read
    progress[name] = {"done": True}
    op.checkpoint(state)
    elapsed = max(time.monotonic() - started, 1e-9)
    log.info(f"{name}: {rows} rows in {elapsed:.1f}s ({rows / elapsed:,.0f} rows/s)")
