"""Which source a configuration names: SQL Server when it has `mssql_server` (in either of the seeds' spellings),
PostgreSQL otherwise."""
from connector_accel._core import MssqlSource, PostgresSource

MSSQL_KEYS = ("mssql_server", "MSSQL_SERVER")


def is_mssql(configuration: dict) -> bool:
    return any(key in (configuration or {}) for key in MSSQL_KEYS)


def source(configuration: dict):
    """A `MssqlSource` or `PostgresSource` for `configuration` (the connector's keys)."""
    configuration = configuration or {}
    return MssqlSource(configuration) if is_mssql(configuration) else PostgresSource(configuration)
