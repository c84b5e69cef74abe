"""Real parts: an embedded PostgreSQL (or the server CONNECTOR_ACCEL_TEST_DSN names) and the Connector SDK's own
runner writing a real DuckDB warehouse."""
import os

import psycopg
import pytest

from testkit import conninfo, embedded_pg, free_port


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
