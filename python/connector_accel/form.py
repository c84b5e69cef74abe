"""The setup form Fivetran's UI shows for this connector (the SDK's `configuration_form()`, packed by
`fivetran package` as configuration_form.pb), and its setup test: connect and discover the selected tables.

Field names are the configuration keys `connector_accel.sdk` reads; secrets are password fields; the TLS modes and
the emit path are dropdowns listing exactly the values the configuration accepts.
"""
from __future__ import annotations

from fivetran_connector_sdk import ConfigurationForm, Test, form_field

_SELECTION = (
    ("schemas", "Schemas", "Comma-separated schemas to sync; empty syncs every schema."),
    ("tables", "Tables", "Comma-separated schema.table names; empty syncs every table of the schemas."),
    ("exclude_tables", "Excluded tables", "Comma-separated schema.table names never synced."),
    ("cursor_columns", "Cursor columns", "Incremental cursors: a column name, or schema.table.column entries."),
    ("soft_delete_column", "Soft-delete column", "A boolean, integer or timestamp column marking deleted rows."),
    ("delete_reconciliation_hours", "Delete reconciliation (hours)",
     "Tables read by cursor: mark rows deleted in the source by a key-only scan at most every N hours (0: every "
     "sync, up to 8760); empty: off."),
)


def _option(value: str, description: str):
    return form_field.DropdownFieldParam(value=value, label=value, description=description)


def _emit():
    return form_field.DropdownField(
        "emit", "Emit path", description="How rows reach the SDK: auto (verified fast path) or sdk (op.upsert).",
        fields=[_option("auto", "Records encoded in Rust, checked against the SDK's own encoding"),
                _option("sdk", "The SDK's public operations, row by row")])


def _text(name: str, label: str, description: str, required: bool = False, placeholder: str | None = None,
          secret: bool = False):
    kind = form_field.TextField.password if secret else form_field.TextField.plain_text
    return form_field.TextField(name, label, kind, description=description, required=required, placeholder=placeholder)


def postgres_fields() -> list:
    return [
        _text("host", "Host", "Host name or IP address of the PostgreSQL server.", True, "db.example.com"),
        _text("port", "Port", "TCP port.", placeholder="5432"),
        _text("database", "Database", "Database to sync.", True),
        _text("user", "User", "Login with SELECT on the synced tables.", True),
        _text("password", "Password", "The login's password.", True, secret=True),
        form_field.DropdownField(
            "sslmode", "TLS mode", description="libpq's sslmode: verify-full checks the certificate and host name.",
            fields=[_option("verify-full", "TLS; certificate and host name verified"),
                    _option("verify-ca", "TLS; certificate verified, host name not"),
                    _option("require", "TLS; nothing verified"),
                    _option("prefer", "TLS when the server offers it"),
                    _option("disable", "No TLS")]),
        _text("sslrootcert", "CA certificate", "Path or PEM text of the CA that signed the server's certificate."),
        *(_text(name, label, description) for name, label, description in _SELECTION),
        form_field.ToggleField("flatten_json", "Flatten JSON", description="JSON objects become typed columns."),
        _emit(),
    ]


def sqlserver_fields() -> list:
    return [
        _text("mssql_server", "Server", "Host name or IP address of the SQL Server.", True, "sql.example.com"),
        _text("mssql_port", "Port", "TCP port.", placeholder="1433"),
        _text("mssql_database", "Database", "Database to sync.", True),
        _text("mssql_user", "User", "SQL Server login with SELECT on the synced tables.", True),
        _text("mssql_password", "Password", "The login's password.", True, secret=True),
        form_field.DropdownField(
            "encrypt", "Encryption", description="TLS for the session (TDS 8.0 strict needs SQL Server 2022).",
            fields=[_option("on", "TLS, certificate verified"), _option("strict", "TDS 8.0 strict TLS"),
                    _option("off", "TLS for the login only"), _option("disable", "No TLS")]),
        _text("cert", "CA certificate", "Path or PEM text of the CA that signed the server's certificate."),
        _text("mssql_cert_server", "Certificate host name", "The name the certificate carries, if not the server's."),
        form_field.ToggleField("trust_server_certificate", "Trust the server certificate",
                               description="Skips certificate verification: only on a trusted network."),
        *(_text(name, label, description) for name, label, description in _SELECTION),
        _emit(),
    ]


def connection_test(configuration: dict):
    """Connects with the form's values and discovers the selected tables: a typo in a key, a wrong password or an
    empty selection fails here, before the first sync."""
    from connector_accel._core import Source

    try:
        tables, _ = Source(configuration).discover()
    except Exception as e:  # every failure is a message for the setup screen
        return Test.failure(str(e))
    if not tables:
        return Test.failure("connected, but no table is selected; check 'schemas', 'tables' and 'exclude_tables'")
    return Test.success()


def configuration_form(source: str) -> ConfigurationForm:
    """The form for `source` ("postgres" or "sqlserver")."""
    if source not in ("postgres", "sqlserver"):
        raise ValueError(f"source: {source!r} is not postgres or sqlserver")
    form = ConfigurationForm()
    for field in postgres_fields() if source == "postgres" else sqlserver_fields():
        form.add_field(field)
    form.add_test(label="Connect and discover the selected tables", func=connection_test)
    return form
