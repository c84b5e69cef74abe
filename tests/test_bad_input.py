"""Every bad input gets one clear line naming the key and the fix, early: nothing written, no password shown, no
crash, no hang. The configuration matrix runs through the SDK's own runner; the library cases call it directly."""
import socket
import threading
import time

import connector_accel as ca
import pyarrow as pa
import pytest

from testkit import connection_config, run_sync, warehouse

SECRET = "Sup3r-Secret-Pw"


@pytest.fixture(scope="module")
def tables(pg):
    import psycopg

    from testkit import conninfo

    with psycopg.connect(**conninfo(pg), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS bad CASCADE")
        conn.execute("CREATE SCHEMA bad")
        conn.execute("CREATE TABLE bad.alpha (id bigint PRIMARY KEY, note text, updated_at timestamptz)")
        conn.execute("CREATE TABLE bad.beta (id bigint PRIMARY KEY, note text)")
        conn.execute("INSERT INTO bad.alpha SELECT i, 'n' || i, now() FROM generate_series(1, 1000) i")
        conn.execute("INSERT INTO bad.beta SELECT i, 'm' || i FROM generate_series(1, 10) i")
        conn.execute("CREATE VIEW bad.some_view AS SELECT * FROM bad.alpha")
        conn.execute("CREATE TABLE bad.flags (id int PRIMARY KEY, flag varchar(1))")
        conn.execute("INSERT INTO bad.flags SELECT i, CASE WHEN i % 10 = 0 THEN 'Y' ELSE 'N' END "
                     "FROM generate_series(1, 100) i")
        conn.execute("CREATE TABLE bad.nokey (n int, gone boolean)")
        conn.execute("INSERT INTO bad.nokey SELECT i, i <= 3 FROM generate_series(1, 10) i")
        conn.execute("ANALYZE bad.alpha")
    return pg


MATRIX = [
    # crashes and hangs before
    ({"batch_size": "99999999999999"}, "batch_size", "from 1 to 1000000"),
    ({"retry_sleep_seconds": "inf"}, "retry_sleep_seconds", "not a number of seconds"),
    ({"retry_sleep_seconds": "1e308"}, "retry_sleep_seconds", "out of range"),
    ({"retry_sleep_seconds": "NaN"}, "retry_sleep_seconds", "not a number of seconds"),
    ({"max_retries": "99999999999999999999"}, "max_retries", "out of range"),
    ({"partitions": "100000"}, "partitions", "from 1 to 1024"),
    ({"workers": "-2"}, "workers", "out of range"),
    ({"incremental_lookback_seconds": "-1"}, "incremental_lookback_seconds", "out of range"),
    ({"flatten_depth": "0"}, "flatten_depth", "out of range"),
    ({"connect_timeout": "0"}, "connect_timeout", "out of range"),
    ({"read_timeout_seconds": "0.5"}, "read_timeout_seconds", "from 1 to 86400"),
    # late or wrongly named errors before
    ({"table_filters": '{"bad.alpha": [{"column": "id", "operator": "=", "value": "abc"}]}'}, "table_filters",
     "'abc' for column id of bad.alpha is not a valid bigint"),
    # silent before
    ({"soft_delete_column": "is_deletd"}, "soft_delete_column", "no selected table has a column 'is_deletd'"),
    ({"cursor_columns": "updated_att"}, "cursor_columns", "no selected table has a column 'updated_att'"),
    ({"tables": ",,"}, "tables", "names no table"),
    ({"schemas": " , "}, "schemas", "names no schema"),
    ({"emit": "fast"}, "emit", "auto"),
    ({"tables": "bad.flags", "soft_delete_column": "flag"}, "soft_delete_column",
     "column flag of bad.flags is character varying(1), but a soft-delete column must be a boolean, an integer or a timestamp"),
    # handled before, and still
    ({"port": "54x2"}, "port", "port number"),
    ({"sslmode": "sometimes"}, "sslmode", "verify-full"),
    ({"custom_threads": "lots"}, "custom_threads", "whole number"),
    ({"flatten_json": "maybe"}, "flatten_json", "true or false"),
    ({"tables": "bad.absent"}, "tables", "does not exist"),
    ({"enable_preprocessing": "true"}, "preprocessing_sql", "statement"),
]


@pytest.mark.parametrize("change, key, says", MATRIX, ids=[f"{m[1]}={list(m[0].values())[0]}" for m in MATRIX])
def test_bad_configuration_is_one_line_naming_the_key_and_nothing_is_written(tables, tmp_path, capsys, change,
                                                                               key, says):
    config = {**connection_config(tables, schemas="bad"), **change}
    password = config["password"]
    started = time.monotonic()
    with pytest.raises(Exception) as err:
        run_sync(tmp_path, config)
    message = str(err.value)
    assert f"configuration key '{key}'" in message and says in message, message
    assert time.monotonic() - started < 15, "the error came late"
    line = next(ln for ln in message.splitlines() if f"configuration key '{key}'" in ln)
    assert says in line, "the key and the fix are on one line"
    out = capsys.readouterr()
    assert password not in message + out.out + out.err
    assert not (tmp_path / "files" / "state.json").exists(), "no state was written"
    if (tmp_path / "files" / "warehouse.db").exists():
        written = warehouse(tmp_path).execute("SELECT table_name FROM information_schema.tables "
                                              "WHERE table_schema = 'tester_bad'").fetchall()
        assert written == [], f"nothing is written before a configuration error: {written}"


def test_warnings_where_the_sync_can_go_on(tables, tmp_path, capsys):
    config = connection_config(tables, schemas="bad", exclude_tables="bad.t3", tables="", partitions="64")
    run_sync(tmp_path, config)
    out = capsys.readouterr().out
    assert "exclude_tables: 'bad.t3' matches no table" in out
    assert "'tables' is empty, so every table is synced" in out
    assert "1 view(s) are not synced, only tables: bad.some_view (view)" in out
    assert "bad.alpha: partitions=64 would cut ~1000 rows" in out and "reading 1 partition(s)" in out
    counts = dict(warehouse(tmp_path).execute("SELECT table_name, count(*) FROM (SELECT 'alpha' AS table_name FROM "
                                              "tester_bad.alpha UNION ALL SELECT 'beta' FROM tester_bad.beta) GROUP BY 1")
                  .fetchall())
    assert counts == {"alpha": 1000, "beta": 10}


def test_a_view_named_in_tables_is_synced_in_full(tables, tmp_path, capsys):
    run_sync(tmp_path, connection_config(tables, schemas="bad", tables="bad.some_view"))
    out = capsys.readouterr().out
    assert "table bad.some_view has no primary key" in out, "rows are keyed by a hash, and the log says so"
    assert warehouse(tmp_path).execute("SELECT count(*), count(DISTINCT id) FROM tester_bad.some_view").fetchone() \
        == (1000, 1000)


def test_a_table_without_a_key_takes_no_pretend_deletes(tables, tmp_path, capsys):
    run_sync(tmp_path, connection_config(tables, schemas="bad", tables="bad.nokey", soft_delete_column="gone"))
    out = capsys.readouterr().out
    assert "table bad.nokey has no primary key, so rows flagged in gone cannot be deleted" in out
    assert "10 rows upserted (no primary key: identical rows land as one, by row hash)" in out
    note = warehouse(tmp_path).execute("SELECT note FROM tester.sync_validation WHERE table_name = 'nokey'").fetchone()
    assert note and note[0].startswith("no primary key: rows are keyed by a hash"), note
    rows = warehouse(tmp_path).execute("SELECT n, gone FROM tester_bad.nokey WHERE NOT _fivetran_deleted "
                                       "ORDER BY n").fetchall()
    assert rows == [(i, i <= 3) for i in range(1, 11)], "every row arrives, flag included; none is 'deleted'"


def test_a_dsn_connect_timeout_is_applied(tables):
    """A server that accepts TCP and never answers: the DSN's connect_timeout=2, not the default 30 s, applies."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(20)
    held = []

    def hold():  # accepts and never answers, keeping the connections open until the test ends
        for _ in range(2):
            try:
                held.append(listener.accept()[0])
            except OSError:
                return
    acceptor = threading.Thread(target=hold, daemon=True)
    acceptor.start()
    port = listener.getsockname()[1]
    for dsn in (f"postgresql://u:{SECRET}@127.0.0.1:{port}/db?connect_timeout=2",
                f"host=127.0.0.1 port={port} user=u password={SECRET} connect_timeout=2"):
        started = time.monotonic()
        with pytest.raises(ca.SourceConnectionError) as err:
            ca.Source({"dsn": dsn}).discover()
        assert time.monotonic() - started < 8, "the default 30 s applied"
        assert "no answer within 2s" in str(err.value) and SECRET not in str(err.value)
    acceptor.join(5)
    for conn in held:
        conn.close()
    listener.close()


def test_library_arguments_are_checked(tables):
    config = connection_config(tables)
    for kwargs, key in [({"partitions": 0}, "partitions"), ({"partitions": -1}, "partitions"),
                        ({"batch_size": 0}, "batch_size"), ({"batch_size": -1}, "batch_size")]:
        with pytest.raises(ValueError) as err:
            ca.read_arrow(config, "bad.alpha", **kwargs)
        assert str(err.value).startswith(key), err.value
    with pytest.raises(ValueError, match="looks like a query; pass it as query="):
        ca.read_arrow(config, "SELECT 1")
    with pytest.raises(ca.ConfigurationError) as err:  # a name with a space is a table name, not a query
        ca.read_arrow(config, "My Schema.Order Items")
    assert err.value.key == "table" and "'My Schema.Order Items' does not exist" in str(err.value)
    table = pa.table(ca.read_arrow(config, query="SELECT 41 + 1 AS answer;  "))  # a trailing ';' is fine
    assert table.to_pylist() == [{"answer": 42}]
    source = ca.Source(config)
    source.discover()
    with pytest.raises(ca.ConfigurationError) as err:
        source.read("bad", "alpha", batch_size=-1)
    assert err.value.key == "batch_size"


def test_an_arrow_stream_that_fails_keeps_the_sqlstate(tables):
    reader = ca.read_arrow(connection_config(tables), query="SELECT 1 / (id - 500) AS boom FROM bad.alpha ORDER BY id",
                           batch_size=100)
    with pytest.raises(pa.ArrowInvalid) as err:
        pa.table(reader)
    assert "[SQLSTATE 22012]" in str(err.value), "the code is in the consumer's message"
    assert isinstance(reader.error, ca.QueryError) and reader.error.sqlstate == "22012"


@pytest.mark.parametrize("ddl, says", [
    (['CREATE TABLE clash."a-b" (id int PRIMARY KEY)', "CREATE TABLE clash.a_b (id int PRIMARY KEY)"],
     "tables clash.a-b and clash.a_b would land in one destination table 'a_b'"),
    (['CREATE TABLE clash."Order Items" (id int PRIMARY KEY)', "CREATE TABLE clash.order_items (id int PRIMARY KEY)"],
     "would land in one destination table 'order_items'"),
    (['CREATE TABLE clash.cols (id int PRIMARY KEY, "UPPER" int, "Upper" int)'],
     "table clash.cols: columns 'UPPER' and 'Upper' would land in one destination column 'upper'"),
    (["CREATE TABLE clash.doc (id int PRIMARY KEY, doc_x int, doc jsonb)",
      """INSERT INTO clash.doc VALUES (1, 1, '{"x": 2}')"""],
     "table clash.doc: a JSON key flattens to 'doc_x', which is also a column"),
    (["CREATE TABLE clash.sys (id int PRIMARY KEY, _fivetran_synced text)"],
     "column '_fivetran_synced' would land in the destination's own column _fivetran_synced"),
])
def test_names_that_would_collide_in_the_destination_stop_the_sync_before_anything_is_written(pg, sql, tmp_path,
                                                                                             ddl, says):
    sql("DROP SCHEMA IF EXISTS clash CASCADE")
    sql("CREATE SCHEMA clash")
    for statement in ddl:
        sql(statement)
    with pytest.raises(Exception) as err:
        run_sync(tmp_path, connection_config(pg, schemas="clash"))
    assert "configuration key '" in str(err.value) and says in str(err.value), err.value
    assert not (tmp_path / "files" / "state.json").exists()


def test_two_json_keys_that_flatten_alike_keep_both_values(pg, sql, tmp_path, capsys):
    sql("DROP SCHEMA IF EXISTS clash CASCADE")
    sql("CREATE SCHEMA clash")
    sql("CREATE TABLE clash.nested (id int PRIMARY KEY, d jsonb)")
    sql("""INSERT INTO clash.nested VALUES (1, '{"k": 1}'), (2, '{"a_b": 1, "a": {"b": 2}}')""")
    run_sync(tmp_path, connection_config(pg, schemas="clash"))
    assert "flatten to the same column 'd_a_b'" in capsys.readouterr().out
    import json
    row = warehouse(tmp_path).execute("SELECT d FROM tester_clash.nested WHERE id = 2").fetchone()
    assert json.loads(row[0]) == {"a_b": 1, "a": {"b": 2}}, "the object arrives whole: neither value is lost"
