"""The library API for pipelines outside Fivetran: dict batches and Arrow streams over a table, and picklable
partition plans that a Ray, Dask or Spark job can fan out across processes and machines."""
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from connector_accel._core import ArrowReader, BatchReader, Source

if TYPE_CHECKING:
    from connector_accel._core import Partition


def _config(config_or_dsn) -> dict:
    return {"dsn": config_or_dsn} if isinstance(config_or_dsn, str) else dict(config_or_dsn)


def _source(config_or_dsn, table: str, partitions: int = 1):
    config = _config(config_or_dsn)
    schema, _, name = table.rpartition(".")
    config.update(flatten_json="false", partitions=str(max(1, partitions)))
    config.setdefault("sync_validation", "false")
    config.setdefault("source_metadata", "false")
    schema = schema or ("dbo" if Source(config).kind == "sqlserver" else "public")
    config["tables"] = f"{schema}.{name}"
    source = Source(config)
    source.discover()
    return source, config, schema, name


def _is_query(text: str) -> bool:
    return any(ch.isspace() for ch in text.strip())


def read_arrow(config_or_dsn, table_or_query: str, partitions: int = 1, batch_size: int = 65536) -> ArrowReader:
    """An Arrow stream (`__arrow_c_stream__`) over a table (`schema.table`, or a table of `public`) or the rows of
    a query (any text with a space in it; read as one stream, types from the server's description of it).

    `config_or_dsn` is a connection string or a configuration dict (the connector's keys). With `partitions` > 1
    the table is cut into key ranges from a sample of its keys and read concurrently on one snapshot. Memory stays
    bounded: batches are built as they arrive. Consume it with ``pyarrow.RecordBatchReader.from_stream(reader)``,
    ``polars.from_arrow``, duckdb, or ``pyarrow.table(reader)``.
    """
    if _is_query(table_or_query):
        source = Source(_config(config_or_dsn))
        if source.kind != "postgres":
            raise ValueError("table_or_query: queries are read from PostgreSQL only; name a SQL Server table")
        if partitions > 1:
            raise ValueError("partitions: a query is read as one stream; name a table to read it in partitions")
        return source.read_arrow_query(table_or_query, batch_size=batch_size)
    source, _, schema, name = _source(config_or_dsn, table_or_query, partitions)
    parts = source.plan(schema, name)["partitions"] if partitions > 1 else None
    return source.read_arrow(schema, name, partitions=parts, batch_size=batch_size)


def read_batches(config_or_dsn, table: str, partitions: int = 1, batch_size: int = 5000) -> BatchReader:
    """Lists of row dicts over `table`, the same path the connector's `update()` uses (JSON unflattened)."""
    source, _, schema, name = _source(config_or_dsn, table, partitions)
    parts = source.plan(schema, name)["partitions"] if partitions > 1 else None
    return source.read(schema, name, partitions=parts, batch_size=batch_size)


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
    config = _config(config_or_dsn)
    config.setdefault("tables", "")
    source = Source(config)
    if source.kind != "postgres":
        raise ValueError("export_snapshot: SQL Server cannot share a snapshot across sessions; plan without one")
    return source.export_snapshot()


def plan_partitions(config_or_dsn, table: str, partitions: int, snapshot=None) -> list:
    """`partitions` key ranges of `table` cut at quantiles of a sample of its keys (a table without a usable
    primary key is one range). Without `snapshot`, each range reads its own snapshot when it runs."""
    source, config, schema, name = _source(config_or_dsn, table, partitions)
    ranges = source.plan(schema, name)["partitions"]
    snapshot_id = getattr(snapshot, "id", snapshot)
    notes = (f"all ranges read snapshot {snapshot_id} while its holder stays open" if snapshot_id else
             "each range reads its own snapshot: rows changed between the reads may be seen in one range and not "
             "another; pass export_snapshot(...) for one consistent state")
    return [PartitionPlan(config=config, schema=schema, table=name, index=i, count=len(ranges), lo=r["lo"],
                          hi=r["hi"], snapshot=snapshot_id, notes=notes)
            for i, r in enumerate(ranges)]


def read_partition(plan: PartitionPlan, format: str = "arrow", batch_size: int = 65536):
    """Reads one planned range: an Arrow stream (`format="arrow"`) or dict batches (`format="dicts"`)."""
    source = Source(plan.config)
    source.discover()
    part: list[Partition] = [{"lo": plan.lo, "hi": plan.hi}]
    if format == "arrow":
        return source.read_arrow(plan.schema, plan.table, partitions=part, batch_size=batch_size, snapshot=plan.snapshot)
    if format == "dicts":
        return source.read(plan.schema, plan.table, partitions=part, batch_size=batch_size, snapshot=plan.snapshot)
    raise ValueError(f"format {format!r} is not 'arrow' or 'dicts'")
