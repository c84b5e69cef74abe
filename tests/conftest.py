"""Real parts: an embedded PostgreSQL (or the server CONNECTOR_ACCEL_TEST_DSN names) and the Connector SDK's own
runner writing a real DuckDB warehouse."""
import os
import time

import psycopg
import pytest

from testkit import embedded_pg, free_port, runner
from testkit.logical import start_server


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
    return runner(pg)


@pytest.fixture(scope="module")
def lpg(tmp_path_factory):
    """A server that decodes its log (wal_level = logical), one per test module that asks for it."""
    datadir = tmp_path_factory.mktemp("pg_logical") / "data"
    yield start_server(datadir)
    embedded_pg.stop(datadir)


@pytest.fixture
def lsql(lpg):
    """`sql` for `lpg`."""
    return runner(lpg)


@pytest.fixture
def new_sessions(sql):
    """The pids of this project's sessions opened since the test began: sessions that earlier tests' sources keep
    idle are not counted."""
    query = "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'connector_accel%'"
    before = {pid for (pid,) in sql(query)}

    def current(wait_for_none: float = 0.0) -> set:
        """The new sessions now; with `wait_for_none`, after waiting up to that many seconds for them to end."""
        deadline = time.monotonic() + wait_for_none
        while True:
            found = {pid for (pid,) in sql(query)} - before
            if not found or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)
    return current
