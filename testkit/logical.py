"""Helpers of the change-data-capture tests (tests/test_logical*.py, tests/test_grpc_logical.py): a server that
decodes its log, a logical connection's settings, the slots it leaves (the key-by-key comparison is testkit.compare)."""

from pathlib import Path

from testkit import embedded_pg
from testkit.embedded_pg import connection_config
from testkit.sync import free_port, run_sync


def start_server(datadir: Path, **conf) -> dict:
    """A server with wal_level = logical (and any other postgresql.conf settings in `conf`)."""
    return embedded_pg.start(datadir, free_port(), conf={"wal_level": "logical", "max_replication_slots": 20, **conf})


def logical_config(lpg, schema: str, **extra) -> dict:
    return connection_config(lpg, schemas=schema, update_method="logical", **extra)


def slots(lsql) -> list:
    return [r[0] for r in lsql("SELECT slot_name FROM pg_replication_slots")]


def sync_output(project: Path, config: dict, state: dict, capfd) -> tuple[dict, str]:
    """One more sync: its final state, and what it alone printed (what came before is read off first)."""
    capfd.readouterr()
    state = run_sync(project, config, state)
    return state, capfd.readouterr().out


def toasted_text(digests: int) -> str:
    """An SQL expression, for row `g`, of `digests` md5 digests (32 characters each): text that compresses poorly,
    so that from about 2 kB on it is stored out of line (TOASTed)."""
    return f"(SELECT string_agg(md5(random()::text || g || x), '') FROM generate_series(1, {digests}) x)"


def login_role(run, role: str, password: str, schema: str) -> None:
    """`role` made again: a login with USAGE on `schema` and nothing more (no REPLICATION, owns nothing)."""
    run(f"DROP ROLE IF EXISTS {role}")
    run(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    run(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
