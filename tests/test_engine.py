"""The engine against a real server: partitions on one snapshot, backends terminated mid-read, the process killed
at random points, incremental syncs with soft deletes and a late commit, hostile filter and preprocessing values."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from testkit import ROOT, connection_config, conninfo, run_sync, sync_alongside, warehouse
from testkit.resume import keys_left, keys_synced_since, last_synced, upserted_by

ROWS = "SELECT id, grp, payload FROM {} ORDER BY id"


def engine_table(sql, name: str, columns: str) -> None:
    """engine.`name` made again, empty, with `columns`; the schema is made if missing, never dropped (it holds the
    other tests' tables)."""
    sql("CREATE SCHEMA IF NOT EXISTS engine")
    sql(f"DROP TABLE IF EXISTS engine.{name}")
    sql(f"CREATE TABLE engine.{name} ({columns})")


def make_big(sql, name: str, rows: int) -> None:
    engine_table(sql, name, "id bigint PRIMARY KEY, grp int NOT NULL, payload text")
    # Skewed keys: most ids are small, a tail is spread far out (equal-width ranges would be badly uneven).
    sql(f"INSERT INTO engine.{name} SELECT CASE WHEN g % 10 = 0 THEN g * 1000 ELSE g END, g % 7, md5(g::text) "
        f"FROM generate_series(1, {rows}) g")
    sql(f"ANALYZE engine.{name}")


def engine_config(pg, table: str, **extra) -> dict:
    settings = dict(schemas="engine", tables=f"engine.{table}", small_table_rows="1000", retry_sleep_seconds="0.2",
                    sync_validation="false", source_metadata="false")
    return connection_config(pg, **{**settings, **extra})


def test_plan_partitions_follow_the_data_and_union_to_the_table(pg, sql):
    import connector_accel as ca
    make_big(sql, "planned", 50_000)
    source = ca.Source(engine_config(pg, "planned", partitions="4"))
    plan = source.plan("engine", "planned")
    assert plan["tier"] == "medium" and len(plan["partitions"]) == 4, plan
    counts = []
    for part in plan["partitions"]:
        with source.read("engine", "planned", partitions=[part]) as reader:
            counts.append(sum(len(b) for b in reader))
    assert sum(counts) == 50_000
    # quantile cuts: every range holds a fair share although 10% of the keys spread to 50 million
    assert min(counts) > 50_000 / 4 * 0.5, counts
    with source.read("engine", "planned", partitions=plan["partitions"]) as reader:
        ids = sorted(row["id"] for batch in reader for row in batch)
    assert ids == [r[0] for r in sql("SELECT id FROM engine.planned ORDER BY id")]


def test_a_table_above_the_sample_minimum_is_cut_from_a_page_sample(pg, sql):
    """1,000,000 rows, above SAMPLE_MIN (200,000 keys): the plan reads a page sample of about a fifth of the table,
    not every key. Its cut points are therefore not the exact quantiles (a full read would give those), yet every
    one of the 4 ranges of the skewed key holds a fair share."""
    import connector_accel as ca
    make_big(sql, "sampled", 1_000_000)
    source = ca.Source(engine_config(pg, "sampled", partitions="4"))
    parts = source.plan("engine", "sampled")["partitions"]
    assert len(parts) == 4
    cuts = [int(p["hi"][0]) for p in parts[:-1]]
    ids = [i for (i,) in sql("SELECT id FROM engine.sampled ORDER BY id")]
    exact = [ids[i * len(ids) // 4] for i in range(1, 4)]
    assert cuts != exact, "every key was read: the page sample was not used"
    bounds = [None, *cuts, None]
    counts = [sql("SELECT count(*) FROM engine.sampled WHERE (%(lo)s::bigint IS NULL OR id > %(lo)s) "
                  "AND (%(hi)s::bigint IS NULL OR id <= %(hi)s)", {"lo": lo, "hi": hi})[0][0]
              for lo, hi in zip(bounds, bounds[1:], strict=False)]
    assert sum(counts) == 1_000_000
    assert min(counts) > 1_000_000 / 4 * 0.8 and max(counts) < 1_000_000 / 4 * 1.2, counts


def test_the_server_sends_only_the_cut_points_of_the_sample(pg, sql):
    """The cut points computed by the server from a whole sample (the table is small enough to sample every page)
    are the keys at ranks i*n/partitions of the sorted keys, also for a composite key with text in it."""
    import connector_accel as ca
    engine_table(sql, "cuts", "region text, n int, PRIMARY KEY (region, n)")
    sql("INSERT INTO engine.cuts SELECT 'r' || (g % 13), g FROM generate_series(1, 20000) g")
    sql("ANALYZE engine.cuts")
    keys = [[r, str(n)] for r, n in sql("SELECT region, n FROM engine.cuts ORDER BY region, n")]
    for wanted in (2, 5, 7):
        source = ca.Source(engine_config(pg, "cuts", partitions=str(wanted)))
        plan = source.plan("engine", "cuts")
        assert [p["hi"] for p in plan["partitions"][:-1]] == [keys[i * len(keys) // wanted] for i in
                                                               range(1, wanted)], wanted
    # A single-column key is cut at the sample's quantiles (one sort, no window): the key of rank i*n/partitions,
    # or the one before it where that rank is a whole number (percentile_disc's smallest key reaching i/partitions).
    sql("DROP TABLE IF EXISTS engine.cuts1")
    sql("CREATE TABLE engine.cuts1 (k text PRIMARY KEY, v int)")
    sql("INSERT INTO engine.cuts1 SELECT md5(g::text), g FROM generate_series(1, 20000) g")
    sql("ANALYZE engine.cuts1")
    keys = [k for (k,) in sql("SELECT k FROM engine.cuts1 ORDER BY k")]
    for wanted in (2, 5, 7):
        source = ca.Source(engine_config(pg, "cuts1", partitions=str(wanted)))
        cuts = [p["hi"][0] for p in source.plan("engine", "cuts1")["partitions"][:-1]]
        ranks = [keys.index(c) for c in cuts]
        assert [i * len(keys) // wanted - r for i, r in enumerate(ranks, 1)] in (
            [0] * (wanted - 1), [1] * (wanted - 1)) and len(set(ranks)) == wanted - 1, (wanted, ranks)


def test_terminated_backends_are_retried_and_nothing_is_lost(pg, sql, tmp_path, capsys):
    """Partition backends terminated mid-read: each retry continues after the last row its partition handed over,
    so the sync emits every row once (not only the upserts' end result) and the warehouse is exact."""
    make_big(sql, "terminated", 300_000)
    config = engine_config(pg, "terminated", partitions="3", batch_size="500", max_retries="3")
    kills = []

    def killer(done):
        time.sleep(0.3)
        while not done.is_set() and len(kills) < 4:
            got = sql("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                      "WHERE application_name LIKE 'connector_accel partition%' AND pid <> pg_backend_pid()")
            if got[0][0]:
                kills.append(got[0][0])
            time.sleep(0.4)

    sync_alongside(tmp_path, config, killer)
    assert len(kills) >= 3, f"the read ended before its backends could be terminated often: {kills}"
    out = capsys.readouterr().out
    assert "engine.terminated: full done, 300,000 rows upserted" in out, "a retried partition re-emitted rows"
    got = warehouse(tmp_path).execute(ROWS.format("tester_engine.terminated")).fetchall()
    assert got == sql(ROWS.format("engine.terminated"))


def test_a_stalled_server_is_noticed_and_the_read_resumes(pg, sql, tmp_path, capsys):
    """The reading backend stopped (SIGSTOP) mid-read: after read_timeout_seconds of silence the attempt fails as
    transient and the retry, on a new session, resumes after the last key; the warehouse ends exact."""
    if os.environ.get("CONNECTOR_ACCEL_TEST_DSN"):
        pytest.skip("the server's processes are not on this machine")
    # 2 KB rows: the socket buffers hold a few thousand of them, less than the 8 s stop, however slowly a loaded
    # host consumes them (with short rows they held long enough to hide the stop from the watchdog)
    make_big(sql, "stalled", 30_000)
    sql("UPDATE engine.stalled SET payload = repeat(payload, 64)")
    config = engine_config(pg, "stalled", partitions="1", batch_size="500", read_timeout_seconds="2",
                           max_retries="3")
    stopped = []

    def staller(done):
        while not done.is_set() and not stopped:
            # the full read's backend (it selects payload), not that of the key scan that follows it
            found = sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'connector_accel partition 1' "
                        "AND state = 'active' AND query LIKE '%%payload%%'")
            if found:
                os.kill(found[0][0], signal.SIGSTOP)
                stopped.append(found[0][0])
                time.sleep(8)  # well past the 2 s watchdog
                os.kill(found[0][0], signal.SIGCONT)
            time.sleep(0.05)

    sync_alongside(tmp_path, config, staller)
    assert stopped, "the read ended before its backend could be stopped"
    assert "no data from the server for 2s" in capsys.readouterr().out
    got = warehouse(tmp_path).execute(ROWS.format("tester_engine.stalled")).fetchall()
    assert got == sql(ROWS.format("engine.stalled"))


def test_a_statement_silent_before_its_first_answer_is_retried(pg, sql, tmp_path, capsys):
    """The read's statement waits on a lock before the server answers at all (no description, no row): the
    watchdog covers that wait too, so the attempt fails as transient after read_timeout_seconds and the retry
    reads the table once the lock is gone."""
    import threading

    make_big(sql, "waiting", 5_000)
    locked = threading.Event()

    def hold_lock(done):
        with psycopg.connect(**conninfo(pg)) as conn:
            conn.execute("LOCK TABLE engine.waiting IN ACCESS EXCLUSIVE MODE")
            locked.set()
            time.sleep(3.5)
            conn.rollback()

    holder = threading.Thread(target=hold_lock, args=(None,))
    holder.start()
    assert locked.wait(10)
    try:
        run_sync(tmp_path, engine_config(pg, "waiting", partitions="1", read_timeout_seconds="2", max_retries="5"))
    finally:
        holder.join()
    assert "reading engine.waiting partition 1: no data from the server for 2s" in capsys.readouterr().out
    got = warehouse(tmp_path).execute(ROWS.format("tester_engine.waiting")).fetchall()
    assert got == sql(ROWS.format("engine.waiting"))


def test_killed_process_resumes_from_its_partitions(pg, sql, tmp_path):
    """Killed at random points after fresh checkpoints, then run to the end: every run after the first writes only
    rows after its partitions' own saved keys (no row before a checkpoint is emitted twice), and the last run
    writes exactly the rows the saved positions left."""
    make_big(sql, "killed", 200_000)
    config = engine_config(pg, "killed", partitions="4", batch_size="1000", checkpoint_rows="5000")
    (tmp_path / "configuration.json").write_text(json.dumps(config))
    state_file = tmp_path / "files" / "state.json"
    command = [sys.executable, "-m", "testkit.sync_once", str(tmp_path)]
    source_keys = [(i,) for (i,) in sql("SELECT id FROM engine.killed")]
    rng = random.Random(20261121)
    kills = resumed = 0
    for round_ in range(4):
        saved, since = saved_partitions(state_file, "engine.killed"), None
        if saved:
            since = last_synced(tmp_path, "tester_engine.killed")
        output = tmp_path / f"run{round_}.log"
        with open(output, "w") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        before = state_file.read_text() if state_file.exists() else ""
        deadline = time.monotonic() + 60
        while round_ < 3 and proc.poll() is None and time.monotonic() < deadline:
            if state_file.exists() and state_file.read_text() != before:
                time.sleep(rng.uniform(0.0, 0.5))  # somewhere after a fresh checkpoint, at a random point
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        proc.wait(timeout=120)
        killed = proc.returncode == -signal.SIGKILL
        assert killed or proc.returncode == 0, proc.returncode
        kills += killed
        if saved:
            resumed += 1
            written = keys_synced_since(tmp_path, "tester_engine.killed", "id", since)
            left = keys_left(saved, source_keys, lambda key: (int(key[0]),))
            assert len(left) < len(source_keys), "the saved positions skip the rows already loaded"
            if killed:
                assert set(written) <= set(left), "a killed run re-emitted rows before its partitions' saved keys"
            else:
                # Its key pass touched every row, so the rows it upserted are counted from its log.
                assert set(left) <= set(written)
                assert upserted_by(output.read_text(), "engine.killed") == len(left), \
                    "the last run upserted other rows than its partitions' saved keys leave"
    assert kills >= 2 and resumed == kills, f"killed {kills} times, resumed {resumed} times; raise the row count"
    got = warehouse(tmp_path).execute(ROWS.format("tester_engine.killed")).fetchall()
    assert got == sql(ROWS.format("engine.killed"))


def saved_partitions(state_file, table: str) -> list:
    """The partitions (with their saved positions) of `table`'s interrupted full load in the state; [] if none."""
    try:
        entry = json.loads(state_file.read_text())["tables"][table]
    except (OSError, ValueError, KeyError):
        return []
    parts = entry.get("plan", {}).get("partitions", [])
    return parts if entry.get("phase") == "full" and any(p.get("after") for p in parts) else []


def live_rows(tmp_path, table):
    return warehouse(tmp_path).execute(
        f"SELECT id, val, _is_deleted FROM tester_engine.{table} WHERE NOT _fivetran_deleted ORDER BY id").fetchall()


def test_incremental_sync_captures_changes_deletes_and_a_late_commit(pg, sql, tmp_path):
    engine_table(sql, "changing", "id int PRIMARY KEY, val text, _is_deleted boolean NOT NULL DEFAULT false, "
                 "created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now()")
    sql("INSERT INTO engine.changing (id, val) SELECT g, 'v' || g FROM generate_series(1, 1000) g")
    # look-back 0: only the open-writer guard can save the late commit
    config = connection_config(pg, schemas="engine", tables="engine.changing", soft_delete_column="_is_deleted",
                               incremental_lookback_seconds="0")
    state = run_sync(tmp_path, config)
    entry = state["tables"]["engine.changing"]
    assert entry["phase"] == "incremental" and entry["cursor"] == "updated_at", entry

    late = psycopg.connect(**conninfo(pg))  # a writer that starts first and commits last
    late.execute("UPDATE engine.changing SET val = 'late', updated_at = now() WHERE id = 5")
    time.sleep(0.05)
    sql("INSERT INTO engine.changing (id, val) VALUES (1001, 'new')")
    sql("UPDATE engine.changing SET val = 'changed', updated_at = now() WHERE id = 7")
    sql("UPDATE engine.changing SET _is_deleted = true, updated_at = now() WHERE id = 9")
    state = run_sync(tmp_path, config, state)
    late.commit()
    late.close()
    state = run_sync(tmp_path, config, state)

    want = [(i, v, d) for i, v, d in sql("SELECT id, val, _is_deleted FROM engine.changing ORDER BY id") if not d]
    assert live_rows(tmp_path, "changing") == want
    assert (5, "late", False) in want and 9 not in [r[0] for r in want]


def test_incremental_reads_only_changed_rows(pg, sql, tmp_path):
    engine_table(sql, "quiet", "id int PRIMARY KEY, val text, modified timestamp NOT NULL DEFAULT now()")
    sql("INSERT INTO engine.quiet SELECT g, 'v', now() - g * interval '1 second' FROM generate_series(1, 5000) g")
    config = connection_config(pg, schemas="engine", tables="engine.quiet", incremental_lookback_seconds="0")
    state = run_sync(tmp_path, config)
    sql("UPDATE engine.quiet SET val = 'w', modified = now() + interval '1 second' WHERE id IN (10, 20)")
    run_sync(tmp_path, config, state)
    got = warehouse(tmp_path).execute(
        "SELECT sync_pass, phase, rows_upserted FROM tester.sync_validation WHERE table_name = 'quiet' ORDER BY 1").fetchall()
    # the row at the high-water mark is read again (the lower bound is inclusive, so a tie is never lost)
    assert got == [(1, "full", 5000), (2, "incremental", 3)], got
    assert warehouse(tmp_path).execute("SELECT count(*) FROM tester_engine.quiet WHERE val = 'w'").fetchone()[0] == 2


def test_a_future_dated_cursor_does_not_hide_later_changes(pg, sql, tmp_path, capsys):
    engine_table(sql, "future", "id int PRIMARY KEY, val text, updated_at timestamptz NOT NULL")
    sql("INSERT INTO engine.future SELECT g, 'v', now() - g * interval '1 minute' FROM generate_series(1, 100) g")
    sql("INSERT INTO engine.future VALUES (999, 'typo', '2099-01-01')")  # stamped in the future
    config = connection_config(pg, schemas="engine", tables="engine.future", incremental_lookback_seconds="0")
    state = run_sync(tmp_path, config)
    assert "engine.future: 1 rows have a cursor value after the server's clock" in capsys.readouterr().out
    assert state["tables"]["engine.future"]["mark"]["high"] < "2099", "the mark stops at the server's clock"
    sql("INSERT INTO engine.future VALUES (1000, 'later', now())")
    sql("UPDATE engine.future SET val = 'changed', updated_at = now() WHERE id = 5")
    run_sync(tmp_path, config, state)
    got = dict(warehouse(tmp_path).execute("SELECT id, val FROM tester_engine.future WHERE id IN (5, 999, 1000)")
               .fetchall())
    assert got == {5: "changed", 999: "typo", 1000: "later"}, "changes after the future-dated row still arrive"


def test_a_json_value_outside_its_sampled_type_arrives_whole_and_the_sync_goes_on(pg, sql, tmp_path, capsys):
    engine_table(sql, "docs", "id int PRIMARY KEY, doc jsonb")
    sql("INSERT INTO engine.docs SELECT g, jsonb_build_object('n', g, 'k', 'v') FROM generate_series(1, 10) g")
    sql("""INSERT INTO engine.docs VALUES (11, '{"n": "eleven", "k": "v"}'), (12, '{"n": 12, "k": "w"}')""")
    config = connection_config(pg, schemas="engine", tables="engine.docs", flatten_sample_rows="10")
    run_sync(tmp_path, config)
    assert "flattened column 'doc_n' does not fit the LONG type" in capsys.readouterr().out
    rows = warehouse(tmp_path).execute("SELECT id, doc_n, doc_k, doc FROM tester_engine.docs ORDER BY id").fetchall()
    assert len(rows) == 12 and rows[9] == (10, 10, "v", None) and rows[11] == (12, 12, "w", None)
    assert rows[10][:3] == (11, None, None) and json.loads(rows[10][3]) == {"n": "eleven", "k": "v"}


def test_a_nullable_detected_cursor_is_not_trusted_and_inserts_arrive(pg, sql, tmp_path, capsys):
    """`updated_at` left NULL on insert (a common trigger pattern): an incremental read on it would never see the
    insert; the table is read in full every sync instead, and the log says why and how to do better."""
    engine_table(sql, "nullstamp", "id int PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), "
                 "updated_at timestamptz")
    sql("INSERT INTO engine.nullstamp (id) SELECT g FROM generate_series(1, 50) g")
    config = connection_config(pg, schemas="engine", tables="engine.nullstamp")
    state = run_sync(tmp_path, config)
    assert "its cursor candidate updated_at is nullable" in capsys.readouterr().out
    sql("INSERT INTO engine.nullstamp (id) VALUES (51)")
    run_sync(tmp_path, config, state)
    assert warehouse(tmp_path).execute("SELECT count(*) FROM tester_engine.nullstamp").fetchone() == (51,)


def test_an_inherits_parent_is_read_without_its_children(pg, sql, tmp_path):
    sql("CREATE SCHEMA IF NOT EXISTS engine")
    sql("DROP TABLE IF EXISTS engine.heir, engine.ancestor")
    sql("CREATE TABLE engine.ancestor (id int PRIMARY KEY, v text)")
    sql("CREATE TABLE engine.heir (extra text) INHERITS (engine.ancestor)")
    sql("INSERT INTO engine.ancestor SELECT g, 'own' FROM generate_series(1, 5) g")
    sql("INSERT INTO engine.heir SELECT g, 'inherited', 'x' FROM generate_series(101, 103) g")
    run_sync(tmp_path, connection_config(pg, schemas="engine", tables="engine.ancestor,engine.heir"))
    dw = warehouse(tmp_path)
    assert dw.execute("SELECT id FROM tester_engine.ancestor ORDER BY id").fetchall() == [(i,) for i in range(1, 6)]
    assert dw.execute("SELECT count(*) FROM tester_engine.heir").fetchone() == (3,), "each row lands once"


HOSTILE = "x'); DROP TABLE engine.victim; --"


def test_hostile_filter_and_preprocessing_values_execute_nothing(pg, sql, tmp_path):
    sql("CREATE SCHEMA IF NOT EXISTS engine")
    sql("DROP TABLE IF EXISTS engine.victim")
    sql("DROP TABLE IF EXISTS engine.orders")
    sql("CREATE TABLE engine.victim (id int PRIMARY KEY)")
    sql("CREATE TABLE engine.orders (id int PRIMARY KEY, region text, note text)")
    sql("INSERT INTO engine.orders VALUES (1, %s, null), (2, 'Europe', null), (3, 'Asia', null), (4, %s, null)",
        (HOSTILE, "a\"b,c}"))
    filters = {"engine.orders": [{"column": "region", "operator": "in", "value": [HOSTILE, "a\"b,c}", "Asia"]},
                                 {"column": "note", "operator": "like", "value": "%'; --"}]}
    config = connection_config(
        pg, schemas="engine", tables="engine.orders,engine.victim", table_filters=json.dumps(filters),
        enable_preprocessing="true", preprocessing_table="engine.orders",
        preprocessing_sql=json.dumps(["UPDATE {table} SET note = {marker} || '%''; --' WHERE id IN (1, 3, 4)"]))
    run_sync(tmp_path, config, {"marker": HOSTILE})
    assert sql("SELECT to_regclass('engine.victim') IS NOT NULL")[0][0]
    assert sql("SELECT note FROM engine.orders WHERE id = 1")[0][0] == HOSTILE + "%'; --"
    got = warehouse(tmp_path).execute("SELECT id, region FROM tester_engine.orders ORDER BY id").fetchall()
    assert got == [(1, HOSTILE), (3, "Asia"), (4, "a\"b,c}")]


def test_region_filters_orders_like_the_seed(pg, sql, tmp_path):
    engine_table(sql, "orders", "id int PRIMARY KEY, region text")
    sql("INSERT INTO engine.orders VALUES (1, 'Europe'), (2, 'Asia'), (3, 'Europe')")
    run_sync(tmp_path, connection_config(pg, schemas="engine", tables="engine.orders", region="Europe"))
    assert warehouse(tmp_path).execute("SELECT id FROM tester_engine.orders ORDER BY id").fetchall() == [(1,), (3,)]


def test_a_sync_leaves_no_session_open_when_it_ends(pg, sql, tmp_path, new_sessions):
    """update() closes the sessions its source pooled: a long-lived process keeps none per configuration."""
    sql("CREATE SCHEMA IF NOT EXISTS engine")
    sql("CREATE TABLE IF NOT EXISTS engine.lingering AS SELECT g AS id FROM generate_series(1, 10) g")
    run_sync(tmp_path, connection_config(pg, schemas="engine", tables="engine.lingering"))
    assert warehouse(tmp_path).execute("SELECT count(*) FROM tester_engine.lingering").fetchone()[0] == 10
    assert new_sessions(wait_for_none=5) == set(), "update() left sessions open"


@pytest.mark.parametrize("filters, needle", [
    ('{"engine.orders": [{"column": "nope", "operator": "="}]}', "needs one"),
    ('{"engine.orders": [{"column": "nope", "operator": "=", "value": 1}]}', "no column 'nope'"),
    ('{"engine.missing": [{"column": "id", "operator": "=", "value": 1}]}', "not among the selected tables"),
])
def test_bad_filters_fail_before_anything_is_read(pg, sql, filters, needle):
    import connector_accel as ca
    sql("CREATE SCHEMA IF NOT EXISTS engine")
    sql("CREATE TABLE IF NOT EXISTS engine.orders (id int PRIMARY KEY, region text)")
    with pytest.raises(ca.ConfigurationError) as err:
        ca.Source(connection_config(pg, schemas="engine", table_filters=filters)).discover()
    assert str(err.value).startswith("configuration key 'table_filters'") and needle in str(err.value)


def test_permanent_errors_fail_at_once(pg, sql):
    import connector_accel as ca
    make_big(sql, "dropped", 10)
    source = ca.Source(engine_config(pg, "dropped", max_retries="5", retry_sleep_seconds="30"))
    source.discover()
    sql("DROP TABLE engine.dropped")
    started = time.monotonic()
    with pytest.raises(ca.QueryError) as err:
        with source.read("engine", "dropped") as reader:
            list(reader)
    assert err.value.sqlstate == "42P01" and time.monotonic() - started < 10
