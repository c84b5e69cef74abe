"""The library API for pipelines outside Fivetran: dict batches and Arrow streams over a table, and picklable
partition plans that a Ray, Dask or Spark job can fan out across processes and machines."""
import dataclasses
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from connector_accel._core import ArrowReader, BatchReader, ConfigurationError, Source

if TYPE_CHECKING:
    from connector_accel._core import Partition

# The library's warnings (unknown configuration keys, placeholders, what discovery skipped) go to Python's logging,
# as a pipeline expects; the connector sends the same lines to the SDK's log instead.
log = logging.getLogger("connector_accel")


def _config(config_or_dsn) -> dict:
    return {"dsn": config_or_dsn} if isinstance(config_or_dsn, str) else dict(config_or_dsn)


def _check(partitions: int, batch_size: int) -> None:
    """The library's sizes: whole numbers of at least 1 (0 or less is a mistake, not "adaptive")."""
    for name, value in (("partitions", partitions), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: {value!r} is not a whole number of at least 1")


def _source(config_or_dsn, table: str, partitions: int = 1):
    if not isinstance(table, str) or not table.strip():
        raise ValueError("table: name a table as schema.table (a query goes in query=)")
    if _QUERY.match(table):
        raise ValueError(f"table: {table[:40]!r} looks like a query; pass it as query=... (table= names a table)")
    config = _config(config_or_dsn)
    config.update(flatten_json="false", partitions=str(partitions))
    config.setdefault("sync_validation", "false")
    config.setdefault("source_metadata", "false")
    config["tables"] = table  # a bare name matches any schema, as in the connector's `tables`
    source = _open(config)
    found = _discover(source, table)
    if len(found) > 1:
        where = ", ".join(f"{t['schema']}.{t['table']}" for t in found)
        raise _configuration_error("table", f"{table!r} matches {where}; name one of them as schema.table")
    config["tables"] = f"{found[0]['schema']}.{found[0]['table']}"  # what a plan's reader in another process finds
    return source, config, found[0]["schema"], found[0]["table"]


def _open(config: dict) -> Source:
    """The source a configuration names, its warnings (unknown keys, placeholders) logged."""
    source = Source(config)
    for warning in source.warnings:
        log.warning(warning)
    return source


def _discover(source, table: str) -> list:
    """The tables `table` names; a mismatch names the caller's argument `table`, not the `tables` key it went in."""
    try:
        found, warnings = source.discover()
    except ConfigurationError as e:
        if getattr(e, "key", None) != "tables":
            raise
        raise _configuration_error("table", str(e).removeprefix("configuration key 'tables': ")) from None
    for warning in warnings:
        log.warning(warning)
    return found


def _configuration_error(key: str, message: str) -> ConfigurationError:
    error = ConfigurationError(f"{key}: {message}")
    error.key = key
    return error


# A statement, not a name: names may hold spaces ("My Schema.Order Items"), so only a leading keyword tells.
_QUERY = re.compile(r"\s*(select|with|values|table)\s", re.IGNORECASE)


def _statement(query: str) -> str:
    """The query without trailing semicolons and blanks (one statement is read; a trailing `;` is harmless)."""
    text = query.strip().rstrip(";").rstrip()
    if not text:
        raise ValueError("query: is empty; pass one SELECT statement")
    return text


def read_arrow(config_or_dsn, table: str | None = None, partitions: int = 1, batch_size: int = 65536, *,
               query: str | None = None) -> ArrowReader:
    """An Arrow stream (`__arrow_c_stream__`) over a table (`schema.table`, or a bare name matching any schema), or over
    the rows of `query` (PostgreSQL or Snowflake; read as one stream, types from the server's description of it).

    `config_or_dsn` is a connection string or a configuration dict (the connector's keys). With `partitions` > 1
    the table is cut into key ranges from a sample of its keys and read concurrently on one snapshot. Memory stays
    bounded: batches are built as they arrive. Consume it with ``pyarrow.RecordBatchReader.from_stream(reader)``,
    ``polars.from_arrow``, duckdb, or ``pyarrow.table(reader)``. If the consumer raises mid-stream, the reader's
    ``error`` holds this package's exception with its ``sqlstate`` / ``number``.
    """
    _check(partitions, batch_size)
    if (table is None) == (query is None):
        raise ValueError("read_arrow: pass either a table (schema.table) or query=..., not both or neither")
    if query is not None:
        source = _open(_config(config_or_dsn))
        if source.kind not in ("postgres", "snowflake"):
            raise ValueError("query: queries are read from PostgreSQL and Snowflake only; name a SQL Server table")
        if partitions > 1:
            raise ValueError("partitions: a query is read as one stream; name a table to read it in partitions")
        return source.read_arrow_query(_statement(query), batch_size=batch_size)
    assert table is not None  # exactly one of table and query was given
    source, _, schema, name = _source(config_or_dsn, table, partitions)
    parts = source.plan(schema, name)["partitions"] if partitions > 1 else None
    return source.read_arrow(schema, name, partitions=parts, batch_size=batch_size)


def read_batches(config_or_dsn, table: str, partitions: int = 1, batch_size: int = 5000) -> BatchReader:
    """Lists of row dicts over `table`, the same path the connector's `update()` uses (JSON unflattened)."""
    _check(partitions, batch_size)
    source, _, schema, name = _source(config_or_dsn, table, partitions)
    parts = source.plan(schema, name)["partitions"] if partitions > 1 else None
    return source.read(schema, name, partitions=parts, batch_size=batch_size)


def read_changes(config_or_dsn, after: str | None = None, batch_size: int = 10000):
    """The change events of the configuration's tables from PostgreSQL's logical replication slot (created, with
    its publication, when missing), after the log position `after` up to the position current now: yields dicts
    `{"op": "upsert" | "update" | "delete" | "truncate", "schema", "table", "row", "lsn"}` in commit order (`row`
    holds only the columns the event carries: a delete its key, an update that left an unchanged TOASTed value out
    the others), then a last `{"op": "end", "lsn": position}`: pass that `lsn` as `after` next time, once what you
    did with the events is durable; the slot is advanced to `after` then, never before."""
    if batch_size < 1:
        raise ValueError("batch_size: must be at least 1")
    config = dict(_config(config_or_dsn), update_method="logical")
    source = _open(config)
    status = source.open_replication(after)
    if status["gap"] is not None:
        raise _configuration_error("replication_slot", f"{status['gap']}: read the tables in full again, then "
                                                       "read changes from the position this call reports")
    committed = status["upto"]
    with source.read_changes(status["tables"], status["upto"], after=after, batch_size=batch_size) as reader:
        for batch in reader:
            committed = batch["committed"] or committed
            # each event is let go of as it is yielded, so that a batch is gone before the next one is built
            changes, batch["changes"] = batch["changes"], []
            changes.reverse()
            while changes:
                op_name, schema, table, row, lsn = changes.pop()
                yield {"op": op_name, "schema": schema, "table": table, "row": row, "lsn": lsn}
    yield {"op": "end", "lsn": committed}


@dataclass(frozen=True)
class PartitionPlan:
    """One key range of a table, self-contained and picklable: hand it to another process or machine and call
    `read_partition(plan)` there. `config` holds the connection settings, password included, so treat a plan
    like a credential."""
    config: dict = field(repr=False)
    schema: str
    table: str
    index: int
    count: int
    lo: list | None
    hi: list | None
    snapshot: str | None
    notes: str


def export_snapshot(config_or_dsn):
    """A snapshot held open by this process (a context manager): plans made with it read one consistent state of
    the database, wherever they run, as long as it stays open."""
    source = _open(_config(config_or_dsn))
    if source.kind != "postgres":
        raise ValueError("export_snapshot: SQL Server cannot share a snapshot across sessions; plan without one")
    return source.export_snapshot()


def plan_partitions(config_or_dsn, table: str, partitions: int, snapshot=None) -> list:
    """`partitions` key ranges of `table` cut at quantiles of a sample of its keys (a table without a usable
    primary key is one range). Without `snapshot`, each range reads its own snapshot when it runs."""
    _check(partitions, 1)
    source, config, schema, name = _source(config_or_dsn, table, partitions)
    ranges = source.plan(schema, name)["partitions"]
    snapshot_id = getattr(snapshot, "id", snapshot)
    notes = (f"all ranges read snapshot {snapshot_id} while its holder stays open" if snapshot_id else
             "each range reads its own snapshot: rows changed between the reads may be seen in one range and not "
             "another; pass export_snapshot(...) for one consistent state")
    return [PartitionPlan(config=config, schema=schema, table=name, index=i, count=len(ranges), lo=r["lo"],
                          hi=r["hi"], snapshot=snapshot_id, notes=notes)
            for i, r in enumerate(ranges)]


def read_partition(plan: PartitionPlan, format: str = "arrow", batch_size: int = 65536, fresh_snapshot: bool = False):
    """Reads one planned range: an Arrow stream (`format="arrow"`) or dict batches (`format="dicts"`). A plan made
    with a snapshot reads as of it; if its holder has closed, that is an error (`ConfigurationError`, key
    `snapshot`) unless `fresh_snapshot` says to read the data as it is now."""
    _check(1, batch_size)
    if fresh_snapshot:
        plan = dataclasses.replace(plan, snapshot=None)
    source = Source(plan.config)
    source.discover()
    part: list[Partition] = [{"lo": plan.lo, "hi": plan.hi}]
    if format == "arrow":
        return source.read_arrow(plan.schema, plan.table, partitions=part, batch_size=batch_size, snapshot=plan.snapshot)
    if format == "dicts":
        return source.read(plan.schema, plan.table, partitions=part, batch_size=batch_size, snapshot=plan.snapshot)
    raise ValueError(f"format {format!r} is not 'arrow' or 'dicts'")
