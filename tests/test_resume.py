"""A sync carries the last emitted primary key in its state; a rerun continues after it, and a finished pass
starts over. The reader's memory is bounded by its queue, not by the table."""
import subprocess

from testkit import connection_config, run_sync, warehouse
from testkit.resume import keys_left, keys_synced_since, killed_mid_table, last_synced, upserted_by


def make_table(sql, name, rows):
    sql(f"DROP TABLE IF EXISTS resume.{name}")
    sql("CREATE SCHEMA IF NOT EXISTS resume")
    sql(f"CREATE TABLE resume.{name} (k text, n int, payload text, PRIMARY KEY (k, n))")
    sql(f"INSERT INTO resume.{name} SELECT 'key-' || (i %% 7), i, md5(i::text) FROM generate_series(1, %s) i", [rows])
    sql(f"ANALYZE resume.{name}")


def test_rerun_resumes_after_the_checkpointed_composite_key(pg, sql, tmp_path):
    make_table(sql, "composite", 1000)
    config = connection_config(pg, schemas="resume", tables="resume.composite")
    # the state a sync that died after emitting everything up to ('key-3', 500) left
    state = {"tables": {"resume.composite": {"after": ["key-3", "500"]}}}
    final = run_sync(tmp_path, config, state)
    got = warehouse(tmp_path).execute("SELECT k, n FROM tester_resume.composite ORDER BY k, n").fetchall()
    want = sql("SELECT k, n FROM resume.composite WHERE (k, n) > ('key-3', 500) ORDER BY k, n")
    assert got == want and 0 < len(got) < 1000
    assert final["pass_open"] is False and "last_completed_at" in final
    assert final["tables"]["resume.composite"]["pass"] == final["pass"]


def test_a_table_finished_in_the_pass_is_skipped_and_the_next_is_read_whole(pg, sql, tmp_path):
    make_table(sql, "first", 50)
    make_table(sql, "second", 2500)
    config = connection_config(pg, schemas="resume", tables="resume.first,resume.second", checkpoint_rows=1000,
                               batch_size=500)
    state = {"tables": {"resume.first": {"done": True}}}
    run_sync(tmp_path, config, state)
    dw = warehouse(tmp_path)
    # declared by schema(), so the runner creates it; the pass had already synced it, so no row is re-emitted
    assert dw.execute("SELECT count(*) FROM tester_resume.first").fetchone()[0] == 0
    assert dw.execute("SELECT count(*) FROM tester_resume.second").fetchone()[0] == 2500


def test_killed_sync_resumes_without_losing_rows(pg, sql, tmp_path):
    """`fivetran debug` killed with SIGKILL after its first mid-table checkpoint; the rerun ends equal to the source."""
    make_table(sql, "killed", 60000)
    config = connection_config(pg, schemas="resume", tables="resume.killed", checkpoint_rows=5000, batch_size=1000)
    interrupted, command, env = killed_mid_table(tmp_path, config, "resume.killed")
    saved = interrupted["tables"]["resume.killed"]["plan"]["partitions"]
    assert saved[0]["after"]
    since = last_synced(tmp_path, "tester_resume.killed")
    rerun = subprocess.run(command, cwd=tmp_path, env=env, check=True, capture_output=True, text=True)
    got = warehouse(tmp_path).execute("SELECT k, n, payload FROM tester_resume.killed ORDER BY k, n").fetchall()
    assert got == sql("SELECT k, n, payload FROM resume.killed ORDER BY k, n")
    # the rerun wrote exactly the rows after each partition's saved key: none loaded before the checkpoint again
    left = keys_left(saved, sql("SELECT k, n FROM resume.killed"), lambda key: (key[0], int(key[1])))
    assert 0 < len(left) < 60000
    # Its key pass touched every row's _fivetran_synced, so the rows it upserted are counted from its log.
    assert set(left) <= set(keys_synced_since(tmp_path, "tester_resume.killed", "k, n", since))
    assert upserted_by(rerun.stdout + rerun.stderr, "resume.killed") == len(left)


def test_a_resumed_load_starts_over_when_the_table_changed(pg, sql, tmp_path, capsys):
    """Killed mid-load, then `ADD COLUMN c ... DEFAULT` and `DROP COLUMN payload`: the resumed sync sees another
    shape and loads the table again from the start, so the rows loaded before the kill get `c` too."""
    import connector_accel as ca

    make_table(sql, "reshaped", 2000)
    config = connection_config(pg, schemas="resume", tables="resume.reshaped", batch_size=100, checkpoint_rows=100)
    source = ca.Source(config)
    table = next(t for t in source.discover()[0] if t["table"] == "reshaped")
    from connector_accel import state as st

    interrupted = {"version": 2, "pass": 1, "pass_open": True, "tables": {"resume.reshaped": {
        "phase": "full", "cursor": None, "shape": st.shape_of(table),
        "plan": {**source.plan("resume", "reshaped"), "partitions": [{"lo": None, "hi": None, "after": ["key-3", "1000"]}]},
        "pending": None}}}
    sql("ALTER TABLE resume.reshaped ADD COLUMN c text DEFAULT 'dflt'")
    sql("ALTER TABLE resume.reshaped DROP COLUMN payload")
    run_sync(tmp_path, config, interrupted)
    assert "resume.reshaped: its columns or primary key changed since the interrupted load began" in capsys.readouterr().out
    got = warehouse(tmp_path).execute("SELECT k, n, c FROM tester_resume.reshaped ORDER BY k, n").fetchall()
    assert got == sql("SELECT k, n, c FROM resume.reshaped ORDER BY k, n") and len(got) == 2000
