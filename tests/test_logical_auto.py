"""`update_method=auto` (issue 23) through the SDK's runner into DuckDB: logical where the server and the login allow
it, else cursor with one line saying why; decided once per connection and kept in the state, never switched
silently afterwards."""
import pytest

from testkit import connection_config, run_sync, warehouse
from testkit.compare import fresh, id_val_table, same
from testkit.logical import login_role, slots

SECRET = "Auto-Secret-pw-3317"


def auto_config(server, schema: str, **extra) -> dict:
    return connection_config(server, schemas=schema, update_method="auto", **extra)


def table(sql, schema: str) -> None:
    fresh(sql, schema)
    id_val_table(sql, schema, 500)


def line(out: str, start: str) -> str:
    found = [ln for ln in out.splitlines() if start in ln]
    assert len(found) == 1, out
    return found[0]


def test_auto_on_a_logical_server_chooses_logical_and_captures_a_delete(lpg, lsql, tmp_path, capfd):
    schema = "auto_logical"
    table(lsql, schema)
    config = auto_config(lpg, schema)
    state = run_sync(tmp_path, config)
    said = line(capfd.readouterr().out, "update_method=auto: ")
    assert said.endswith("update_method=auto: logical for this connection (recorded in the state: later syncs keep "
                         "it, and one whose server no longer allows it fails rather than switching to cursor), because "
                         "wal_level is logical and this login may use the publication and the slot"), said
    assert state["update_method"]["method"] == "logical" and state["replication"]["lsn"], state
    lsql(f"DELETE FROM {schema}.t WHERE id IN (7, 8)")
    lsql(f"UPDATE {schema}.t SET id = 1007 WHERE id = 9")
    state = run_sync(tmp_path, config, state)
    out = capfd.readouterr().out
    assert "update_method=auto: logical, as decided on " in line(out, "update_method=auto: ")
    assert "its changes came from the log" in out, out
    same(lsql, tmp_path, schema, "t", "id, val")
    deleted = warehouse(tmp_path).execute(f'SELECT id FROM "tester_{schema}".t WHERE _fivetran_deleted ORDER BY id')
    assert deleted.fetchall() == [(7,), (8,), (9,)]


def test_auto_on_a_replica_server_chooses_cursor_with_the_line_and_keeps_it(pg, sql, lpg, lsql, tmp_path, capfd):
    """wal_level = replica: cursor, said with the reason and the fix, nothing created on the server. The choice is
    kept: the same connection's state on a server that now decodes its log stays cursor (the switch reloads every
    table, the user's call), with a line saying logical is now possible, and creates no slot there."""
    schema = "auto_replica"
    table(sql, schema)
    state = run_sync(tmp_path, auto_config(pg, schema))
    said = line(capfd.readouterr().out, "update_method=auto: ")
    assert "update_method=auto: cursor for this connection (recorded in the state: later syncs keep it); rows " \
           "deleted in the source are seen only by delete_reconciliation_hours." in said, said
    assert said.endswith("and set update_method=logical (every table is then loaded again once). Not logical because "
                         "logical needs wal_level = logical; the server has replica. A DBA can run: ALTER SYSTEM SET "
                         "wal_level = logical; then restart PostgreSQL"), said
    assert state["update_method"]["method"] == "cursor" and "replication" not in state, state
    assert sql("SELECT count(*) FROM pg_publication") == [(0,)] and sql("SELECT count(*) FROM pg_replication_slots") \
        == [(0,)]
    same(sql, tmp_path, schema, "t", "id, val")
    table(lsql, schema)
    lsql(f"DELETE FROM {schema}.t WHERE id = 3")
    before = slots(lsql)
    state = run_sync(tmp_path, auto_config(lpg, schema), state)
    said = line(capfd.readouterr().out, "update_method=auto: ")
    assert "WARNING" in said and "update_method=auto: cursor, as decided on " in said, said
    assert "(because logical needs wal_level = logical; the server has replica." in said, said
    assert "the server now decodes its log (wal_level = logical): set update_method=logical" in said, said
    assert state["update_method"]["method"] == "cursor" and "replication" not in state, state
    assert slots(lsql) == before
    same(lsql, tmp_path, schema, "t", "id, val")  # no cursor column: read in full every sync


def test_a_recorded_logical_fails_loudly_where_logical_is_no_longer_possible(lpg, lsql, pg, sql, tmp_path, capfd):
    """A connection auto made logical never turns to cursor by itself (it would stop capturing deletes without a
    word): on a server without wal_level = logical its sync fails with logical's own line."""
    schema = "auto_kept"
    table(lsql, schema)
    state = run_sync(tmp_path, auto_config(lpg, schema))
    assert state["update_method"]["method"] == "logical"
    table(sql, schema)
    capfd.readouterr()
    with pytest.raises(Exception) as err:
        run_sync(tmp_path, auto_config(pg, schema), state)
    assert "configuration key 'update_method': logical needs wal_level = logical; the server has replica" \
           in str(err.value), err.value
    assert "update_method=auto: logical, as decided on " in capfd.readouterr().out
    assert sql("SELECT count(*) FROM pg_replication_slots") == [(0,)]


def test_auto_without_replication_is_cursor_and_leaves_nothing_behind(lpg, lsql, tmp_path, capfd):
    """A login that may create the publication (it owns the table) but not the slot (no REPLICATION): cursor, the
    slot's fix said, and the publication made for it dropped again."""
    schema, role = "auto_norep", "auto_norep_login"
    table(lsql, schema)
    login_role(lsql, role, SECRET, schema)
    lsql(f"GRANT CREATE ON DATABASE {lpg['database']} TO {role}")
    lsql(f"ALTER TABLE {schema}.t OWNER TO {role}")
    config = auto_config(lpg, schema)
    config.update(user=role, password=SECRET)
    publications = lsql("SELECT count(*) FROM pg_publication")
    state = run_sync(tmp_path, config)
    out = capfd.readouterr()
    said = line(out.out, "update_method=auto: ")
    assert "Not logical because creating the replication slot" in said, said
    assert said.endswith(f'a DBA can run: ALTER ROLE "{role}" REPLICATION;'), said
    assert SECRET not in out.out + out.err
    assert state["update_method"]["method"] == "cursor"
    assert lsql("SELECT count(*) FROM pg_publication") == publications
    same(lsql, tmp_path, schema, "t", "id, val")
