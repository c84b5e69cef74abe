"""Change data capture by logical replication (issue 23), through the SDK's runner into DuckDB, against a real
PostgreSQL started with wal_level = logical: after each sync the destination's live rows are the source's, key by
key and value by value."""
import json
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from testkit import ROOT, connection_config, conninfo, embedded_pg, free_port, run_sync, warehouse


@pytest.fixture(scope="module")
def lpg(tmp_path_factory):
    """A server that decodes its log (wal_level = logical)."""
    datadir = tmp_path_factory.mktemp("pg_logical") / "data"
    settings = embedded_pg.start(datadir, free_port(), conf={"wal_level": "logical", "max_replication_slots": 20})
    yield settings
    embedded_pg.stop(datadir)


@pytest.fixture
def lsql(lpg):
    def run(statement: str, params=None):
        with psycopg.connect(**conninfo(lpg), autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else None
    return run


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


@pytest.mark.parametrize("emit", ["auto", "sdk"])
def test_inserts_updates_deletes_key_changes_and_truncate_arrive(lpg, lsql, tmp_path, emit, capfd):
    schema = f"cdc_basic_{emit}"
    fresh(lsql, schema)
    lsql(f"CREATE TABLE {schema}.t (id int PRIMARY KEY, val text, n numeric(12,2), ts timestamptz, tags text[], "
         "span interval)")
    lsql(f"INSERT INTO {schema}.t SELECT g, 'v' || g, g / 4.0, '2024-01-01'::timestamptz + g * interval '1 hour', "
         "ARRAY['a', g::text], g * interval '1 minute' FROM generate_series(1, 2000) g")
    config = logical_config(lpg, schema, emit=emit)
    columns = "id, val, n, ts, tags, span"
    state = run_sync(tmp_path, config)
    assert state["replication"]["lsn"], state
    out = capfd.readouterr().out
    assert "logical replication: slot connector_accel_" in out and "created now" in out
    same(lsql, tmp_path, schema, "t", "id, val, n, ts")
    lsql(f"INSERT INTO {schema}.t VALUES (5001, 'new', 1.5, now(), ARRAY['x', NULL], interval '2 days 3 hours')")
    lsql(f"UPDATE {schema}.t SET val = 'changed', n = NULL WHERE id BETWEEN 10 AND 19")
    lsql(f"DELETE FROM {schema}.t WHERE id % 100 = 0")
    lsql(f"UPDATE {schema}.t SET id = 9003 WHERE id = 3")
    state = run_sync(tmp_path, config, state)
    out = capfd.readouterr().out
    assert "change events applied" in out and "its changes came from the log" in out, out
    same(lsql, tmp_path, schema, "t", "id, val, n, ts")
    dest = dict((r[0], r[1:]) for r in warehouse(tmp_path).execute(
        f'SELECT id, tags, span FROM "tester_{schema}".t WHERE id IN (5001, 9003)').fetchall())
    with psycopg.connect(**conninfo(lpg), autocommit=True) as conn:
        conn.execute("SET IntervalStyle = iso_8601")  # as the connector's sessions read intervals
        src = dict((r[0], r[1:]) for r in conn.execute(
            f"SELECT id, to_jsonb(tags)::text, span::text FROM {schema}.t WHERE id IN (5001, 9003)").fetchall())
    assert 5001 in dest and 5001 in src, (dest, src)
    # an array and an interval come from the log in their binary form and are converted by the server with the
    # full load's expressions: the same values as a full read
    assert {k: (json.loads(v[0]), v[1]) for k, v in dest.items()} == {k: (json.loads(v[0]), v[1]) for k, v in src.items()}
    assert dest[5001][1] == "P2DT3H"
    deleted = warehouse(tmp_path).execute(
        f'SELECT id FROM "tester_{schema}".t WHERE _fivetran_deleted ORDER BY id').fetchall()
    assert deleted == [(3,)] + [(i,) for i in range(100, 2001, 100)]
    lsql(f"TRUNCATE {schema}.t")
    lsql(f"INSERT INTO {schema}.t (id, val) VALUES (1, 'after truncate')")
    state = run_sync(tmp_path, config, state)
    same(lsql, tmp_path, schema, "t", "id, val, n, ts")
