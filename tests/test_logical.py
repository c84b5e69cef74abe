"""Change data capture by logical replication (issue 23), through the SDK's runner into DuckDB, against a real
PostgreSQL started with wal_level = logical: after each sync the destination's live rows are the source's, key by
key and value by value."""
import json
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from testkit import ROOT, connection_config, conninfo, run_sync, warehouse
from testkit.compare import fresh, id_val_table, same
from testkit.logical import logical_config, slots, sync_output, toasted_text


@pytest.mark.parametrize("emit", ["auto", "sdk"])
def test_inserts_updates_deletes_key_changes_and_truncate_arrive(lpg, lsql, tmp_path, emit, capfd):
    schema = f"cdc_basic_{emit}"
    fresh(lsql, schema)
    lsql(f"CREATE TABLE {schema}.t (id int PRIMARY KEY, val text, n numeric(12,2), ts timestamptz, tags text[], "
         "span interval)")
    lsql(f"INSERT INTO {schema}.t SELECT g, 'v' || g, g / 4.0, '2024-01-01'::timestamptz + g * interval '1 hour', "
         "ARRAY['a', g::text], g * interval '1 minute' FROM generate_series(1, 2000) g")
    config = logical_config(lpg, schema, emit=emit)
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


def test_changes_written_during_the_first_load_converge(lpg, lsql, tmp_path):
    """The slot is created before the load's snapshot; changes committed while the load reads are in the snapshot
    and in the log, and replaying them in commit order on top of the load converges."""
    from testkit import sync_alongside

    schema = "cdc_during"
    fresh(lsql, schema)
    id_val_table(lsql, schema, 100000)
    config = logical_config(lpg, schema, batch_size=2000)

    def writer(done):
        i = 0
        while not done.is_set() and i < 400:
            lsql(f"UPDATE {schema}.t SET val = 'w{i}' WHERE id = {1 + i * 97 % 100000}")
            lsql(f"DELETE FROM {schema}.t WHERE id = {50000 + i}")
            lsql(f"INSERT INTO {schema}.t VALUES ({200000 + i}, 'new{i}')")
            i += 1

    state = sync_alongside(tmp_path, config, writer)
    state = run_sync(tmp_path, config, state)
    same(lsql, tmp_path, schema, "t", "id, val")


def test_a_sync_killed_during_catch_up_loses_nothing(lpg, lsql, tmp_path):
    """Three syncs SIGKILLed at random points of a catch-up over 300 transactions (~90,300 events), then one that completes: the
    destination is the source's, and the slot was never advanced past a durable checkpoint."""
    import random

    schema = "cdc_kill"
    fresh(lsql, schema)
    lsql(f"CREATE TABLE {schema}.t (id int PRIMARY KEY, val text, n int)")
    # 90,000 rows: the 300 transactions below carry ~90,300 events, a catch-up of seconds even where it decodes
    # fast (with 30,000 rows it took about a second, and the kills came after it)
    lsql(f"INSERT INTO {schema}.t SELECT g, 'v' || g, 0 FROM generate_series(1, 90000) g")
    config = logical_config(lpg, schema)
    (tmp_path / "configuration.json").write_text(json.dumps(config))
    command = [sys.executable, "-m", "testkit.sync_once", str(tmp_path)]
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with psycopg.connect(**conninfo(lpg), autocommit=True) as conn:
        for i in range(300):
            conn.execute(f"UPDATE {schema}.t SET n = n + 1, val = 'u{i}' WHERE id % 300 = {i}")
            conn.execute(f"DELETE FROM {schema}.t WHERE id = {i * 7 + 1}")
    rng = random.Random(23)
    killed_mid_catch_up = 0
    for attempt in range(3):
        output = tmp_path / f"run{attempt}.log"
        with open(output, "w") as out:
            # unbuffered: the log lines this loop waits for must reach the file as they are written (a shell
            # without PYTHONUNBUFFERED, as a fresh clone's test.sh under `env -i` had, buffered them to the end)
            proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                    env=dict(os.environ, PYTHONUNBUFFERED="1"))
        deadline = time.monotonic() + 120
        # the catch-up has begun: kill it at a random moment of it
        while proc.poll() is None and time.monotonic() < deadline and "reading changes up to" not in output.read_text():
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 0.8))
        killed_mid_catch_up += proc.poll() is None and "change events applied" not in output.read_text()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    same(lsql, tmp_path, schema, "t", "id, val, n")
    assert killed_mid_catch_up >= 2, "the kills came too late to interrupt the catch-up"


def test_a_dropped_slot_is_said_and_every_table_loaded_again(lpg, lsql, tmp_path, capfd):
    schema = "cdc_dropped"
    fresh(lsql, schema)
    id_val_table(lsql, schema, 3000)
    config = logical_config(lpg, schema)
    state = run_sync(tmp_path, config)
    slot = state["replication"]["slot"]
    lsql(f"SELECT pg_drop_replication_slot('{slot}')")
    # changes made while no slot held them: only a reload can see them
    lsql(f"DELETE FROM {schema}.t WHERE id <= 100")
    lsql(f"UPDATE {schema}.t SET val = 'gap' WHERE id BETWEEN 200 AND 210")
    state, out = sync_output(tmp_path, config, state, capfd)
    same(lsql, tmp_path, schema, "t", "id, val")
    assert f"{schema}.t: slot {slot} no longer exists (dropped?)" in out and "loaded again in full" in out, out
    assert slot in slots(lsql)
    lsql(f"UPDATE {schema}.t SET val = 'after' WHERE id = 500")
    run_sync(tmp_path, config, state)
    same(lsql, tmp_path, schema, "t", "id, val")


def test_an_unchanged_toasted_value_is_never_written_over(lpg, lsql, tmp_path, capfd, monkeypatch):
    from testkit import count_operations

    schema = "cdc_toast"
    fresh(lsql, schema)
    lsql(f"CREATE TABLE {schema}.t (id int PRIMARY KEY, n int, big text)")
    # incompressible and far over the TOAST threshold, so it is stored out of line
    lsql(f"INSERT INTO {schema}.t SELECT g, 0, {toasted_text(400)} FROM generate_series(1, 20) g")
    config = logical_config(lpg, schema)
    state = run_sync(tmp_path, config)
    lsql(f"UPDATE {schema}.t SET n = 1 WHERE id <= 10")
    calls = count_operations(monkeypatch, "t")
    state = run_sync(tmp_path, config, state)
    same(lsql, tmp_path, schema, "t", "id, n, md5(big)")
    assert calls["upsert"] == 0, calls  # the ten updates went as op.update, without the big column
    lengths = warehouse(tmp_path).execute(f'SELECT min(length(big)) FROM "tester_{schema}".t').fetchone()[0]
    assert lengths == 400 * 32


def test_a_table_without_a_key_is_named_and_stays_on_the_full_read(lpg, lsql, tmp_path, capfd):
    schema = "cdc_keyless"
    fresh(lsql, schema)
    lsql(f"CREATE TABLE {schema}.keyed (id int PRIMARY KEY, val text)")
    lsql(f"CREATE TABLE {schema}.bag (id int, val text)")
    for t in ("keyed", "bag"):
        lsql(f"INSERT INTO {schema}.{t} SELECT g, 'v' || g FROM generate_series(1, 500) g")
    config = logical_config(lpg, schema)
    state = run_sync(tmp_path, config)
    out = capfd.readouterr().out
    assert f"{schema}.bag: not replicated from the log: it has no primary key" in out, out
    for t in ("keyed", "bag"):
        lsql(f"DELETE FROM {schema}.{t} WHERE id % 5 = 0")
        lsql(f"UPDATE {schema}.{t} SET val = 'x' WHERE id = 7")
    run_sync(tmp_path, config, state)
    for t in ("keyed", "bag"):
        same(lsql, tmp_path, schema, t, "id, val")
    # the keyless table was not added to the publication (its updates would then fail on the source)
    published = lsql("SELECT tablename FROM pg_publication_tables WHERE pubname = %s", [state["replication"]["slot"]])
    assert published == [("keyed",)]


def test_columns_added_and_dropped_reload_the_table(lpg, lsql, tmp_path, capfd):
    schema = "cdc_ddl"
    fresh(lsql, schema)
    lsql(f"CREATE TABLE {schema}.t (id int PRIMARY KEY, val text, old int)")
    lsql(f"INSERT INTO {schema}.t SELECT g, 'v' || g, g FROM generate_series(1, 1000) g")
    config = logical_config(lpg, schema)
    state = run_sync(tmp_path, config)
    lsql(f"UPDATE {schema}.t SET val = 'before' WHERE id = 1")
    lsql(f"ALTER TABLE {schema}.t ADD COLUMN flag text DEFAULT 'yes'")  # the log carries no row for the default
    lsql(f"UPDATE {schema}.t SET val = 'after', flag = 'no' WHERE id = 2")
    state = run_sync(tmp_path, config, state)
    same(lsql, tmp_path, schema, "t", "id, val, old, flag")
    lsql(f"ALTER TABLE {schema}.t DROP COLUMN old")
    lsql(f"INSERT INTO {schema}.t (id, val) VALUES (5001, 'later')")
    state = run_sync(tmp_path, config, state)
    same(lsql, tmp_path, schema, "t", "id, val, flag")
    lsql(f"UPDATE {schema}.t SET flag = 'again' WHERE id = 3")
    _, out = sync_output(tmp_path, config, state, capfd)
    assert "its changes came from the log" in out
    same(lsql, tmp_path, schema, "t", "id, val, flag")


def test_partition_changes_land_in_the_parent_and_attach_detach_reload(lpg, lsql, tmp_path, capfd):
    schema = "cdc_parts"
    fresh(lsql, schema)
    lsql(f"CREATE TABLE {schema}.p (id int PRIMARY KEY, val text) PARTITION BY RANGE (id)")
    lsql(f"CREATE TABLE {schema}.p1 PARTITION OF {schema}.p FOR VALUES FROM (0) TO (1000)")
    lsql(f"CREATE TABLE {schema}.p2 PARTITION OF {schema}.p FOR VALUES FROM (1000) TO (2000)")
    lsql(f"INSERT INTO {schema}.p SELECT g, 'v' || g FROM generate_series(0, 1999) g")
    config = logical_config(lpg, schema)
    state = run_sync(tmp_path, config)
    lsql(f"DELETE FROM {schema}.p WHERE id = 1500")
    lsql(f"UPDATE {schema}.p SET val = 'moved', id = 1500 WHERE id = 5")  # a key change that crosses partitions
    lsql(f"UPDATE {schema}.p2 SET val = 'in p2' WHERE id = 1600")  # written to the partition itself
    state = run_sync(tmp_path, config, state)
    same(lsql, tmp_path, schema, "p", "id, val")
    lsql(f"CREATE TABLE {schema}.p3 (id int PRIMARY KEY, val text)")
    lsql(f"INSERT INTO {schema}.p3 SELECT g, 'attached' FROM generate_series(2000, 2099) g")
    lsql(f"ALTER TABLE {schema}.p ATTACH PARTITION {schema}.p3 FOR VALUES FROM (2000) TO (3000)")
    lsql(f"ALTER TABLE {schema}.p DETACH PARTITION {schema}.p1")
    state, out = sync_output(tmp_path, config, state, capfd)
    same(lsql, tmp_path, schema, "p", "id, val")
    assert f"{schema}.p: its partitions changed" in out


def test_a_big_transaction_and_the_retained_wal_said(lpg, lsql, tmp_path, capfd):
    schema = "cdc_big"
    fresh(lsql, schema)
    lsql(f"CREATE TABLE {schema}.t (id int PRIMARY KEY, val text)")
    config = logical_config(lpg, schema)
    state = run_sync(tmp_path, config)
    lsql(f"INSERT INTO {schema}.t SELECT g, 'v' || g FROM generate_series(1, 100000) g")  # one transaction
    state, out = sync_output(tmp_path, config, state, capfd)
    assert "100,000 change events applied" in out and "MB of WAL on the server" in out, out
    same(lsql, tmp_path, schema, "t", "id, val")


def test_read_changes_yields_events_with_operation_and_position(lpg, lsql):
    from connector_accel import read_changes

    schema = "cdc_library"
    fresh(lsql, schema)
    lsql(f"CREATE TABLE {schema}.t (id int PRIMARY KEY, val text)")
    config = connection_config(lpg, schemas=schema, replication_slot="cdc_library_slot", publication="cdc_library")
    first = list(read_changes(config))  # creates the slot: nothing before it
    assert first[-1]["op"] == "end" and len(first) == 1
    lsql(f"INSERT INTO {schema}.t VALUES (1, 'a'), (2, 'b')")
    lsql(f"UPDATE {schema}.t SET val = 'c' WHERE id = 1")
    lsql(f"DELETE FROM {schema}.t WHERE id = 2")
    lsql(f"TRUNCATE {schema}.t")
    events = list(read_changes(config, after=first[-1]["lsn"]))
    assert [(e["op"], e.get("row")) for e in events[:-1]] == [
        ("upsert", {"id": 1, "val": "a"}), ("upsert", {"id": 2, "val": "b"}), ("upsert", {"id": 1, "val": "c"}),
        ("delete", {"id": 2}), ("truncate", {})]
    assert events[0]["lsn"] < events[2]["lsn"] or len(events[0]["lsn"]) < len(events[2]["lsn"])
    # from the end position on, nothing is read again: the slot was advanced to it
    assert [e["op"] for e in read_changes(config, after=events[-1]["lsn"])] == ["end"]
    assert lsql("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'cdc_library_slot'") \
        == [(events[-1]["lsn"],)]
