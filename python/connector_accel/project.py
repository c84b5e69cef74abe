"""A deployable connector project: the few files `fivetran debug` and `fivetran deploy` need, and nothing else (no
tests, no sources of this package), so that `fivetran package` uploads just them.

    python -m connector_accel init DIR --source postgres|sqlserver|snowflake
"""
from __future__ import annotations

import json
from pathlib import Path

from connector_accel._core import __version__

CONNECTOR = '''"""A Fivetran connector for {database}: schema() and update() come from connector_accel's Rust core."""
from fivetran_connector_sdk import Connector

from connector_accel.form import configuration_form as form_for
from connector_accel.sdk import schema, update


def configuration_form():
    """The setup form Fivetran shows (packed as configuration_form.pb), with a connect-and-discover test."""
    return form_for("{source}")


connector = Connector(update=update, schema=schema, configuration_form=configuration_form)

if __name__ == "__main__":
    connector.debug()
'''

# Every key a user is likely to set. The <...> placeholders are the keys to fill in; the Rust core knows each of them
# (src/config/values.rs, PLACEHOLDERS) and takes one left untouched as not set, with a warning, never as a value.
# Optional keys are empty (not set) or hold their default, so that a project syncs against a plain local server
# once the connection keys are filled in: `sslmode` is prefer, as libpq's default (set verify-full and sslrootcert
# for a server with a certificate), and `tables` is left out (every table of `schemas` is synced; add it to choose).
CONFIGURATION = {
    "postgres": {
        "host": "<host name or IP>", "port": "5432", "database": "<database>", "user": "<login>",
        "password": "<password>", "sslmode": "prefer", "sslrootcert": "", "schemas": "public",
        "exclude_tables": "", "cursor_columns": "", "soft_delete_column": "", "flatten_json": "true",
        "max_retries": "5", "retry_sleep_seconds": "5", "emit": "auto",
    },
    "sqlserver": {
        "mssql_server": "<host name or IP>", "mssql_port": "1433", "mssql_database": "<database>",
        "mssql_user": "<login>", "mssql_password": "<password>", "encrypt": "on", "cert": "",
        "mssql_cert_server": "", "schemas": "dbo", "exclude_tables": "", "cursor_columns": "",
        "soft_delete_column": "_IsDeleted", "max_retries": "5", "retry_sleep_seconds": "5", "emit": "auto",
    },
    "snowflake": {
        "account": "<account identifier>", "user": "<login>", "password": "<password>", "private_key": "",
        "warehouse": "<warehouse>", "database": "<database>", "role": "", "schemas": "PUBLIC",
        "exclude_tables": "", "cursor_columns": "", "soft_delete_column": "", "flatten_json": "true",
        "ssl_verify": "true", "max_retries": "5", "retry_sleep_seconds": "5", "emit": "auto",
    },
}

README = """# {name}

A Fivetran connector for {database}, built on connector_accel {version}.

1. Fill in the `<...>` placeholders of `configuration.json` (every value is a string; the connector_accel README
   lists every key). A placeholder left as it is counts as not set, with a warning.
   {tls}
2. `fivetran debug --configuration configuration.json` syncs into `files/warehouse.db` (DuckDB) locally; look at it
   with `python -c "import duckdb; print(duckdb.connect('files/warehouse.db', read_only=True).sql('SHOW ALL TABLES'))"`.
3. `fivetran deploy --api-key <key> --destination <name> --connection <name> --configuration configuration.json`
   uploads four files: `connector.py`, `requirements.txt`, this README and `configuration_form.pb` (the setup form,
   packed from `configuration_form()`); Fivetran installs `connector_accel=={version}` from the package index.
"""

TLS = {
    "postgres": "`sslmode` is `prefer` (TLS when the server offers it, unverified); for a server with a certificate set\n"
                "   `verify-full` and `sslrootcert` (a CA file path or its PEM text).",
    "sqlserver": "`encrypt` is `on` and verifies the server's certificate: set `cert` (a CA file path or its PEM text)\n"
                 "   for a certificate no public CA signed.",
    "snowflake": "Give `password`, or `private_key` (a PKCS#8 PEM; with `private_key_password` if it is encrypted) for\n"
                 "   key-pair authentication; TLS to the account is always verified unless `ssl_verify` is false.",
}
DATABASES = {"postgres": "PostgreSQL", "sqlserver": "SQL Server", "snowflake": "Snowflake"}

FILES = ("connector.py", "requirements.txt", "configuration.json", "README.md")


def init(directory: str | Path, source: str, force: bool = False) -> list[Path]:
    """Writes the project into `directory`; refuses to overwrite an existing file unless `force`."""
    if source not in CONFIGURATION:
        raise ValueError(f"source: {source!r} is not postgres, sqlserver or snowflake")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    existing = [name for name in FILES if (root / name).exists()]
    if existing and not force:
        raise FileExistsError(f"{root}: {', '.join(existing)} already exist; choose an empty directory or pass --force")
    database = DATABASES[source]
    contents = {
        "connector.py": CONNECTOR.format(source=source, database=database),
        "requirements.txt": f"connector_accel=={__version__}\n",
        "configuration.json": json.dumps(CONFIGURATION[source], indent=2) + "\n",
        "README.md": README.format(name=root.resolve().name, version=__version__, database=database, tls=TLS[source]),
    }
    written = []
    for name, text in contents.items():
        (root / name).write_text(text)
        written.append(root / name)
    return written
