"""Helpers of the change-data-capture tests (tests/test_logical*.py): a server that decodes its log, and the
comparison of the destination's live rows with the source's, key by key."""
from pathlib import Path

from testkit import embedded_pg
from testkit.embedded_pg import connection_config
from testkit.sync import free_port, warehouse


def start_server(datadir: Path, **conf) -> dict:
    """A server with wal_level = logical (and any other postgresql.conf settings in `conf`)."""
    return embedded_pg.start(datadir, free_port(), conf={"wal_level": "logical", "max_replication_slots": 20, **conf})


def fresh(lsql, schema: str) -> None:
    lsql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    lsql(f"CREATE SCHEMA {schema}")


def logical_config(lpg, schema: str, **extra) -> dict:
    return connection_config(lpg, schemas=schema, update_method="logical", **extra)


def live(project, schema: str, table: str, columns: str) -> list:
    return warehouse(project).execute(
        f'SELECT {columns} FROM "tester_{schema}"."{table}" WHERE NOT _fivetran_deleted ORDER BY ALL').fetchall()


def source(lsql, schema: str, table: str, columns: str) -> list:
    return [tuple(r) for r in lsql(f"SELECT {columns} FROM {schema}.{table} ORDER BY {columns}")]


def same(lsql, project, schema: str, table: str, columns: str) -> None:
    dest, src = live(project, schema, table, columns), source(lsql, schema, table, columns)
    assert dest == src, f"{schema}.{table}: destination {len(dest)} rows, source {len(src)}; first differences " \
                        f"{[r for r in dest if r not in src][:3]} vs {[r for r in src if r not in dest][:3]}"


def slots(lsql) -> list:
    return [r[0] for r in lsql("SELECT slot_name FROM pg_replication_slots")]
