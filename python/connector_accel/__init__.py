"""connector_accel: a Rust core that reads PostgreSQL tables fast and exactly, for the Fivetran Connector SDK
and for any Python pipeline that wants ready dict batches or Arrow streams."""

from connector_accel._core import (
    ArrowReader,
    BatchReader,
    ConfigurationError,
    ConnectorAccelError,
    ConversionError,
    PostgresSource,
    QueryError,
    ReaderClosedError,
    SourceConnectionError,
    __version__,
)
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
    "PostgresSource",
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
