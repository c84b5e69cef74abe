"""The library API for pipelines outside Fivetran: Arrow streams over a table, read in parallel partitions."""
from connector_accel._core import ArrowReader, PostgresSource


def _source(config_or_dsn, table: str, partitions: int):
    config = {"dsn": config_or_dsn} if isinstance(config_or_dsn, str) else dict(config_or_dsn)
    schema, _, name = table.rpartition(".")
    schema = schema or "public"
    config.update(tables=f"{schema}.{name}", flatten_json="false", partitions=str(max(1, partitions)))
    config.setdefault("sync_validation", "false")
    config.setdefault("source_metadata", "false")
    return PostgresSource(config), schema, name


def read_arrow(config_or_dsn, table: str, partitions: int = 1, batch_size: int = 65536) -> ArrowReader:
    """An Arrow stream (`__arrow_c_stream__`) over `table` (`schema.table`, or a table of `public`).

    `config_or_dsn` is a connection string or a configuration dict (the connector's keys). With `partitions` > 1
    the table is cut into key ranges from a sample of its keys and read concurrently on one snapshot. Memory stays
    bounded: batches are built as they arrive. Consume it with ``pyarrow.RecordBatchReader.from_stream(reader)``,
    ``polars.from_arrow``, duckdb, or ``pyarrow.table(reader)``.
    """
    source, schema, name = _source(config_or_dsn, table, partitions)
    source.discover()
    parts = source.plan(schema, name)["partitions"] if partitions > 1 else None
    return source.read_arrow(schema, name, partitions=parts, batch_size=batch_size)
