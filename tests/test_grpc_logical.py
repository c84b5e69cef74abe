"""`update_method=logical` through the Partner SDK server (`python -m connector_accel serve`), against a real
PostgreSQL with wal_level = logical, its Update stream written into DuckDB by the SDK's own runner
(testkit.grpc_relay): after each sync the destination's live rows are the source's, key by key. The same events,
state and guarantees as the SDK connector's catch-up (tests/test_logical.py): a partial update for an unchanged
TOASTed value, a state that continues under either door, a server killed mid catch-up resumed exact."""
import json

import pytest

from testkit import connection_config, run_sync, warehouse
from testkit.compare import fresh, id_val_table, same
from testkit.grpc_relay import run_relayed
from testkit.grpc_server import Server, as_configuration
from testkit.logical import logical_config, sync_output, toasted_text

UPSERT, UPDATE, DELETE, TRUNCATE = 0, 1, 2, 3


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


def config(lpg, schema: str, **extra) -> dict:
    return as_configuration(logical_config(lpg, schema, **extra))


def records(responses) -> list:
    found = []
    for r in responses:
        kind = r.WhichOneof("operation")
        found.extend(r.records.records if kind == "records" else [r.record] if kind == "record" else [])
    return found


def messages(server, level: str) -> list:
    return [line["message"] for line in server.logs() if line["level"] == level]


def relayed(project, server, cfg, state=None) -> tuple[dict, list]:
    """One sync through the relay; (final state, every response)."""
    seen: list = []
    state = run_relayed(project, server, cfg, state, on_response=seen.append)
    return state, seen


def test_changes_arrive_as_records_in_commit_order_and_the_destination_is_the_source(server, lpg, lsql, tmp_path):
    schema = "gcdc_basic"
    fresh(lsql, schema)
    lsql(f"CREATE TABLE {schema}.t (id int PRIMARY KEY, val text, n numeric(12,2))")
    lsql(f"INSERT INTO {schema}.t SELECT g, 'v' || g, g / 4.0 FROM generate_series(1, 2000) g")
    lsql(f"CREATE TABLE {schema}.bag (val text)")
    lsql(f"INSERT INTO {schema}.bag VALUES ('a'), ('b')")
    cfg = config(lpg, schema)
    state, seen = relayed(tmp_path, server, cfg)
    # the lines the SDK connector logs reach Fivetran as Warnings too
    warnings = [r.warning.message for r in seen if r.WhichOneof("operation") == "warning"]
    assert any(w.startswith(f"{schema}.bag: not replicated from the log: ") for w in warnings), warnings
    assert any(m.startswith("slot connector_accel_") and " MB of WAL on the server" in m
               for m in messages(server, "INFO") + warnings)
    assert state["replication"]["lsn"] and state["tables"][f"{schema}.t"]["phase"] == "logical", state
    assert any("logical replication: slot connector_accel_" in m and "created now" in m
               for m in messages(server, "INFO"))
    same(lsql, tmp_path, schema, "t", "id, val, n")

    lsql(f"INSERT INTO {schema}.t VALUES (5001, 'new', 1.5)")
    lsql(f"UPDATE {schema}.t SET val = 'changed', n = NULL WHERE id BETWEEN 10 AND 19")
    lsql(f"DELETE FROM {schema}.t WHERE id % 100 = 0")
    lsql(f"UPDATE {schema}.t SET id = 9003 WHERE id = 3")
    state, seen = relayed(tmp_path, server, cfg, state)
    same(lsql, tmp_path, schema, "t", "id, val, n")
    sent = [r for r in records(seen) if r.table_name == "t"]
    # only the changes, in commit order: no second load
    assert [r.type for r in sent] == [UPSERT] * 11 + [DELETE] * 20 + [DELETE, UPSERT], [r.type for r in sent]
    assert [r.data["id"].int for r in sent[-2:]] == [3, 9003], "a key change: the old key deleted, the new upserted"
    assert f"{schema}.t: its changes came from the log (logical replication)" in messages(server, "INFO")
    deleted = warehouse(tmp_path).execute(
        f'SELECT id FROM "tester_{schema}".t WHERE _fivetran_deleted ORDER BY id').fetchall()
    assert deleted == [(3,)] + [(i,) for i in range(100, 2001, 100)]
    # every checkpoint comes after the records it covers, and the position only moves forward
    kinds = [r.WhichOneof("operation") for r in seen]
    assert kinds[-1] == "checkpoint" and "records" in kinds[:kinds.index("checkpoint")]

    lsql(f"INSERT INTO {schema}.bag VALUES ('c')")
    state, _ = relayed(tmp_path, server, cfg, state)
    same(lsql, tmp_path, schema, "bag", "val")
    lsql(f"TRUNCATE {schema}.t")
    lsql(f"INSERT INTO {schema}.t (id, val) VALUES (1, 'after truncate')")
    state, seen = relayed(tmp_path, server, cfg, state)
    assert [r.type for r in records(seen) if r.table_name == "t"] == [TRUNCATE, UPSERT]
    same(lsql, tmp_path, schema, "t", "id, val, n")


def test_an_unchanged_toasted_value_arrives_as_a_partial_update_not_null(server, lpg, lsql, tmp_path):
    schema = "gcdc_toast"
    fresh(lsql, schema)
    lsql(f"CREATE TABLE {schema}.t (id int PRIMARY KEY, big text, note text)")
    # 128 KB: out of line (TOASTed)
    lsql(f"INSERT INTO {schema}.t SELECT g, {toasted_text(4000)}, 'a' FROM generate_series(1, 3) g")
    cfg = config(lpg, schema)
    state, _ = relayed(tmp_path, server, cfg)
    lsql(f"UPDATE {schema}.t SET note = 'b' WHERE id = 2")
    state, seen = relayed(tmp_path, server, cfg, state)
    (update,) = records(seen)
    assert update.type == UPDATE and sorted(update.data) == ["id", "note"], update
    same(lsql, tmp_path, schema, "t", "id, md5(big), note")
    dest = warehouse(tmp_path).execute(f'SELECT length(big) FROM "tester_{schema}".t WHERE id = 2').fetchone()
    assert dest == (128000,)


def test_one_state_for_both_doors(server, lpg, lsql, tmp_path, capfd):
    """The server's logical state continued by the SDK connector (changes from the log, no reload), and the SDK
    connector's by the server, into one warehouse that stays equal to the source."""
    schema = "gcdc_both"
    fresh(lsql, schema)
    id_val_table(lsql, schema, 500)
    cfg = config(lpg, schema)
    state, _ = relayed(tmp_path, server, cfg)
    lsql(f"UPDATE {schema}.t SET val = 'sdk' WHERE id < 20")
    lsql(f"DELETE FROM {schema}.t WHERE id BETWEEN 30 AND 39")
    state, out = sync_output(tmp_path, cfg, state, capfd)
    assert "29 change events applied" in out and f"{schema}.t: its changes came from the log" in out, out
    same(lsql, tmp_path, schema, "t", "id, val")
    lsql(f"UPDATE {schema}.t SET val = 'server' WHERE id BETWEEN 40 AND 44")
    lsql(f"INSERT INTO {schema}.t VALUES (1000, 'new')")
    state, seen = relayed(tmp_path, server, cfg, state)
    assert len(records(seen)) == 6, "the SDK connector's position continued: only the changes since"
    same(lsql, tmp_path, schema, "t", "id, val")
    assert not any("loaded again in full" in m for m in messages(server, "WARNING"))


def test_a_table_left_out_of_the_selection_is_loaded_in_full_when_it_comes_back(server, lpg, lsql, tmp_path):
    """Its changes are not sent while Fivetran leaves it out; taking them from the log again would miss those."""
    schema = "gcdc_select"
    fresh(lsql, schema)
    for name in ("a", "b"):
        id_val_table(lsql, schema, 100, name)
    lsql(f"CREATE TABLE {schema}.bag (val text)")  # keyless, and left out: no line about it
    cfg = config(lpg, schema)
    state, _ = relayed(tmp_path, server, cfg)
    sdk = server.stubs.connector_sdk
    only_a = sdk.Selection(with_schema=sdk.TablesWithSchema(include_new_schemas=False, schemas=[
        sdk.SchemaSelection(included=True, schema_name=schema, include_new_tables=False, tables=[
            sdk.TableSelection(included=True, table_name="a"), sdk.TableSelection(included=False, table_name="b"),
            sdk.TableSelection(included=False, table_name="bag")])]))
    lsql(f"UPDATE {schema}.b SET val = 'unsent' WHERE id <= 10")
    lsql(f"DELETE FROM {schema}.b WHERE id > 90")
    lsql(f"UPDATE {schema}.a SET val = 'sent' WHERE id <= 10")
    seen: list = []
    state = run_relayed(tmp_path, server, cfg, state, on_response=seen.append, selection=only_a)
    assert {r.table_name for r in records(seen)} == {"a"}
    warned = [r.warning.message for r in seen if r.WhichOneof("operation") == "warning"]
    assert not any("bag: not replicated from the log" in w for w in warned), warned
    same(lsql, tmp_path, schema, "a", "id, val")
    state, _ = relayed(tmp_path, server, cfg, state)
    same(lsql, tmp_path, schema, "b", "id, val")
    same(lsql, tmp_path, schema, "a", "id, val")


class Canned:
    """What a killed server had sent up to its last checkpoint, for the relay to write (Fivetran keeps exactly
    what a checkpoint committed); Schema is asked of a live server."""

    def __init__(self, live, responses):
        self.live, self.stubs, self.responses = live, live.stubs, responses
        self.client = self  # run_relayed calls server.client.Schema / .Update

    def Schema(self, request):  # the stub's names
        return self.live.client.Schema(request)

    def Update(self, request, timeout=None):
        return iter(self.responses)


def test_a_server_killed_mid_catch_up_resumes_from_its_last_checkpoint_and_ends_exact(lpg, lsql, tmp_path):
    schema = "gcdc_kill"
    fresh(lsql, schema)
    lsql(f"CREATE TABLE {schema}.t (id int PRIMARY KEY, val text, n int)")
    lsql(f"INSERT INTO {schema}.t SELECT g, 'v' || g, 0 FROM generate_series(1, 30000) g")
    cfg = config(lpg, schema)
    live = Server()
    try:
        state, _ = relayed(tmp_path, live, cfg)
        start = state["replication"]["lsn"]
        for i in range(300):  # 300 transactions, 30,000 events: checkpoints within the catch-up
            lsql(f"UPDATE {schema}.t SET n = n + 1, val = 'u{i}' WHERE id % 300 = {i}")
        lsql(f"DELETE FROM {schema}.t WHERE id % 7 = 0")
        doomed = Server()
        sent, kept, checkpoint = [], [], None
        for r in doomed.client.Update(doomed.stubs.connector_sdk.UpdateRequest(
                configuration=cfg, state_json=json.dumps(state)), timeout=300):
            sent.append(r)
            if r.WhichOneof("operation") == "checkpoint":
                checkpoint = json.loads(r.checkpoint.state_json)
                kept = list(sent)
                if checkpoint["replication"]["lsn"] != start:
                    break
        doomed.kill()
        assert checkpoint is not None and checkpoint["replication"]["lsn"] != start, "no checkpoint mid catch-up"
        assert len(records(kept)) < 30000 + 30000 // 7, "the kill came after the catch-up"
        # the slot was never advanced past what a checkpoint made durable
        (behind,) = lsql(f"SELECT confirmed_flush_lsn <= '{checkpoint['replication']['lsn']}'::pg_lsn "
                         f"FROM pg_replication_slots WHERE slot_name = '{checkpoint['replication']['slot']}'")
        assert behind == (True,)
        state = run_relayed(tmp_path, Canned(live, kept), cfg, state)
        assert state == checkpoint
        state, seen = relayed(tmp_path, live, cfg, state)
        assert len(records(seen)) < 30000 + 30000 // 7, "the resumed sync started over"
        same(lsql, tmp_path, schema, "t", "id, val, n")
    finally:
        live.stop()


def auto(server, schema: str) -> dict:
    return as_configuration(connection_config(server, schemas=schema, update_method="auto"))


def test_auto_on_a_logical_server_is_logical_recorded_and_captures_a_delete(server, lpg, lsql, tmp_path):
    """auto opens the replication as logical does, once (the catch-up goes on from that status: the slot is
    created by that one opening), records logical in the state and keeps it; the next sync's delete arrives."""
    schema = "gcdc_auto"
    fresh(lsql, schema)
    id_val_table(lsql, schema, 300)
    state, _ = relayed(tmp_path, server, auto(lpg, schema))
    info = messages(server, "INFO")
    assert "update_method=auto: logical for this connection (recorded in the state: later syncs keep it, and one " \
           "whose server no longer allows it fails rather than switching to cursor), because wal_level is logical " \
           "and this login may use the publication and the slot" in info, info
    assert state["update_method"]["method"] == "logical" and state["replication"]["lsn"], state
    assert state["tables"][f"{schema}.t"]["phase"] == "logical", state
    assert any("logical replication: slot connector_accel_" in m and "created now" in m for m in info)
    lsql(f"DELETE FROM {schema}.t WHERE id IN (7, 8)")
    state, seen = relayed(tmp_path, server, auto(lpg, schema), state)
    assert [r.type for r in records(seen)] == [DELETE, DELETE]
    assert any(m.startswith("update_method=auto: logical, as decided on ") for m in messages(server, "INFO"))
    same(lsql, tmp_path, schema, "t", "id, val")
    deleted = warehouse(tmp_path).execute(f'SELECT id FROM "tester_{schema}".t WHERE _fivetran_deleted ORDER BY id')
    assert deleted.fetchall() == [(7,), (8,)]


def test_auto_keeps_the_sdk_connectors_cursor_and_says_logical_is_now_possible(server, pg, sql, lpg, lsql, tmp_path,
                                                                                capfd):
    """The SDK connector decided cursor on a replica server; the server, handed its state on a server that now
    decodes its log, keeps cursor (the switch reloads every table, the user's call), warns that logical is now
    possible and creates no slot. The reverse (the server's decision kept by the SDK connector) follows."""
    schema = "gcdc_auto_kept"
    for run in (sql, lsql):
        fresh(run, schema)
        id_val_table(run, schema, 100)
    state = run_sync(tmp_path, auto(pg, schema))
    decided = state["update_method"]
    assert decided["method"] == "cursor", state
    before = lsql("SELECT slot_name FROM pg_replication_slots")
    lsql(f"DELETE FROM {schema}.t WHERE id = 3")
    state, seen = relayed(tmp_path, server, auto(lpg, schema), state)
    said = [r.warning.message for r in seen if r.WhichOneof("operation") == "warning"
            and r.warning.message.startswith("update_method=auto: ")]
    assert len(said) == 1 and said[0].startswith(f"update_method=auto: cursor, as decided on {decided['at']} "
                                                 "(because logical needs wal_level = logical; the server has "
                                                 "replica."), said
    assert "the server now decodes its log (wal_level = logical): set update_method=logical" in said[0], said
    assert state["update_method"] == decided and "replication" not in state, state
    assert lsql("SELECT slot_name FROM pg_replication_slots") == before
    same(lsql, tmp_path, schema, "t", "id, val")
    capfd.readouterr()
    state = run_sync(tmp_path, auto(lpg, schema), state)
    assert f"update_method=auto: cursor, as decided on {decided['at']}" in capfd.readouterr().out
    assert state["update_method"] == decided and "replication" not in state, state
