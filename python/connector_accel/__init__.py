"""connector_accel: a Rust core that reads PostgreSQL and SQL Server tables fast and exactly, for the Fivetran Connector SDK
and for any Python pipeline that wants ready dict batches or Arrow streams."""

from connector_accel._core import (
    ArrowReader,
    BatchReader,
    ConfigurationError,
    ConnectorAccelError,
    ConversionError,
    MssqlSource,
    PostgresSource,
    QueryError,
    ReaderClosedError,
    SourceConnectionError,
    __version__,
)
from connector_accel.sources import source
from connector_accel.library import (
    PartitionPlan,
    export_snapshot,
    plan_partitions,
    read_arrow,
    read_batches,
    read_partition,
)

__all__ = [
    "ArrowReader",
    "BatchReader",
    "ConfigurationError",
    "ConnectorAccelError",
    "ConversionError",
    "MssqlSource",
    "PostgresSource",
    "source",
    "QueryError",
    "ReaderClosedError",
    "SourceConnectionError",
    "__version__",
    "PartitionPlan",
    "export_snapshot",
    "plan_partitions",
    "read_arrow",
    "read_batches",
    "read_partition",
]
