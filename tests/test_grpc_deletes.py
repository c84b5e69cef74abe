"""The Partner SDK server keeps the SDK connector's issue-19 promises, written by the SDK's own runner into DuckDB
(testkit.grpc_relay): the key pass after every full read, delete_reconciliation_hours for cursor tables, the table's
identity in the state (a dropped and re-created or altered table read again in full), gone tables; and one state for
both doors: a state the SDK connector wrote continues under the server, and the server's under the SDK connector."""
import json

import pytest

from testkit import connection_config, run_sync, warehouse
from testkit.grpc_relay import run_relayed
from testkit.grpc_server import Server, as_configuration


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


def config(pg, schema: str, **extra) -> dict:
    return as_configuration(connection_config(pg, schemas=schema, **extra))


def live(tmp_path, schema: str, table: str = "t") -> list:
    return warehouse(tmp_path).execute(
        f'SELECT id, val FROM "tester_{schema}"."{table}" WHERE NOT _fivetran_deleted ORDER BY ALL').fetchall()


def deleted(tmp_path, schema: str, table: str = "t") -> list:
    return warehouse(tmp_path).execute(
        f'SELECT id FROM "tester_{schema}"."{table}" WHERE _fivetran_deleted ORDER BY ALL').fetchall()


def source(sql, schema: str, table: str = "t") -> list:
    return sql(f"SELECT id, val FROM {schema}.{table} ORDER BY id, val")


def table(sql, schema: str, rows: int = 3000, keyed: bool = True) -> str:
    sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    sql(f"CREATE SCHEMA {schema}")
    key = "PRIMARY KEY" if keyed else ""
    sql(f"CREATE TABLE {schema}.t (id int {key}, val text, updated_at timestamptz NOT NULL DEFAULT now())")
    sql(f"INSERT INTO {schema}.t (id, val) SELECT g, 'v' || g FROM generate_series(1, {rows}) g")
    return f"{schema}.t"


def churn(sql, name: str) -> None:
    """What a week does to a table: deletes, an update, a primary key changed, an insert."""
    sql(f"DELETE FROM {name} WHERE id % 10 = 0")
    sql(f"UPDATE {name} SET val = 'changed', updated_at = now() WHERE id = 11")
    sql(f"UPDATE {name} SET id = 100003 WHERE id = 3")
    sql(f"INSERT INTO {name} (id, val) VALUES (200000, 'new')")


def messages(server, level: str) -> list:
    return [line["message"] for line in server.logs() if line["level"] == level]


@pytest.mark.parametrize("keyed", [True, False])
def test_a_full_read_ends_with_exactly_the_source_rows_live(server, pg, sql, tmp_path, keyed):
    name = table(sql, "gdel_full", keyed=keyed)
    cfg = config(pg, "gdel_full", batch_size=500, checkpoint_rows=1000, cursor_columns='{"t": null}')
    order = []
    state = run_relayed(tmp_path, server, cfg, on_response=lambda r: order.append(r.WhichOneof("operation")))
    churn(sql, name)
    order.clear()
    state = run_relayed(tmp_path, server, cfg, state, on_response=lambda r: order.append(r.WhichOneof("operation")))
    assert live(tmp_path, "gdel_full") == source(sql, "gdel_full")
    if keyed:
        assert deleted(tmp_path, "gdel_full") == sorted([(i,) for i in range(10, 3001, 10)] + [(3,)])
    assert "reconciled_at" in state["tables"][name]
    # the truncate and the keys after it reach the destination together: no checkpoint between the full read's
    # last one and the table's closing one
    last_two = [i for i, kind in enumerate(order) if kind == "checkpoint"][-3:]
    assert order[last_two[0] + 1:last_two[1]].count("checkpoint") == 0
    assert any("delete reconciliation read" in m for m in messages(server, "INFO"))


def test_reconciliation_of_a_cursor_table_runs_on_its_schedule_and_says_so_while_off(server, pg, sql, tmp_path):
    name = table(sql, "gdel_cursor", 200)
    off = config(pg, "gdel_cursor")
    state = run_relayed(tmp_path, server, off)
    assert state["tables"][name]["phase"] == "incremental"
    sql(f"DELETE FROM {name} WHERE id = 5")
    state = run_relayed(tmp_path, server, off, state)
    assert (5, "v5") in live(tmp_path, "gdel_cursor")
    assert ("gdel_cursor.t: rows deleted in the source stay live in the destination (a read by cursor 'updated_at' "
            "cannot see deletes); set delete_reconciliation_hours (e.g. 24) to mark them deleted by a key-only "
            "scan") in messages(server, "WARNING")
    daily = config(pg, "gdel_cursor", delete_reconciliation_hours="24")
    state["tables"][name]["reconciled_at"] = "2000-01-01T00:00:00+00:00"
    state = run_relayed(tmp_path, server, daily, state)
    assert live(tmp_path, "gdel_cursor") == source(sql, "gdel_cursor")
    assert deleted(tmp_path, "gdel_cursor") == [(5,)]
    sql(f"DELETE FROM {name} WHERE id = 6")
    run_relayed(tmp_path, server, daily, state)  # reconciled minutes ago: not due
    assert (6, "v6") in live(tmp_path, "gdel_cursor")
    assert any(m.startswith("gdel_cursor.t: deletes since ") for m in messages(server, "INFO"))


def test_a_table_dropped_and_created_again_or_altered_is_read_again_in_full(server, pg, sql, tmp_path):
    name = table(sql, "gdel_ident", 100)
    cfg = config(pg, "gdel_ident")
    state = run_relayed(tmp_path, server, cfg)
    assert state["tables"][name]["identity"]["id"]
    table(sql, "gdel_ident", 40)  # dropped and created again: older cursor values than the mark
    state = run_relayed(tmp_path, server, cfg, state)
    assert live(tmp_path, "gdel_ident") == source(sql, "gdel_ident")
    assert any(m.startswith("gdel_ident.t: it was dropped and created again (id ") and "read again in full" in m
               for m in messages(server, "WARNING"))
    sql(f"ALTER TABLE {name} ADD COLUMN extra int DEFAULT 7")
    run_relayed(tmp_path, server, cfg, state)
    assert ("gdel_ident.t: its columns changed (added extra) since the last sync; it is read again in full, and its "
            "rows the source no longer holds are marked deleted") in messages(server, "WARNING")
    assert warehouse(tmp_path).execute(
        'SELECT count(*) FROM "tester_gdel_ident"."t" WHERE NOT _fivetran_deleted AND extra = 7').fetchone() == (40,)


def test_a_gone_table_is_named_marked_deleted_and_dropped_from_the_state(server, pg, sql, tmp_path):
    name = table(sql, "gdel_gone", 50)
    sql("CREATE TABLE gdel_gone.stays (id int PRIMARY KEY, val text)")
    cfg = config(pg, "gdel_gone")
    state = run_relayed(tmp_path, server, cfg)
    sql(f"ALTER TABLE {name} RENAME TO renamed")
    state = run_relayed(tmp_path, server, cfg, state)
    assert any(m.startswith("gdel_gone.t: gone from the source (dropped or renamed) or no longer selected")
               for m in messages(server, "WARNING"))
    assert live(tmp_path, "gdel_gone") == []
    assert live(tmp_path, "gdel_gone", "renamed") == source(sql, "gdel_gone", "renamed")
    assert name not in state["tables"] and "gdel_gone.renamed" in state["tables"]


def test_one_state_for_both_doors(server, pg, sql, tmp_path):
    """The SDK connector's state continues under the server (an incremental read of the changes, not a new full
    load) and the server's under the SDK connector, into one warehouse that stays equal to the source."""
    name = table(sql, "gdel_both", 500)
    sql(f"UPDATE {name} SET updated_at = now() - interval '1 day' + id * interval '1 millisecond'")
    cfg = config(pg, "gdel_both", delete_reconciliation_hours="0", incremental_lookback_seconds="0")
    state = run_sync(tmp_path, cfg)
    assert state["tables"][name]["phase"] == "incremental" and "identity" in state["tables"][name]
    sql(f"DELETE FROM {name} WHERE id % 10 = 0")
    sql(f"UPDATE {name} SET val = 'changed', updated_at = now() WHERE id = 11")
    sql(f"INSERT INTO {name} (id, val) VALUES (200000, 'new')")
    seen = []
    state = run_relayed(tmp_path, server, cfg, state,
                        on_response=lambda r: seen.extend(r.records.records if r.HasField("records") else []))
    assert live(tmp_path, "gdel_both") == source(sql, "gdel_both")
    upserts = [r for r in seen if r.type == 0]
    # the changed row and the new one (the row at the mark, 500, is deleted)
    assert sorted(r.data["id"].int for r in upserts) == [11, 200000], "not only the changes"
    assert not any(m.startswith("gdel_both.t:") and "read again in full" in m for m in messages(server, "WARNING"))
    sql(f"UPDATE {name} SET val = 'back', updated_at = now() WHERE id = 12")
    sql(f"DELETE FROM {name} WHERE id = 13")
    state = run_sync(tmp_path, cfg, state)
    assert live(tmp_path, "gdel_both") == source(sql, "gdel_both")
    assert state["tables"][name]["phase"] == "incremental"


def test_a_first_load_sends_its_truncate_first_and_a_killed_one_resumes_exact(server, pg, sql, tmp_path):
    """The server's first load of a table: the truncate is its first record and no key pass follows (rows + 1
    records); a first load that dies after a mid-table checkpoint resumes with no second truncate and ends with the
    key pass, so the rows it read before it died and the source deleted since are marked deleted."""
    name = table(sql, "gdel_first", 6000)
    cfg = config(pg, "gdel_first", batch_size=500, checkpoint_rows=1000, cursor_columns='{"t": null}')
    sent, checkpoints = [], []

    def dies_at_the_third_checkpoint(response):
        if response.WhichOneof("operation") == "records":
            sent.extend(r.type for r in response.records.records)
        if response.WhichOneof("operation") == "checkpoint":
            checkpoints.append(response)
            if len(checkpoints) == 3:
                raise RuntimeError("died mid-table")

    with pytest.raises(Exception, match="died mid-table"):
        run_relayed(tmp_path, server, cfg, on_response=dies_at_the_third_checkpoint)
    assert sent[0] == 3 and sent.count(3) == 1, "the truncate comes first, once"
    read_before = [i for i, _ in live(tmp_path, "gdel_first")]
    assert 0 < len(read_before) < 6000
    saved = json.loads((tmp_path / "files" / "state.json").read_text())
    sql(f"DELETE FROM {name} WHERE id % 100 = 0")
    sent.clear()
    run_relayed(tmp_path, server, cfg, saved, on_response=lambda r: sent.extend(
        x.type for x in (r.records.records if r.HasField("records") else [])))
    assert sent.count(3) == 1 and sent.index(3) > 0, "no truncate before the resumed rows; the key pass's after them"
    assert live(tmp_path, "gdel_first") == source(sql, "gdel_first")
    gone = [i for (i,) in deleted(tmp_path, "gdel_first")]  # the deleted rows it read before it died
    assert gone == [i for i in read_before if i % 100 == 0] and gone
    fresh = run_relayed(tmp_path, server, cfg, {})  # a reset state: truncated first again, ends exact
    assert "reconciled_at" in fresh["tables"][name] and live(tmp_path, "gdel_first") == source(sql, "gdel_first")
