"""Real parts: an embedded PostgreSQL (or the server CONNECTOR_ACCEL_TEST_DSN names) and the Connector SDK's own
runner writing a real DuckDB warehouse."""
import json
import os
import socket
import sys
from pathlib import Path

import duckdb
import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import embedded_pg  # noqa: E402
from embedded_pg import connection_config, conninfo  # noqa: E402,F401  (tests import them from here)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg(tmp_path_factory):
    """Connection settings of a real server, as `embedded_pg.start` returns them."""
    dsn = os.environ.get("CONNECTOR_ACCEL_TEST_DSN")
    if dsn:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
        yield {"host": info.get("host", "127.0.0.1"), "port": str(info.get("port", 5432)), "user": info["user"],
               "password": info.get("password", ""), "database": info.get("dbname", "postgres"), "socket_dir": None,
               "ca_file": None}
        return
    datadir = tmp_path_factory.mktemp("pg") / "data"
    settings = embedded_pg.start(datadir, free_port())
    yield settings
    embedded_pg.stop(datadir)


@pytest.fixture
def sql(pg):
    """Runs statements on the source (autocommit) and returns rows of the last one."""
    def run(statement: str, params=None):
        with psycopg.connect(**conninfo(pg), autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else None
    return run


def run_sync(project: Path, configuration: dict, state: dict = None):
    """One sync through the Connector SDK's own in-process runner (what `fivetran debug` runs), into
    project/files/warehouse.db. Returns the final state."""
    from fivetran_connector_sdk import Connector, Logging
    from fivetran_connector_sdk_cli import core_adapter
    from fivetran_connector_sdk_common import constants

    from connector_accel import sdk

    constants.DEBUGGING = True  # as `fivetran debug` sets them before it runs a connector
    Logging.LOG_LEVEL = Logging.Level.INFO
    sdk._SOURCES.clear()  # a new sync is a new process in production: discover afresh
    connector = Connector(update=sdk.update, schema=sdk.schema)
    core_adapter.run(connector, str(project), configuration, state or {})
    state_file = project / "files" / "state.json"
    return json.loads(state_file.read_text()) if state_file.exists() else {}


def warehouse(project: Path):
    return duckdb.connect(str(project / "files" / "warehouse.db"), read_only=True)
