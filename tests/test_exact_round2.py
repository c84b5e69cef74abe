"""Issue 19, points 3-10: what a production database does in a normal week that a sync must reflect exactly, or
say on that sync. Each test syncs through the SDK's runner into DuckDB and compares the destination's live rows
with the source, key by key and value by value."""
import json

import pytest

from testkit import connection_config, run_sync, warehouse


def live(tmp_path, table: str, columns: str = "*", order: str = "1"):
    return warehouse(tmp_path).execute(f"SELECT {columns} FROM {table} WHERE NOT _fivetran_deleted ORDER BY {order}"
                                       ).fetchall()


def test_dotted_names_have_their_own_state_keys(pg, sql, tmp_path):
    """a."b.c" and "a.b".c once shared the state key "a.b.c": the second was skipped as already synced."""
    sql('DROP SCHEMA IF EXISTS dot_a CASCADE')
    sql('DROP SCHEMA IF EXISTS "dot_a.b" CASCADE')
    sql('CREATE SCHEMA dot_a')
    sql('CREATE SCHEMA "dot_a.b"')
    sql('CREATE TABLE dot_a."b.c" (id int PRIMARY KEY, v text)')
    sql('CREATE TABLE "dot_a.b".c (id int PRIMARY KEY, v text)')
    sql('INSERT INTO dot_a."b.c" VALUES (1, \'first\'), (2, \'first\')')
    sql('INSERT INTO "dot_a.b".c VALUES (1, \'second\'), (3, \'second\')')
    state = run_sync(tmp_path, connection_config(pg, schemas="dot_a,dot_a.b"))
    assert set(state["tables"]) >= {'"dot_a"."b.c"', '"dot_a.b"."c"'}, state["tables"].keys()
    dw = warehouse(tmp_path)
    landed = {t: dw.execute(f'SELECT id, v FROM "{s}"."{t}" ORDER BY id').fetchall()
              for s, t in dw.execute("SELECT table_schema, table_name FROM information_schema.tables "
                                     "WHERE table_schema LIKE 'tester_dot_a%' ORDER BY 1").fetchall()}
    assert sorted(landed.values()) == sorted([sql('SELECT id, v FROM dot_a."b.c" ORDER BY id'),
                                              sql('SELECT id, v FROM "dot_a.b".c ORDER BY id')]), landed


def test_old_state_keys_still_load():
    from connector_accel import state as st
    assert st.table_key("public", "orders") == "public.orders"
    assert st.table_key("a", "b.c") != st.table_key("a.b", "c")
    assert st.table_key('x"y', "z") == '"x""y"."z"'
