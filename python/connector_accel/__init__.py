"""connector_accel: a Rust core that reads PostgreSQL and SQL Server tables fast and exactly, for the Fivetran Connector SDK
and for any Python pipeline that wants ready dict batches or Arrow streams."""

from connector_accel._core import (
    ArrowReader,
    BatchReader,
    ConfigurationError,
    ConnectorAccelError,
    ConversionError,
    InternalError,
    QueryError,
    ReaderClosedError,
    ReadInterruptedError,
    Source,
    SourceConnectionError,
    __version__,
)
from connector_accel.library import (
    PartitionPlan,
    export_snapshot,
    plan_partitions,
    read_arrow,
    read_batches,
    read_changes,
    read_partition,
)

__all__ = [
    "ArrowReader",
    "BatchReader",
    "ConfigurationError",
    "ConnectorAccelError",
    "ConversionError",
    "InternalError",
    "Source",
    "QueryError",
    "ReaderClosedError",
    "ReadInterruptedError",
    "SourceConnectionError",
    "__version__",
    "PartitionPlan",
    "export_snapshot",
    "plan_partitions",
    "read_arrow",
    "read_batches",
    "read_changes",
    "read_partition",
]
