"""The loud paths of change data capture (issue 23), through the SDK's runner into DuckDB: a slot the server
invalidated or another reader moved, a server without wal_level = logical, a login without REPLICATION, and the WAL
a slot retains. Each says so on that sync in one line naming the slot or table and the fix, and where the connector
loads the tables again the destination ends exact, key by key against the source."""
import re
import time

import pytest

from testkit import embedded_pg, run_sync, runner, warehouse
from testkit.compare import fresh, id_val_table, same
from testkit.logical import logical_config, login_role, start_server, sync_output

MB = 1024 * 1024
SECRET = "Cdc-Secret-pw-4821"


def loaded(lsql, schema: str, rows: int = 3000) -> None:
    """`schema`.t with `rows` rows, and `schema`_outside.filler: a table no sync selects, to write WAL with."""
    fresh(lsql, schema)
    fresh(lsql, f"{schema}_outside")
    id_val_table(lsql, schema, rows)
    lsql(f"CREATE TABLE {schema}_outside.filler (id serial, pad text)")


def changes_in_the_gap(lsql, schema: str) -> None:
    """Changes only a reload can bring: the slot that held them is gone or past them."""
    lsql(f"DELETE FROM {schema}.t WHERE id <= 100")
    lsql(f"UPDATE {schema}.t SET val = 'gap' WHERE id BETWEEN 200 AND 210")
    lsql(f"INSERT INTO {schema}.t VALUES (9001, 'new in the gap')")


def write_wal(lsql, schema: str, megabytes: int) -> None:
    """About `megabytes` of WAL, none of it in a selected table."""
    lsql(f"INSERT INTO {schema}_outside.filler (pad) SELECT md5(g::text) || md5((g + 1)::text) "
         f"FROM generate_series(1, {megabytes * 10_000}) g")


def nothing_written(project, schema: str) -> None:
    assert not (project / "files" / "state.json").exists(), "no state was written"
    if (project / "files" / "warehouse.db").exists():
        written = warehouse(project).execute("SELECT table_name FROM information_schema.tables "
                                             f"WHERE table_schema = 'tester_{schema}'").fetchall()
        assert written == [], f"nothing is written before the error: {written}"


def reloaded_exact(lsql, project, schema: str, config: dict, state: dict, capfd, says: str) -> dict:
    """The sync after a gap: the one line with `says`, the table loaded again, the destination the source's; and
    the next change comes from the log again."""
    state, out = sync_output(project, config, state, capfd)
    line = next((ln for ln in out.splitlines() if says in ln), None)
    assert line is not None, out
    assert f"{schema}.t: " in line and "the table is loaded again in full (re-snapshot)" in line, line
    same(lsql, project, schema, "t", "id, val")
    lsql(f"UPDATE {schema}.t SET val = 'after' WHERE id = 500")
    lsql(f"DELETE FROM {schema}.t WHERE id = 501")
    run_sync(project, config, state)
    out = capfd.readouterr().out
    assert "its changes came from the log" in out and "loaded again" not in out, out
    same(lsql, project, schema, "t", "id, val")
    return state


def wal_status(lsql, slot: str) -> str | None:
    found = lsql("SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s", [slot])
    return found[0][0] if found else None


def invalidate(lsql, schema: str, slot: str) -> None:
    """Writes WAL and checkpoints until the server has invalidated `slot` for holding more than
    max_slot_wal_keep_size."""
    for _ in range(10):
        write_wal(lsql, schema, 1)
        lsql("SELECT pg_switch_wal()")
        lsql("CHECKPOINT")
        if wal_status(lsql, slot) == "lost":
            return
    assert wal_status(lsql, slot) == "lost"


def test_a_slot_the_server_invalidated_is_said_and_every_table_loaded_again(tmp_path_factory, tmp_path, capfd):
    datadir = tmp_path_factory.mktemp("pg_keep_size") / "data"
    # a slot may hold back at most 1 MB of WAL: a checkpoint past that invalidates it (wal_status = lost)
    server = start_server(datadir, max_slot_wal_keep_size="'1MB'")
    try:
        lsql, schema = runner(server), "cdc_lost"
        loaded(lsql, schema)
        config = logical_config(server, schema)
        state = run_sync(tmp_path, config)
        slot, at = state["replication"]["slot"], state["replication"]["lsn"]
        changes_in_the_gap(lsql, schema)
        invalidate(lsql, schema, slot)
        reloaded_exact(lsql, tmp_path, schema, config, state, capfd,
                       f"slot {slot} was invalidated by the server (wal_status lost: it retained more than "
                       f"max_slot_wal_keep_size); the changes after {at} are lost")
        assert wal_status(lsql, slot) != "lost"
        # a re-sync (the state reset, so no checkpoint to compare with) on a slot the server invalidated again:
        # the slot is made anew, as nothing can be read from it, and the full load is exact
        lsql(f"UPDATE {schema}.t SET val = 're-sync' WHERE id BETWEEN 300 AND 320")
        invalidate(lsql, schema, slot)
        run_sync(tmp_path, config, {})
        same(lsql, tmp_path, schema, "t", "id, val")
        assert wal_status(lsql, slot) != "lost"
    finally:
        embedded_pg.stop(datadir)


def test_a_slot_another_reader_moved_is_said_and_every_table_loaded_again(lpg, lsql, tmp_path, capfd):
    schema = "cdc_moved"
    loaded(lsql, schema)
    config = logical_config(lpg, schema)
    state = run_sync(tmp_path, config)
    slot, at = state["replication"]["slot"], state["replication"]["lsn"]
    changes_in_the_gap(lsql, schema)
    # another reader consumes (and so acknowledges) the changes no sync of ours has read
    consumed, deadline = 0, time.monotonic() + 10
    while consumed == 0 and time.monotonic() < deadline:  # decoding reads flushed WAL (synchronous_commit = off)
        consumed += lsql("SELECT count(*) FROM pg_logical_slot_get_binary_changes(%s, NULL, NULL, 'proto_version', "
                         "'1', 'publication_names', %s)", [slot, slot])[0][0]
        time.sleep(0.05)
    assert consumed > 0
    moved = lsql("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", [slot])[0][0]
    reloaded_exact(lsql, tmp_path, schema, config, state, capfd,
                   f"slot {slot} has moved to {moved} past this connection's checkpoint {at} (another reader of the "
                   "slot?); the changes between are lost to it")


def test_wal_level_replica_is_one_line_with_the_fix_and_nothing_is_written(pg, sql, tmp_path, capfd):
    assert sql("SHOW wal_level") == [("replica",)]
    schema = "cdc_replica"
    fresh(sql, schema)
    sql(f"CREATE TABLE {schema}.t (id int PRIMARY KEY, val text)")
    sql(f"INSERT INTO {schema}.t VALUES (1, 'a')")
    line = failed_sync(tmp_path, logical_config(pg, schema), capfd, "update_method")
    assert line == "configuration key 'update_method': logical needs wal_level = logical; the server has replica. " \
                   "A DBA can run: ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL", line
    nothing_written(tmp_path, schema)
    assert sql("SELECT count(*) FROM pg_publication") == [(0,)] and sql("SELECT count(*) FROM pg_replication_slots") \
        == [(0,)]


def failed_sync(project, config: dict, capfd, key: str) -> str:
    """A sync that fails on configuration `key`: its one line, which names no secret. The SDK's runner reports a
    failed update() with the traceback of where it was raised (for the developer, as `fivetran debug` does); the
    failure is the connector's ConfigurationError, with one line of its own, not a crash."""
    with pytest.raises(Exception) as err:
        run_sync(project, config)
    first, *report = str(err.value).splitlines()
    out = capfd.readouterr()
    assert SECRET not in str(err.value) + out.out + out.err
    assert "panicked" not in out.out + out.err
    prefix = "failed while executing update() error: "
    assert first.startswith(f"{prefix}configuration key '{key}': "), first
    assert report[-1] == "ConfigurationError: the message is above", report
    return first[len(prefix):]


def test_a_login_without_replication_is_told_the_sql_a_dba_must_run(lpg, lsql, tmp_path, capfd):
    schema, role = "cdc_norep", "cdc_norep_login"
    loaded(lsql, schema)
    login_role(lsql, role, SECRET, schema)
    lsql(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
    config = logical_config(lpg, schema)
    config.update(user=role, password=SECRET)
    # the login owns no table, so it cannot make the publication: the exact statement, for a DBA
    line = failed_sync(tmp_path, config, capfd, "publication")
    create = re.search(r"a DBA can run: (CREATE PUBLICATION .*;)$", line)
    assert create and f'FOR TABLE "{schema}"."t" WITH (publish_via_partition_root = true);' in line, line
    nothing_written(tmp_path, schema)
    lsql(create.group(1))
    # with the publication made, the slot: the login needs REPLICATION
    line = failed_sync(tmp_path, config, capfd, "replication_slot")
    assert line.endswith(f'a DBA can run: ALTER ROLE "{role}" REPLICATION;'), line
    nothing_written(tmp_path, schema)
    assert lsql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", [config_slot(create)]) == [(0,)]
    lsql(f"ALTER ROLE {role} REPLICATION")
    state = run_sync(tmp_path, config)
    same(lsql, tmp_path, schema, "t", "id, val")
    changes_in_the_gap(lsql, schema)
    run_sync(tmp_path, config, state)
    same(lsql, tmp_path, schema, "t", "id, val")
    out = capfd.readouterr()
    assert SECRET not in out.out + out.err


def config_slot(create: re.Match) -> str:
    """The derived slot name, which is the derived publication's."""
    return create.group(1).split()[2].strip('"')


def retained(out: str, slot: str) -> tuple[float, str]:
    """The MB of WAL the sync said `slot` retains, and the line."""
    line = next((ln for ln in out.splitlines() if f"slot {slot} retains " in ln), None)
    assert line is not None, out
    return float(re.search(r"retains ([\d,.]+) MB of WAL", line).group(1).replace(",", "")), line


def test_retained_wal_is_said_warned_above_the_threshold_and_a_quiet_sync_advances_the_slot(lpg, lsql, tmp_path,
                                                                                           capfd):
    schema = "cdc_retained"
    loaded(lsql, schema, rows=100)
    config = logical_config(lpg, schema, wal_retained_warn_mb=1)
    state = run_sync(tmp_path, config)
    slot = state["replication"]["slot"]
    before = lsql("SELECT pg_current_wal_lsn()::text")[0][0]
    write_wal(lsql, schema, 3)  # none of it for the slot's publication: nothing to read, WAL held all the same
    written = lsql("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)::int8", [before])[0][0]
    assert written > 2 * MB
    state, out = sync_output(tmp_path, config, state, capfd)
    mb, line = retained(out, slot)
    assert mb * MB >= written - 0.05 * MB, (mb, written, line)
    assert line.endswith(f"above wal_retained_warn_mb=1. Sync more often, or drop the slot "
                         f"(SELECT pg_drop_replication_slot('{slot}');) if this connection is gone"), line
    position = "SELECT confirmed_flush_lsn::text, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::int8 " \
               "FROM pg_replication_slots WHERE slot_name = %s"
    (confirmed, _), = lsql(position, [slot])
    # nothing to read: the next sync still acknowledges the position the last one reached, and the WAL goes
    run_sync(tmp_path, config, state)
    mb_after, line = retained(capfd.readouterr().out, slot)
    (confirmed_after, held), = lsql(position, [slot])
    assert lsql("SELECT %s::pg_lsn > %s::pg_lsn", [confirmed_after, confirmed]) == [(True,)], (confirmed,
                                                                                               confirmed_after)
    assert mb_after < 1 and held < MB, (mb_after, held, line)
    assert "above wal_retained_warn_mb" not in line, line
    same(lsql, tmp_path, schema, "t", "id, val")

