"""The Partner SDK server (`python -m connector_accel serve`, all Rust) driven by a grpcio client over stubs made
from our .proto files, against a real PostgreSQL: the form, the setup test, the schema, and Update's batches,
checkpoints, state round trip, selection, kill and resume, each compared with the source value by value."""
import json
import time
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from testkit import connection_config
from testkit.grpc_server import Server, as_configuration, wait_for

TABLE = "grpc_orders"


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def orders(sql):
    sql(f"DROP TABLE IF EXISTS {TABLE}")
    sql(f"""CREATE TABLE {TABLE} (id int PRIMARY KEY, amount numeric(30,10), note text, at timestamp(6),
            seen timestamptz, payload jsonb, updated_at timestamptz NOT NULL DEFAULT now())""")
    sql(f"""INSERT INTO {TABLE} (id, amount, note, at, seen, payload)
            SELECT g, g * 1.0000000001 + 12345678901234567890, 'note ' || g,
                   '2024-03-01 10:00:00.123456'::timestamp + g * interval '1 second', now(), jsonb_build_object('g', g)
            FROM generate_series(1, 2500) g""")
    yield TABLE
    sql(f"DROP TABLE IF EXISTS {TABLE}")


def configuration(pg, **extra) -> dict:
    config = as_configuration(connection_config(pg))
    config.update({"tables": f"public.{TABLE}", "flatten_json": "false", "sync_validation": "false",
                   "source_metadata": "false", **extra})
    return config


def value(v):
    """A ValueType as a Python value to compare with the source."""
    kind = v.WhichOneof("inner")
    if kind == "null":
        return None
    if kind in ("naive_datetime", "utc_datetime", "naive_date"):
        t = getattr(v, kind)
        at = datetime.fromtimestamp(t.seconds, tz=timezone.utc).replace(microsecond=t.nanos // 1000)
        return at if kind == "utc_datetime" else at.replace(tzinfo=None)
    if kind == "decimal":
        return Decimal(v.decimal)
    if kind == "json":
        return json.loads(v.json)
    return getattr(v, kind)


UPSERT, UPDATE, DELETE, TRUNCATE = range(4)


def records_of(responses, types=(UPSERT, DELETE)) -> list:
    """The records of the read itself: upserts and deletes, not the key pass's truncate and key-only updates."""
    out = []
    for r in responses:
        kind = r.WhichOneof("operation")
        if kind == "records":
            out.extend(x for x in r.records.records if x.type in types)
        elif kind == "record" and r.record.type in types:
            out.append(r.record)
    return out


def checkpoints(responses) -> list:
    return [json.loads(r.checkpoint.state_json) for r in responses if r.WhichOneof("operation") == "checkpoint"]


def test_the_form_and_the_setup_test(server, pg, orders):
    sdk = server.stubs.common
    form = server.client.ConfigurationForm(sdk.ConfigurationFormRequest())
    names = [f.name for f in form.fields]
    assert names[:5] == ["host", "port", "database", "user", "password"]
    assert [f.name for f in form.fields if f.WhichOneof("type") == "text_field" and f.text_field == sdk.Password] == ["password"]
    ok = server.client.Test(sdk.TestRequest(name=form.tests[0].name, configuration=configuration(pg)))
    assert ok.WhichOneof("response") == "success", ok
    wrong = dict(configuration(pg), password="not-the-password-42")
    failed = server.client.Test(sdk.TestRequest(name="connect", configuration=wrong))
    assert failed.WhichOneof("response") == "failure"
    assert "password" in failed.failure and "not-the-password-42" not in failed.failure


def test_schema_declares_types_keys_and_decimal_precision(server, pg, orders):
    sdk = server.stubs.connector_sdk
    common = server.stubs.common
    answer = server.client.Schema(sdk.SchemaRequest(configuration=configuration(pg)))
    (schema,) = answer.with_schema.schemas
    (table,) = schema.tables
    columns = {c.name: c for c in table.columns}
    assert [c.name for c in table.columns if c.primary_key] == ["id"]
    assert columns["amount"].type == common.DECIMAL
    assert (columns["amount"].params.decimal.precision, columns["amount"].params.decimal.scale) == (30, 10)
    assert columns["at"].type == common.NAIVE_DATETIME and columns["seen"].type == common.UTC_DATETIME
    assert columns["payload"].type == common.JSON


def test_update_batches_checkpoints_and_values_match_the_source(server, pg, orders, sql):
    sql(f"INSERT INTO {TABLE} (id, note) VALUES (9999, repeat('x', 200000))")  # bigger than any batch
    responses = server.update(configuration(pg, checkpoint_rows="500", batch_size="333"))  # batches end mid-record-batch
    sent_ids = []
    for r in responses:
        kind = r.WhichOneof("operation")
        if kind == "records":
            assert 1 <= len(r.records.records) <= 100
            assert r.records.ByteSize() <= 100 * 1024
            sent_ids.extend(int(rec.data["id"].int) for rec in r.records.records if rec.type == UPSERT)
        elif kind == "record":
            assert r.record.ByteSize() > 100 * 1024, "only an oversized record travels alone"
            assert r.record.type == UPSERT
            sent_ids.append(int(r.record.data["id"].int))
        elif kind == "checkpoint":
            state = json.loads(r.checkpoint.state_json)
            entry = state["tables"][f"public.{TABLE}"]
            for part in entry.get("plan", {}).get("partitions", []):
                if part.get("after"):
                    assert int(part["after"][0]) in sent_ids, "a checkpoint named a row not yet sent"
        assert kind != "task", r
    rows = {int(rec.data["id"].int): rec for rec in records_of(responses)}
    source = {r[0]: r for r in sql(f"SELECT id, amount, note, at, seen, payload FROM {TABLE}")}
    assert sorted(rows) == sorted(source) == sorted(sent_ids)
    for key, (_, amount, note, at, seen, payload) in source.items():
        data = rows[key].data
        assert (value(data["amount"]), value(data["note"]), value(data["at"]), value(data["seen"]),
                value(data["payload"])) == (amount, note, at, seen, payload), key
    assert len(checkpoints(responses)) >= 3
    assert responses[-1].WhichOneof("operation") == "checkpoint"


def test_the_returned_state_reads_only_changes(server, pg, orders, sql):
    sql(f"UPDATE {TABLE} SET updated_at = now() - interval '1 day' + id * interval '1 millisecond'")
    config = configuration(pg, cursor_columns="updated_at", incremental_lookback_seconds="0")
    first = server.update(config)
    state = checkpoints(first)[-1]
    assert state["tables"][f"public.{TABLE}"]["phase"] == "incremental"
    sql(f"UPDATE {TABLE} SET note = 'changed', updated_at = now() + interval '1 second' WHERE id IN (7, 8)")
    sql(f"INSERT INTO {TABLE} (id, note, updated_at) VALUES (3001, 'new', now() + interval '1 second')")
    second = server.update(config, state)
    changed = {int(r.data["id"].int): value(r.data["note"]) for r in records_of(second)}
    # The row at the mark itself (id 2500, the newest before) is read again by design: the window starts at the
    # mark, inclusive, so a row committed later with the same cursor value is not lost.
    assert changed == {7: "changed", 8: "changed", 3001: "new", 2500: "note 2500"}


def test_selection_leaves_out_what_fivetran_excluded(server, pg, orders, sql):
    sdk = server.stubs.connector_sdk
    selection = sdk.Selection(with_schema=sdk.TablesWithSchema(include_new_schemas=False, schemas=[
        sdk.SchemaSelection(included=True, schema_name="public", include_new_tables=False,
                            tables=[sdk.TableSelection(included=False, table_name=TABLE)])]))
    responses = server.update(configuration(pg), selection=selection)
    assert records_of(responses) == []
    assert responses[-1].WhichOneof("operation") == "checkpoint"


def test_a_killed_server_resumes_from_its_last_checkpoint_and_ends_exact(pg, orders, sql):
    sql(f"INSERT INTO {TABLE} (id, note) SELECT g, 'more' FROM generate_series(2501, 40000) g")
    sql(f"ANALYZE {TABLE}")
    config = configuration(pg, checkpoint_rows="2000", batch_size="500", partitions="4", queue_size="1000")
    first = Server()
    stream = first.client.Update(first.stubs.connector_sdk.UpdateRequest(configuration=config), timeout=300)
    seen, state = set(), None
    for r in stream:
        seen.update(int(rec.data["id"].int) for rec in records_of([r]))
        if r.WhichOneof("operation") == "checkpoint" and len(seen) > 8000:
            state = json.loads(r.checkpoint.state_json)
            break
    first.kill()
    assert state is not None, "no checkpoint before the kill"
    second = Server()
    try:
        rest = second.update(config, state)
    finally:
        second.stop()
    again = [int(rec.data["id"].int) for rec in records_of(rest)]
    source = {r[0] for r in sql(f"SELECT id FROM {TABLE}")}
    assert seen | set(again) == source
    # Resuming means each partition continues after its own saved key: no row before a saved position comes again.
    for part in state["tables"][f"public.{TABLE}"]["plan"]["partitions"]:
        if part.get("after"):
            lo = int(part["lo"][0]) if part.get("lo") else -1
            after = int(part["after"][0])
            assert not [k for k in again if lo < k <= after], part
    assert len(again) < len(source), "the rerun read everything again"


def test_logs_are_json_lines_without_secrets(server, pg):
    server.client.Test(server.stubs.common.TestRequest(name="connect", configuration=configuration(pg)))
    logs = server.logs()
    assert logs and all({"level", "message", "message-origin"} <= set(line) for line in logs)
    assert {line["level"] for line in logs} <= {"INFO", "WARNING", "SEVERE"}
    assert all(pg["password"] not in line["message"] for line in logs)


def rss_mb(server) -> float:
    with open(f"/proc/{server.process.pid}/status") as status:
        lines = status.read().splitlines()
    for line in lines:
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_column_selection_leaves_out_what_fivetran_excluded(server, pg, orders):
    sdk = server.stubs.connector_sdk
    chosen = sdk.TableSelection(included=True, table_name=TABLE, include_new_columns=False,
                                columns={"id": True, "amount": True, "note": False, "payload": True})
    selection = sdk.Selection(with_schema=sdk.TablesWithSchema(include_new_schemas=False, schemas=[
        sdk.SchemaSelection(included=True, schema_name="public", include_new_tables=False, tables=[chosen])]))
    rows = records_of(server.update(configuration(pg), selection=selection))
    assert len(rows) == 2500
    assert {frozenset(r.data) for r in rows} == {frozenset({"id", "amount", "payload"})}
    assert any("columns left out by the selection: at, note, seen, updated_at" in line["message"]
               for line in server.logs())


def test_a_client_that_stops_reading_holds_the_read_back_and_a_cancel_ends_it(server, pg, orders, sql):
    """Backpressure: a client that stops reading leaves the read waiting (its session still open twice as long as a
    whole read takes); an unbounded queue would have read it all and closed. A cancel then ends the read and closes
    its sessions."""
    sql(f"INSERT INTO {TABLE} (id, note) SELECT g, repeat('y', 500) FROM generate_series(2501, 400000) g")
    sql(f"ANALYZE {TABLE}")

    def sessions() -> int:
        return sql("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'connector_accel%%'")[0][0]

    started = time.monotonic()
    assert len(records_of(server.update(configuration(pg)))) == 400000
    whole = time.monotonic() - started  # a read the client keeps up with
    call = server.client.Update(server.stubs.connector_sdk.UpdateRequest(configuration=configuration(pg)), timeout=300)
    received = 0
    for response in call:
        received += len(records_of([response]))
        if received >= 1000:
            break
    stalled_at = rss_mb(server)
    time.sleep(max(2 * whole, 2.0))  # long enough for an unbounded read to have finished
    # The server's memory grows only by what its bounded pipeline holds (the read's queued batches, 8 responses,
    # HTTP/2 windows: +10 to +34 MB measured here), not by the table: 400,000 rows of ~530 bytes, ~220 MB as records.
    grown = rss_mb(server) - stalled_at
    print(f"server RSS while the client stopped reading: {stalled_at:.0f} MB, then {grown:+.1f} MB")
    assert grown < 60, f"the server's memory grew by {grown:.0f} MB while the client read nothing"
    assert sessions() > 0, "the read ran ahead of a client that stopped reading"
    call.cancel()
    wait_for(lambda: sessions() == 0, seconds=30)


def test_update_method_logical_on_a_server_without_it_is_a_task_with_the_dbas_sql(server, pg, orders):
    """`pg` runs with wal_level = replica: the sync stops before any record, with the line a DBA acts on (never a
    silent sync by cursor, which would miss deletes). Logical replication itself: tests/test_grpc_logical.py."""
    responses = server.update(configuration(pg, update_method="logical"))
    tasks = [r for r in responses if r.WhichOneof("operation") == "task"]
    assert tasks and "ALTER SYSTEM SET wal_level = logical" in tasks[0].task.message, responses
    assert not records_of(responses)


def test_update_method_auto_on_a_server_without_logical_is_cursor_with_the_reason_and_the_fix(server, pg, sql, orders):
    """`pg` runs with wal_level = replica: auto decides cursor for the connection, recorded in the state, said in one
    warning with the reason and the DBA's fix (deletes are then seen only by delete_reconciliation_hours), and
    nothing made on the server. auto choosing logical: tests/test_grpc_logical.py."""
    responses = server.update(configuration(pg, update_method="auto"))
    warnings = [r.warning.message for r in responses if r.WhichOneof("operation") == "warning"]
    said = [w for w in warnings if w.startswith("update_method=auto: ")]
    assert len(said) == 1 and said[0].startswith("update_method=auto: cursor for this connection (recorded in the "
                                                 "state: later syncs keep it)"), warnings
    assert said[0].endswith("Not logical because logical needs wal_level = logical; the server has replica. A DBA "
                            "can run: ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL"), said
    state = json.loads(responses[-1].checkpoint.state_json)
    assert state["update_method"]["method"] == "cursor" and "replication" not in state, state
    assert records_of(responses)
    assert sql("SELECT count(*) FROM pg_publication") == [(0,)]
    assert sql("SELECT count(*) FROM pg_replication_slots") == [(0,)]
