"""Deletes and schema changes between syncs, through the SDK's runner into DuckDB: after a sync that completes, the
destination's live rows are the source's, key by key and value by value (issue 19, points 1 and 2)."""
import copy
import json
import signal
import subprocess
import sys
import time

import pytest
from connector_accel import sdk

from testkit import ROOT, connection_config, run_sync, warehouse
from testkit.compare import fresh, live, same


def deleted(tmp_path, schema: str, table: str, columns: str) -> list:
    return warehouse(tmp_path).execute(
        f'SELECT {columns} FROM "tester_{schema}"."{table}" WHERE _fivetran_deleted ORDER BY ALL').fetchall()


def churn(sql, table: str) -> None:
    """What a week does to a table: deletes, an update, a primary key changed, an insert."""
    sql(f"DELETE FROM {table} WHERE id % 10 = 0")
    sql(f"UPDATE {table} SET val = 'changed', updated_at = now() WHERE id = 11")
    sql(f"UPDATE {table} SET id = 100003 WHERE id = 3")
    sql(f"INSERT INTO {table} (id, val) VALUES (200000, 'new')")


@pytest.mark.parametrize("emit", ["auto", "sdk"])
def test_a_table_read_in_full_ends_with_exactly_the_source_rows_live(pg, sql, tmp_path, emit):
    fresh(sql, "del_full")
    # no cursor: read in full every sync; one table with a key, one without (keyed by row hash)
    sql("CREATE TABLE del_full.keyed (id int PRIMARY KEY, val text, updated_at timestamptz DEFAULT now())")
    sql("CREATE TABLE del_full.keyless (id int, val text, updated_at timestamptz DEFAULT now())")
    for t in ("keyed", "keyless"):
        sql(f"INSERT INTO del_full.{t} (id, val) SELECT g, 'v' || g FROM generate_series(1, 3000) g")
    config = connection_config(pg, schemas="del_full", emit=emit, batch_size=500, checkpoint_rows=1000,
                               cursor_columns='{"keyed": null, "keyless": null}')
    state = run_sync(tmp_path, config)
    for t in ("keyed", "keyless"):
        churn(sql, f"del_full.{t}")
    state = run_sync(tmp_path, config, state)
    for t in ("keyed", "keyless"):
        same(sql, tmp_path, "del_full", t, "id, val")
    gone = deleted(tmp_path, "del_full", "keyed", "id")
    assert gone == sorted([(i,) for i in range(10, 3001, 10)] + [(3,)])
    # the keyless table's old version of the updated row is marked deleted next to the new one
    assert (11, "v11") in deleted(tmp_path, "del_full", "keyless", "id, val")
    assert "reconciled_at" in state["tables"]["del_full.keyed"]


def cursor_table(sql, schema: str, rows: int = 3000) -> str:
    fresh(sql, schema)
    sql(f"CREATE TABLE {schema}.t (id int PRIMARY KEY, val text, updated_at timestamptz NOT NULL DEFAULT now())")
    sql(f"INSERT INTO {schema}.t (id, val) SELECT g, 'v' || g FROM generate_series(1, {rows}) g")
    return f"{schema}.t"


@pytest.mark.parametrize("emit", ["auto", "sdk"])
def test_delete_reconciliation_marks_the_keys_a_cursor_read_cannot_see(pg, sql, tmp_path, emit, capfd):
    table = cursor_table(sql, "del_cursor")
    config = connection_config(pg, schemas="del_cursor", emit=emit, batch_size=500, delete_reconciliation_hours="0")
    state = run_sync(tmp_path, config)
    assert state["tables"][table]["phase"] == "incremental"
    churn(sql, table)
    state = run_sync(tmp_path, config, state)
    assert state["tables"][table]["phase"] == "incremental"
    same(sql, tmp_path, "del_cursor", "t", "id, val")
    assert (3,) in deleted(tmp_path, "del_cursor", "t", "id")
    assert "del_cursor.t: delete reconciliation read 2,701 keys" in capfd.readouterr().out


def test_without_reconciliation_a_cursor_table_says_its_deletes_stay_live(pg, sql, tmp_path, capfd):
    table = cursor_table(sql, "del_off", 100)
    config = connection_config(pg, schemas="del_off")
    state = run_sync(tmp_path, config)
    sql(f"DELETE FROM {table} WHERE id = 5")
    run_sync(tmp_path, config, state)  # the full load found its deletes; this incremental read says it cannot
    out = capfd.readouterr().out
    assert ("del_off.t: rows deleted in the source stay live in the destination (a read by cursor 'updated_at' "
            "cannot see deletes); set delete_reconciliation_hours (e.g. 24)") in out
    assert (5,) in live(tmp_path, "del_off", "t", "id")


def test_reconciliation_runs_on_its_schedule_only(pg, sql, tmp_path, capfd):
    table = cursor_table(sql, "del_sched", 100)
    config = connection_config(pg, schemas="del_sched", delete_reconciliation_hours="24")
    state = run_sync(tmp_path, config)  # the full load reconciles, and starts the clock
    sql(f"DELETE FROM {table} WHERE id = 5")
    state = run_sync(tmp_path, config, state)
    assert "deletes since" in capfd.readouterr().out and (5,) in live(tmp_path, "del_sched", "t", "id")
    state["tables"][table]["reconciled_at"] = "2000-01-01T00:00:00+00:00"
    run_sync(tmp_path, config, state)
    same(sql, tmp_path, "del_sched", "t", "id, val")


def test_a_sync_that_dies_during_reconciliation_leaves_every_live_row_live(pg, sql, tmp_path, monkeypatch):
    table = cursor_table(sql, "del_dies")
    config = connection_config(pg, schemas="del_dies", batch_size=500, delete_reconciliation_hours="0")
    state = run_sync(tmp_path, config)
    before = live(tmp_path, "del_dies", "t", "id, val")
    sql(f"DELETE FROM {table} WHERE id % 10 = 0")
    emit_batches = sdk.TableSync._emit

    def dies_after_the_first_keys(self, reader, position, every, update=False):
        if not update:
            return emit_batches(self, reader, position, every)
        with reader:
            fast = sdk.emit.FastTable(self.policy, self.table, True) if self.policy.on else None
            fast.next(reader) if fast else self._emit_dicts(reader, True)
        raise RuntimeError("killed during the key scan")

    monkeypatch.setattr(sdk.TableSync, "_emit", dies_after_the_first_keys)
    with pytest.raises(Exception, match="killed during the key scan"):
        run_sync(tmp_path, config, copy.deepcopy(state))
    # nothing of the truncate or of the keys was written: the rows deleted since stay live, no live row is lost
    assert live(tmp_path, "del_dies", "t", "id, val") == before
    monkeypatch.undo()
    # what the next sync is given: the state the runner saved at the last checkpoint (here the first sync's)
    saved = json.loads((tmp_path / "files" / "state.json").read_text())
    assert saved == state
    run_sync(tmp_path, config, saved)
    same(sql, tmp_path, "del_dies", "t", "id, val")


def test_the_key_scan_keeps_the_tables_filters_and_soft_deletes(pg, sql, tmp_path):
    """A filter on a column the key scan does not select is still applied and typed; a soft-deleted row stays
    deleted; a row leaving the filter is marked deleted."""
    fresh(sql, "del_filt")
    sql("CREATE TABLE del_filt.t (id int PRIMARY KEY, qty int, val text, gone boolean NOT NULL DEFAULT false, "
        "updated_at timestamptz NOT NULL DEFAULT now())")
    sql("INSERT INTO del_filt.t (id, qty, val) SELECT g, g % 7, 'v' || g FROM generate_series(1, 700) g")
    filters = json.dumps({"del_filt.t": [{"column": "qty", "operator": "<", "value": "5"}]})
    config = connection_config(pg, schemas="del_filt", table_filters=filters, soft_delete_column="gone",
                               delete_reconciliation_hours="0")
    state = run_sync(tmp_path, config)
    sql("UPDATE del_filt.t SET gone = true, updated_at = now() WHERE id = 1")
    sql("DELETE FROM del_filt.t WHERE id = 2")
    sql("UPDATE del_filt.t SET qty = 6 WHERE id = 3")  # leaves the filter, with no cursor change
    run_sync(tmp_path, config, state)
    want = sql("SELECT id, qty, val FROM del_filt.t WHERE qty < 5 AND NOT gone ORDER BY 1, 2, 3")
    assert live(tmp_path, "del_filt", "t", "id, qty, val") == want
    assert {(1,), (2,), (3,)} <= set(deleted(tmp_path, "del_filt", "t", "id"))


KEY_TYPES = {
    "k_int": ("bigint", "g"),
    "k_numeric": ("numeric(20,5)", "g / 7.0"),
    "k_text": ("text", "'clé-' || g || ' ✓'"),
    "k_uuid": ("uuid", "md5(g::text)::uuid"),
    "k_date": ("date", "date '2000-01-01' + g"),
    "k_ts": ("timestamp", "timestamp '2020-01-01' + g * interval '1.000001 second'"),
    "k_tstz": ("timestamptz", "timestamptz '2020-01-01 00:00+05' + g * interval '1.000001 second'"),
    "k_bytea": ("bytea", "decode(md5(g::text), 'hex')"),
    "k_char": ("char(8)", "lpad(g::text, 5)"),
}


def test_every_key_type_is_confirmed_by_its_key_pass(pg, sql, tmp_path):
    """The key pass's update finds each row by its key as the upsert wrote it: no key type leaves a live row
    marked deleted."""
    fresh(sql, "del_keys")
    for name, (kind, value) in KEY_TYPES.items():
        sql(f"CREATE TABLE del_keys.{name} (k {kind}, n int, val text, PRIMARY KEY (k, n))")
        sql(f"INSERT INTO del_keys.{name} SELECT {value}, g % 3, 'v' || g FROM generate_series(1, 300) g")
    cursors = json.dumps({name: None for name in KEY_TYPES})
    run_sync(tmp_path, connection_config(pg, schemas="del_keys", cursor_columns=cursors))
    for name in KEY_TYPES:
        assert deleted(tmp_path, "del_keys", name, "n") == [], name
        assert len(live(tmp_path, "del_keys", name, "n, val")) == 300, name


# -- Point 2: a table that is not the one the last sync read is read again in full, with its deletes.

def test_a_column_added_with_a_default_reaches_every_old_row(pg, sql, tmp_path, capfd):
    table = cursor_table(sql, "sch_add", 500)
    state = run_sync(tmp_path, connection_config(pg, schemas="sch_add"))
    sql(f"ALTER TABLE {table} ADD COLUMN extra int NOT NULL DEFAULT 7")
    state = run_sync(tmp_path, connection_config(pg, schemas="sch_add"), state)
    same(sql, tmp_path, "sch_add", "t", "id, val, extra")
    assert "sch_add.t: its columns changed (added extra) since the last sync; it is read again in full" in capfd.readouterr().out


def test_a_renamed_column_is_filled_for_old_rows(pg, sql, tmp_path, capfd):
    table = cursor_table(sql, "sch_col", 500)
    state = run_sync(tmp_path, connection_config(pg, schemas="sch_col"))
    sql(f"ALTER TABLE {table} RENAME COLUMN val TO label")
    run_sync(tmp_path, connection_config(pg, schemas="sch_col"), state)
    same(sql, tmp_path, "sch_col", "t", "id, label")
    assert "its columns changed (added label; removed val)" in capfd.readouterr().out


def test_a_table_dropped_and_created_again_with_older_cursor_values_leaves_no_ghosts(pg, sql, tmp_path, capfd):
    table = cursor_table(sql, "sch_new", 500)
    config = connection_config(pg, schemas="sch_new", incremental_lookback_seconds="0")
    state = run_sync(tmp_path, config)
    sql(f"DROP TABLE {table}")
    sql(f"CREATE TABLE {table} (id int PRIMARY KEY, val text, updated_at timestamptz NOT NULL)")
    sql(f"INSERT INTO {table} SELECT g, 'again' || g, '2001-01-01' FROM generate_series(251, 600) g")
    run_sync(tmp_path, config, state)
    same(sql, tmp_path, "sch_new", "t", "id, val")
    assert "sch_new.t: it was dropped and created again (id " in capfd.readouterr().out


def test_a_renamed_table_loads_under_its_new_name_and_the_old_one_is_said_gone(pg, sql, tmp_path, capfd):
    table = cursor_table(sql, "sch_ren", 300)
    config = connection_config(pg, schemas="sch_ren")
    state = run_sync(tmp_path, config)
    sql(f"ALTER TABLE {table} RENAME TO renamed")
    state = run_sync(tmp_path, config, state)
    same(sql, tmp_path, "sch_ren", "renamed", "id, val")
    assert live(tmp_path, "sch_ren", "t", "id") == [] and len(deleted(tmp_path, "sch_ren", "t", "id")) == 300
    assert ("sch_ren.t: gone from the source (dropped or renamed) or no longer selected; its rows in the destination "
            "are marked deleted") in capfd.readouterr().out
    assert list(state["tables"]) == ["sch_ren.renamed"]


def test_a_full_read_killed_half_way_loses_no_live_row_and_the_rerun_is_exact(pg, sql, tmp_path):
    """A table read in full every sync, killed (SIGKILL) after a mid-table checkpoint of its second sync: what the
    destination shows then is every row it showed before (the deleted ones still live), and the rerun resumes the
    load, runs the key pass and ends equal to the source."""
    fresh(sql, "del_kill")
    sql("CREATE TABLE del_kill.t (id int PRIMARY KEY, val text)")
    sql("INSERT INTO del_kill.t SELECT g, md5(g::text) FROM generate_series(1, 60000) g")
    config = connection_config(pg, schemas="del_kill", checkpoint_rows=5000, batch_size=1000,
                               sync_validation="false", source_metadata="false")
    (tmp_path / "configuration.json").write_text(json.dumps(config))
    command = [sys.executable, "-m", "testkit.sync_once", str(tmp_path)]
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before = live(tmp_path, "del_kill", "t", "id, val")
    sql("DELETE FROM del_kill.t WHERE id % 100 = 0")
    sql("UPDATE del_kill.t SET val = 'changed' WHERE id = 7")
    state_file = tmp_path / "files" / "state.json"
    first = state_file.read_text()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if state_file.read_text() != first and '"after"' in state_file.read_text():
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the sync finished before it could be killed; raise the row count"
    halfway = dict(live(tmp_path, "del_kill", "t", "id, val"))
    assert sorted(halfway) == [i for i, _ in before], "no live row was marked deleted by the sync that died"
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    same(sql, tmp_path, "del_kill", "t", "id, val")


def test_a_first_load_starts_with_its_truncate_and_a_reset_state_ends_exact(pg, sql, tmp_path, capfd):
    """A table this state never loaded sends one truncate before its first row and no key pass after its last: the
    rows a reset state's destination held that the source no longer holds end marked deleted all the same."""
    fresh(sql, "del_reset")
    sql("CREATE TABLE del_reset.t (id int PRIMARY KEY, val text, updated_at timestamptz DEFAULT now())")
    sql("INSERT INTO del_reset.t SELECT g, 'v' || g FROM generate_series(1, 3000) g")
    config = connection_config(pg, schemas="del_reset", batch_size=500, checkpoint_rows=1000)
    run_sync(tmp_path, config)
    out = capfd.readouterr().out
    assert "del_reset.t: first load of this table by this state: a truncate before its first row" in out
    assert "del_reset.t: delete reconciliation read" not in out
    churn(sql, "del_reset.t")
    state = run_sync(tmp_path, config, {})  # the state reset: the destination still holds the first load's rows
    same(sql, tmp_path, "del_reset", "t", "id, val")
    assert deleted(tmp_path, "del_reset", "t", "id") == sorted([(i,) for i in range(10, 3001, 10)] + [(3,)])
    assert "reconciled_at" in state["tables"]["del_reset.t"]


def test_a_first_load_killed_after_its_truncate_resumes_without_it_and_ends_exact(pg, sql, tmp_path):
    """A first load killed (SIGKILL) after its truncate and a mid-table checkpoint: the rerun resumes from the saved
    position with no second truncate and runs the key pass at its end, so the rows deleted at the source after the
    kill and read before it are marked deleted, and every other row is live."""
    from testkit.resume import mid_table

    fresh(sql, "del_first")
    sql("CREATE TABLE del_first.t (id int PRIMARY KEY, val text)")
    sql("INSERT INTO del_first.t SELECT g, md5(g::text) FROM generate_series(1, 60000) g")
    config = connection_config(pg, schemas="del_first", checkpoint_rows=5000, batch_size=1000,
                               sync_validation="false", source_metadata="false")
    (tmp_path / "configuration.json").write_text(json.dumps(config))
    command = [sys.executable, "-m", "testkit.sync_once", str(tmp_path)]
    state_file = tmp_path / "files" / "state.json"
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if mid_table(state_file, "del_first.t"):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the sync finished before it could be killed; raise the row count"
    read_before = [i for (i,) in live(tmp_path, "del_first", "t", "id")]
    assert 0 < len(read_before) < 60000
    sql("DELETE FROM del_first.t WHERE id % 100 = 0")
    rerun = subprocess.run(command, check=True, cwd=ROOT, capture_output=True, text=True)
    assert "first load of this table" not in rerun.stdout + rerun.stderr, "the resume truncated again"
    same(sql, tmp_path, "del_first", "t", "id, val")
    # the rows deleted after the kill that the destination holds: those read before it (the others never landed)
    gone = [i for (i,) in deleted(tmp_path, "del_first", "t", "id")]
    assert gone == [i for i in read_before if i % 100 == 0] and gone
