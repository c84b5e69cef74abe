"""README's claims about a sync that no other test covers, each against the real server and the SDK's runner: a
configured nullable cursor, views listed as skipped, TCP keepalives, small tables first, one snapshot for every
partition of a sync, the fast emit path's guard, the open-writer guard's warning, progress lines, and the extra
tables (SOURCE_TABLES, SOURCE_COLUMNS, SYNC_VALIDATION once per table per pass, also across a resume)."""
import hashlib
import json
import re
import time

import connector_accel as ca
import pytest

from testkit import connection_config, count_operations, run_sync, sync_alongside, warehouse

QUIET = dict(sync_validation="false", source_metadata="false")


def warned(out: str, text: str) -> bool:
    """Whether the sync's log has `text` on a WARNING line."""
    return any("WARNING" in line and text in line for line in out.splitlines())


@pytest.fixture
def claims(sql):
    sql("DROP SCHEMA IF EXISTS claims CASCADE")
    sql("CREATE SCHEMA claims")


def make(sql, name: str, rows: int, columns: str = "id bigint PRIMARY KEY, payload text") -> None:
    sql(f"CREATE TABLE claims.{name} ({columns})")
    sql(f"INSERT INTO claims.{name} (id, payload) SELECT g, md5(g::text) FROM generate_series(1, {rows}) g")
    sql(f"ANALYZE claims.{name}")


def test_a_configured_nullable_cursor_is_used_with_a_warning(pg, sql, claims, tmp_path, capsys):
    make(sql, "stamped", 20, "id bigint PRIMARY KEY, payload text, updated_at timestamptz DEFAULT now()")
    config = connection_config(pg, schemas="claims", cursor_columns='{"claims.stamped": "updated_at"}', **QUIET)
    state = run_sync(tmp_path, config)
    out = capsys.readouterr().out
    assert warned(out, "table claims.stamped: cursor_columns names updated_at, which is nullable: rows where it is "
                  "NULL are read by the full load only, never by incremental syncs"), out[-3000:]
    entry = state["tables"]["claims.stamped"]
    assert entry["phase"] == "incremental" and entry["cursor"] == "updated_at", entry


def test_views_and_materialized_views_are_listed_as_skipped(pg, sql, claims, tmp_path, capsys):
    make(sql, "base", 5)
    sql("CREATE VIEW claims.a_view AS SELECT * FROM claims.base")
    sql("CREATE MATERIALIZED VIEW claims.a_matview AS SELECT * FROM claims.base")
    run_sync(tmp_path, connection_config(pg, schemas="claims", **QUIET))
    out = capsys.readouterr().out
    line = next((line for line in out.splitlines() if "view(s) are not synced" in line and "WARNING" in line), "")
    assert "2 view(s) are not synced, only tables: " in line, out[-2000:]
    assert "claims.a_matview (materialized view)" in line and "claims.a_view (view)" in line, line
    tables = {t for (t,) in warehouse(tmp_path).execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'tester_claims'").fetchall()}
    assert tables == {"base"}


def own_tcp_sockets(port: int) -> list:
    """(state, timer) of this process's TCP sockets to `port` on 127.0.0.1, from /proc/net/tcp: timer 2 is the
    keepalive timer an idle socket has only when SO_KEEPALIVE is set."""
    import os

    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    with open("/proc/self/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            remote_port = int(fields[2].split(":")[1], 16)
            timer = int(fields[5].split(":")[0], 16)
            if remote_port == port and fields[9] in inodes:
                found.append((fields[3], timer))
    return found


def test_every_session_has_tcp_keepalives(pg, sql, claims):
    """Every session the source opens (discovery's, the snapshot's, each worker's) is idle with the kernel's
    keepalive timer running: probes find a half-open connection."""
    make(sql, "kept", 20000)
    source = ca.Source(connection_config(pg, schemas="claims", partitions="4", workers="3", small_table_rows="100"))
    plan = source.plan("claims", "kept")
    with source.read("claims", "kept", partitions=plan["partitions"], workers=3) as reader:
        assert sum(len(b) for b in reader) == 20000
    time.sleep(0.5)  # sessions handed back in the background arrive
    sockets = own_tcp_sockets(int(pg["port"]))
    established = [timer for state, timer in sockets if state == "01"]
    assert len(established) >= 3, sockets
    assert all(timer == 2 for timer in established), f"sessions without a keepalive timer: {sockets}"
    source.close()


def test_small_tables_go_first(pg, sql, claims, tmp_path, capsys):
    make(sql, "big", 30000)
    make(sql, "tiny", 10)
    make(sql, "middle", 3000)
    run_sync(tmp_path, connection_config(pg, schemas="claims", **QUIET))
    out = capsys.readouterr().out
    assert "sync plan (smallest first): claims.tiny ~10 rows, claims.middle ~3000 rows, claims.big ~30000 rows" in out
    done = re.findall(r"(claims\.\w+): full done", out)
    assert done == ["claims.tiny", "claims.middle", "claims.big"], "tables are read in that order"


def test_every_partition_of_a_sync_reads_one_snapshot(pg, sql, claims, tmp_path):
    """A sync of 6 partitions on 2 workers; as soon as the first partition reads, every row is changed and
    committed. Partitions started later still read the snapshot exported before the first one: no changed value
    lands, and the warehouse equals the table as it was."""
    make(sql, "moving", 60000)
    config = connection_config(pg, schemas="claims", partitions="6", workers="2", batch_size="500",
                               small_table_rows="1000", **QUIET)
    changed = []

    def change_everything(done):
        deadline = time.monotonic() + 30
        while not done.is_set() and time.monotonic() < deadline:
            reading = sql("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'connector_accel partition%'")
            if reading[0][0]:
                sql("UPDATE claims.moving SET payload = 'changed'")
                changed.append(sql("SELECT count(*) FROM pg_stat_activity "
                                   "WHERE application_name LIKE 'connector_accel partition%'")[0][0])
                return
            time.sleep(0.005)

    sync_alongside(tmp_path, config, change_everything)
    assert changed, "the update ran while partitions were reading"
    rows = warehouse(tmp_path).execute("SELECT id, payload FROM tester_claims.moving ORDER BY id").fetchall()
    assert len(rows) == 60000
    assert [r for r in rows if r[1] == "changed"] == [], "a partition read data committed after the snapshot"
    assert rows == [(g, hashlib.md5(str(g).encode()).hexdigest()) for g in range(1, 60001)]


def _constants():
    from fivetran_connector_sdk_core import constants
    return constants


def _record():
    from fivetran_connector_sdk_core import model
    return model.Record


@pytest.mark.parametrize("break_sdk, reason", [
    (lambda mp, sdk: mp.setattr(sdk, "__version__", "4.0.0"), "fivetran-connector-sdk 4.0.0 is not the 3.x"),
    # a cell prefix that means something else now (the SDK's own encoder took its copy at import)
    (lambda mp, sdk: mp.setattr(_constants(), "CELL_FLOAT", 99), "constants.CELL_FLOAT is 99, not 4"),
    # records made by more than the dataclass __init__ (which was generated before, so the SDK's own still work)
    (lambda mp, sdk: mp.setattr(_record(), "__post_init__", lambda self: None, raising=False),
     "Record is no longer a plain frozen dataclass"),
], ids=["version", "cell-prefix", "record"])
def test_the_fast_path_stays_off_with_another_sdk(pg, sql, claims, tmp_path, monkeypatch, capsys, break_sdk, reason):
    """An SDK that is not 3.x, or lacks an internal the fast path uses: the sync says so once and every row goes
    through op.upsert."""
    import fivetran_connector_sdk
    from connector_accel import emit

    make(sql, "guarded", 300)
    break_sdk(monkeypatch, fivetran_connector_sdk)
    monkeypatch.setattr(emit, "_INTERNALS", None)  # found and checked once per process: check again
    calls = count_operations(monkeypatch, table="guarded")
    run_sync(tmp_path, connection_config(pg, schemas="claims", **QUIET))
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "emit path: op.upsert (the SDK's public operations)" in line]
    assert len(lines) == 1 and reason in lines[0], lines
    assert calls["upsert"] == 300
    assert warehouse(tmp_path).execute("SELECT count(*) FROM tester_claims.guarded").fetchone()[0] == 300
    monkeypatch.undo()
    emit._INTERNALS = None


def test_a_login_that_cannot_see_other_sessions_is_warned_about(pg, sql, claims, tmp_path, capsys):
    make(sql, "watched", 10, "id bigint PRIMARY KEY, payload text, updated_at timestamptz NOT NULL DEFAULT now()")
    sql("DROP ROLE IF EXISTS claims_reader")
    sql("CREATE ROLE claims_reader LOGIN PASSWORD 'reader-pw'")
    sql("GRANT USAGE ON SCHEMA claims TO claims_reader")
    sql("GRANT SELECT ON ALL TABLES IN SCHEMA claims TO claims_reader")
    config = connection_config({**pg, "user": "claims_reader", "password": "reader-pw"}, schemas="claims", **QUIET)
    run_sync(tmp_path, config)
    state = json.loads((tmp_path / "files" / "state.json").read_text())
    run_sync(tmp_path, config, state)
    out = capsys.readouterr().out
    assert warned(out, "claims.watched: this login cannot see other sessions' transactions (grant "
                  "pg_read_all_stats); late commits are covered by the look-back window only"), out[-3000:]
    # the superuser sees every session: no such warning
    run_sync(tmp_path / "super", connection_config(pg, schemas="claims", **QUIET))
    state = json.loads((tmp_path / "super" / "files" / "state.json").read_text())
    run_sync(tmp_path / "super", connection_config(pg, schemas="claims", **QUIET), state)
    assert "cannot see other sessions" not in capsys.readouterr().out


def test_progress_lines_carry_rows_percent_rate_and_eta(pg, sql, claims, tmp_path, capsys):
    make(sql, "long", 20000)
    run_sync(tmp_path, connection_config(pg, schemas="claims", checkpoint_rows="5000", batch_size="1000",
                                         partitions="1", **QUIET))
    out = capsys.readouterr().out
    lines = re.findall(r"claims\.long: ([\d,]+) rows \((\d+)% of ~20,000\), ([\d,]+) rows/s, ETA ([\d.]+) min", out)
    assert [(done, pct) for done, pct, _, _ in lines] == [("5,000", "25"), ("10,000", "50"), ("15,000", "75")], out
    assert all(int(rate.replace(",", "")) > 0 for _, _, rate, _ in lines)
    # the time-based line: with the interval at 0 every batch reports
    from connector_accel import sdk

    sdk.PROGRESS_SECONDS, saved = 0, sdk.PROGRESS_SECONDS
    try:
        run_sync(tmp_path / "often", connection_config(pg, schemas="claims", checkpoint_rows="100000",
                                                       batch_size="1000", partitions="1", **QUIET))
    finally:
        sdk.PROGRESS_SECONDS = saved
    often = re.findall(r"claims\.long: ([\d,]+) rows \(\d+% of ~20,000\), [\d,]+ rows/s, ETA", capsys.readouterr().out)
    assert len(often) >= 15, often


def test_source_tables_and_columns_describe_the_catalog_and_never_grow(pg, sql, claims, tmp_path):
    make(sql, "described", 10, "id bigint PRIMARY KEY, payload text, amount numeric(10,2) NOT NULL DEFAULT 1")
    config = connection_config(pg, schemas="claims", sync_validation="false")
    state = run_sync(tmp_path, config)
    run_sync(tmp_path, config, state)
    dw = warehouse(tmp_path)
    tables = dw.execute("SELECT schema_name, table_name, row_estimate, primary_key, cursor_column "
                        "FROM tester.source_tables").fetchall()
    assert tables == [("claims", "described", 10, '["id"]', None)]
    columns = dw.execute("SELECT column_name, ordinal, source_type, destination_type, nullable, in_primary_key "
                         "FROM tester.source_columns ORDER BY ordinal").fetchall()
    assert columns == [("id", 1, "bigint", "LONG", False, True), ("payload", 2, "text", "STRING", True, False),
                       ("amount", 3, "numeric(10,2)", '{"type": "DECIMAL", "precision": 10, "scale": 2}', False,
                        False)]


def test_sync_validation_is_written_once_per_table_and_pass_across_a_resume(pg, sql, claims, tmp_path):
    """Pass 1 is interrupted inside its second table, after the first table's row was written; the resumed pass
    skips the first table and writes the second's row: one row per table for pass 1, none twice. Pass 2 adds
    one row per table."""
    from connector_accel import sdk

    make(sql, "first", 10)
    make(sql, "second", 5000)
    config = connection_config(pg, schemas="claims", source_metadata="false", checkpoint_rows="1000",
                               batch_size="1000", partitions="1")
    calls = []
    original = sdk.TableSync._progress

    def interrupt(self):
        original(self)
        if self.name == "second" and not calls:
            calls.append(self.rows)
            raise RuntimeError("killed mid-table")

    sdk.TableSync._progress = interrupt
    try:
        with pytest.raises(Exception, match="killed mid-table"):
            run_sync(tmp_path, config)
    finally:
        sdk.TableSync._progress = original
    interrupted = json.loads((tmp_path / "files" / "state.json").read_text())
    assert interrupted["pass_open"] and interrupted["tables"]["claims.first"]["pass"] == 1, interrupted
    state = run_sync(tmp_path, config, interrupted)
    query = "SELECT table_name, sync_pass, rows_upserted FROM tester.sync_validation ORDER BY 2, 1"
    assert warehouse(tmp_path).execute(query).fetchall() == [("first", 1, 10), ("second", 1, 4000)]
    run_sync(tmp_path, config, state)
    assert warehouse(tmp_path).execute(query).fetchall() == [
        ("first", 1, 10), ("second", 1, 4000), ("first", 2, 10), ("second", 2, 5000)]
