"""connector_accel: a Rust core that reads PostgreSQL tables fast and exactly, for the Fivetran Connector SDK
and for any Python pipeline that wants ready dict batches."""

from connector_accel._core import (
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

__all__ = [
    "BatchReader",
    "ConfigurationError",
    "ConnectorAccelError",
    "ConversionError",
    "PostgresSource",
    "QueryError",
    "ReaderClosedError",
    "SourceConnectionError",
    "__version__",
]
