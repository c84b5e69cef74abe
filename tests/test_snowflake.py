"""The Snowflake source through our own client over real HTTP, against fakesnow's server (an independent emulation of
Snowflake over DuckDB) behind the protocol wrapper of testkit/snowflake/server.py (what fakesnow lacks: multi-chunk
results, the service's Arrow encodings, JWT checks, session expiry, asynchronous statements). What this cannot
prove about the real service is in README ("What was tested against what")."""
import json
import subprocess
from datetime import date, datetime, timezone
from decimal import Decimal

import connector_accel as ca
import pyarrow as pa
import pytest
from connector_accel import ConfigurationError, QueryError, Source, SourceConnectionError

from testkit import run_sync, warehouse
from testkit.resume import keys_left, keys_synced_since, killed_mid_table, last_synced, upserted_by
from testkit.snowflake import Server

SCHEMA = "tester_public"

TYPES = [  # (column, Snowflake type, DuckDB type in the warehouse, SQL literal, value expected in the warehouse)
    ("C_INT", "NUMBER(18,0)", "BIGINT", "-999999999999999999", -999999999999999999),
    # fakesnow stores NUMBER(38,0) as a 64-bit integer: its widest value is the test's (decode.rs' tests take 38 digits)
    ("C_BIG", "NUMBER(38,0)", "DECIMAL(38,0)", "9223372036854775807", Decimal("9223372036854775807")),
    ("C_MONEY", "NUMBER(10,2)", "DECIMAL(10,2)", "-12345678.90", Decimal("-12345678.90")),
    ("C_FINE", "NUMBER(38,10)", "DECIMAL(38,10)", "1234567890123456789012345678.0123456789",
     Decimal("1234567890123456789012345678.0123456789")),
    ("C_FLOAT", "FLOAT", "DOUBLE", "2.2250738585072014e-308", 2.2250738585072014e-308),
    ("C_TEXT", "VARCHAR", "VARCHAR", "'café ''quoted'' \"double\" 日本 🌍'", "café 'quoted' \"double\" 日本 🌍"),
    ("C_BOOL", "BOOLEAN", "BOOLEAN", "TRUE", True),
    ("C_BIN", "BINARY", "BLOB", "TO_BINARY('00FF10', 'HEX')", b"\x00\xff\x10"),
    ("C_DATE", "DATE", "DATE", "'1969-07-20'", date(1969, 7, 20)),
    ("C_TIME", "TIME", "VARCHAR", "'23:59:59.123456'", "23:59:59.123456"),
    ("C_NTZ", "TIMESTAMP_NTZ", "TIMESTAMP", "'1965-03-04 05:06:07.654321'", datetime(1965, 3, 4, 5, 6, 7, 654321)),
    ("C_NTZ_MAX", "TIMESTAMP_NTZ", "TIMESTAMP", "'2262-01-01 00:00:00.000001'", datetime(2262, 1, 1, 0, 0, 0, 1)),
    ("C_TZ", "TIMESTAMP_TZ", "TIMESTAMP WITH TIME ZONE", "'2024-06-01 12:00:00.123456+00:00'",
     datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)),
    ("C_VARIANT", "VARIANT", "JSON", "PARSE_JSON('[1, 2.50, \"x\"]')", [1, 2.5, "x"]),
    ("C_OBJECT", "OBJECT", "JSON", "OBJECT_CONSTRUCT('a', 1, 'b', 'two')", {"a": 1, "b": "two"}),
]


start = Server.shop


@pytest.fixture(scope="module", params=["fakesnow", "snowflake"])
def snow(request):
    """A server per Arrow encoding: fakesnow's own, and the service's (ints with a scale, int64 timestamps)."""
    server = start("--encoding", request.param, "--chunk-rows", "1000")
    server.encoding = request.param
    columns = ", ".join(f"{c} {t}" for c, t, *_ in TYPES)
    values = ", ".join(v for *_, v, _ in TYPES)
    try:
        server.sql(f"CREATE TABLE TYPES (ID NUMBER(38,0) PRIMARY KEY, {columns})",
                   f"INSERT INTO TYPES SELECT 1, {values}", "INSERT INTO TYPES (ID) VALUES (2)")
        yield server
    finally:
        server.stop()


def config(server, **extra):
    return server.configuration(retry_sleep_seconds="0.05", sync_validation="false", source_metadata="false",
                                **{k: str(v) for k, v in extra.items()})


def test_every_type_arrives_exactly_with_its_type(snow, tmp_path):
    """Every type, in fakesnow's Arrow encoding and in the service's, lands value by value in the warehouse."""
    run_sync(tmp_path, config(snow, tables="TYPES", flatten_json="false"))
    db = warehouse(tmp_path)
    types = dict(db.execute("SELECT column_name, data_type FROM information_schema.columns "
                            "WHERE table_schema = ? AND table_name = 'types'", [SCHEMA]).fetchall())
    names = [c.lower() for c, *_ in TYPES]
    row = db.execute(f"SELECT {', '.join(names)} FROM {SCHEMA}.types WHERE id = 1").fetchone()
    nulls = db.execute(f"SELECT {', '.join(names)} FROM {SCHEMA}.types WHERE id = 2").fetchone()
    for (name, _, duck, _, expected), got, null in zip(TYPES, row, nulls, strict=True):
        assert types[name.lower()] == duck, f"{name}: {types[name.lower()]} != {duck}"
        if duck == "JSON":
            got = json.loads(got)
        if isinstance(got, (bytes, bytearray, memoryview)):
            got = bytes(got)
        assert got == expected, f"{name}: {got!r} != {expected!r}"
        assert null is None, f"{name}: NULL became {null!r}"


def test_discovery_reads_keys_estimates_and_says_keys_are_not_enforced(snow):
    source = Source(config(snow, tables="TYPES"))
    tables, warnings = source.discover()
    (t,) = tables
    assert (t["schema"], t["table"], t["primary_key"], t["resumable"]) == ("PUBLIC", "TYPES", ["ID"], True)
    assert t["row_estimate"] == 2
    assert any("Snowflake does not enforce primary keys (PUBLIC.TYPES)" in w for w in warnings), warnings


# --- reads -------------------------------------------------------------------------------------------------------

BIG_ROWS = 20_000


@pytest.fixture(scope="module")
def chunked():
    """Results cut into chunks of 997 rows served from URLs (gzipped one in two), in the service's encodings."""
    server = start("--encoding", "snowflake", "--chunk-rows", "997")
    server.sql("CREATE TABLE BIG (PART NUMBER(4,0) NOT NULL, ID NUMBER(38,0) NOT NULL, VAL VARCHAR, "
               "AMOUNT NUMBER(12,2), UPDATED_AT TIMESTAMP_NTZ NOT NULL, PRIMARY KEY (PART, ID))",
               f"INSERT INTO BIG SELECT i % 7, i, 'row ' || i, i / 100, TIMESTAMP '2024-01-01 00:00:00' "
               f"+ INTERVAL (i) SECOND FROM range(1, {BIG_ROWS + 1}) t(i)")
    yield server
    server.stop()


def assert_big_synced(project):
    db = warehouse(project)
    count, distinct, total = db.execute(
        f"SELECT count(*), count(DISTINCT (part, id)), sum(amount) FROM {SCHEMA}.big").fetchone()
    assert (count, distinct) == (BIG_ROWS, BIG_ROWS)
    assert total == sum(Decimal(g) / 100 for g in range(1, BIG_ROWS + 1)).quantize(Decimal("0.01"))
    assert db.execute(f"SELECT val FROM {SCHEMA}.big WHERE part = 3 AND id = 10").fetchone() == ("row 10",)


def test_a_multi_chunk_result_downloads_every_chunk_with_its_headers(chunked, tmp_path):
    before = chunked.counts()["chunk_downloads"]
    run_sync(tmp_path, config(chunked, tables="BIG"))
    assert_big_synced(tmp_path)
    # 20,000 rows in chunks of 997: 21 chunks, the first inline; the key pass after the load reads them again
    assert chunked.counts()["chunk_downloads"] - before >= 20


def test_partitioned_load_reads_key_ranges_in_parallel(chunked, tmp_path):
    source = Source(config(chunked, tables="BIG", partitions=4))
    (t,), _ = source.discover()
    assert t["primary_key"] == ["PART", "ID"], "the key in its declared order"
    parts = source.plan("PUBLIC", "BIG")["partitions"]
    assert len(parts) == 4 and parts[0]["lo"] is None and parts[-1]["hi"] is None
    assert all(a["hi"] == b["lo"] for a, b in zip(parts, parts[1:], strict=False)), "ranges are contiguous"
    logins = chunked.counts()["logins"]
    run_sync(tmp_path, config(chunked, tables="BIG", partitions=4, workers=4))
    assert_big_synced(tmp_path)
    assert chunked.counts()["logins"] - logins == 1, "every partition runs on the source's one session"


def test_incremental_sync_reads_changed_rows_by_the_seeds_timestamp_column(chunked, tmp_path):
    """seed 000's `timestamp_column` spelled in lower case finds UPDATED_AT (Snowflake folds unquoted names)."""
    chunked.sql("CREATE OR REPLACE TABLE INC (ID NUMBER(38,0) PRIMARY KEY, V VARCHAR, UPDATED_AT TIMESTAMP_NTZ NOT NULL)",
                "INSERT INTO INC SELECT i, 'v' || i, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (i) MINUTE "
                "FROM range(1, 101) t(i)")
    cfg = config(chunked, tables="INC", timestamp_column="updated_at", incremental_lookback_seconds="0")
    state = run_sync(tmp_path, cfg)
    assert state["tables"]["PUBLIC.INC"]["mark"]["high"].startswith("2024-01-01 01:40:00")
    chunked.sql("UPDATE INC SET V = 'changed', UPDATED_AT = TIMESTAMP '2024-02-01 00:00:00.123456' WHERE ID = 7",
                "INSERT INTO INC VALUES (101, 'new', TIMESTAMP '2024-02-01 00:00:01')")
    since = last_synced(tmp_path, f"{SCHEMA}.inc")
    state = run_sync(tmp_path, cfg, state)
    db = warehouse(tmp_path)
    assert db.execute(f"SELECT v FROM {SCHEMA}.inc WHERE id = 7").fetchone() == ("changed",)
    assert db.execute(f"SELECT count(*) FROM {SCHEMA}.inc").fetchone() == (101,)
    # the changed and the new row, and the row at the last mark (reads start at it, not after it: a row committed
    # later with the same cursor value is not lost)
    assert keys_synced_since(tmp_path, f"{SCHEMA}.inc", "id", since) == [(Decimal(i),) for i in (7, 100, 101)]
    assert state["tables"]["PUBLIC.INC"]["mark"]["high"] == "2024-02-01 00:00:01.000000000"


def test_rows_flagged_in_the_soft_delete_column_land_deleted_on_an_incremental_sync(chunked, tmp_path):
    """`soft_delete_column` (lower case, as for PostgreSQL and SQL Server) finds IS_DELETED: a row the source flags
    is deleted in the destination (_fivetran_deleted), the rest stay as the source holds them."""
    chunked.sql("CREATE OR REPLACE TABLE SOFT (ID NUMBER(38,0) PRIMARY KEY, V VARCHAR, IS_DELETED BOOLEAN NOT NULL, "
                "UPDATED_AT TIMESTAMP_NTZ NOT NULL)",
                "INSERT INTO SOFT SELECT i, 'v' || i, FALSE, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (i) MINUTE "
                "FROM range(1, 51) t(i)")
    cfg = config(chunked, tables="SOFT", timestamp_column="updated_at", soft_delete_column="is_deleted",
                 incremental_lookback_seconds="0")
    state = run_sync(tmp_path, cfg)
    chunked.sql("UPDATE SOFT SET IS_DELETED = TRUE, UPDATED_AT = TIMESTAMP '2024-02-01 00:00:00' WHERE ID IN (3, 30)",
                "UPDATE SOFT SET V = 'changed', UPDATED_AT = TIMESTAMP '2024-02-01 00:00:00' WHERE ID = 4")
    state = run_sync(tmp_path, cfg, state)
    assert state["tables"]["PUBLIC.SOFT"]["phase"] == "incremental"
    db = warehouse(tmp_path)
    live = db.execute(f"SELECT id, v FROM {SCHEMA}.soft WHERE NOT _fivetran_deleted ORDER BY id").fetchall()
    want = [(Decimal(i), v) for i, v in chunked.sql("SELECT ID, V FROM SOFT WHERE NOT IS_DELETED ORDER BY ID")]
    assert live == want and (Decimal(4), "changed") in live
    gone = db.execute(f"SELECT id FROM {SCHEMA}.soft WHERE _fivetran_deleted ORDER BY id").fetchall()
    assert gone == [(Decimal(3),), (Decimal(30),)]


def test_batch_delay_ms_spaces_the_reads_result_fetches(chunked):
    """seed 000's `batch_delay_ms`: each result chunk's download starts at least the delay after the one before (the
    fixture records when each arrives), and the read says how it was paced. Lower bounds only: a slow machine widens
    the gaps, never narrows them; one delay of slack covers the first request's own lateness in arriving."""
    delay_ms = 200
    before = len(chunked.counts()["chunk_times"])
    reader = ca.read_arrow(config(chunked, batch_delay_ms=delay_ms), "PUBLIC.BIG")
    assert pa.table(reader).num_rows == BIG_ROWS
    arrived = chunked.counts()["chunk_times"][before:]
    assert len(arrived) == 20, "20,000 rows in chunks of 997: the first inline, 20 downloaded"
    assert arrived[-1] - arrived[0] >= (len(arrived) - 2) * delay_ms / 1000, arrived
    said = [text for _, text in reader.take_log() if "batch_delay_ms" in text]
    assert len(said) == 1 and said[0].startswith(
        "PUBLIC.BIG: batch_delay_ms paced 21 result fetches, each started at least 200 ms after the one before"), said


# --- preprocessing (seed 000) --------------------------------------------------------------------------------------

def test_preprocessing_runs_before_the_read_with_state_values_bound(chunked, tmp_path):
    """Each listed table's statement runs before it is read, `{marker}` bound from the state (a hostile value is
    data, not SQL): what it wrote is what lands in the destination."""
    hostile = "x'); DROP TABLE PRE; --"
    chunked.sql("CREATE OR REPLACE TABLE PRE (ID NUMBER(38,0) PRIMARY KEY, NOTE VARCHAR)",
                "INSERT INTO PRE VALUES (1, NULL), (2, NULL), (3, NULL)")
    cfg = config(chunked, tables="PRE", enable_preprocessing="true", preprocessing_table="PUBLIC.PRE",
                 preprocessing_sql=json.dumps(["UPDATE {table} SET NOTE = {marker} || '!' WHERE ID IN (1, 3)"]))
    state = run_sync(tmp_path, cfg, {"marker": hostile})
    assert state["preprocessed_pass"] == state["pass"]
    got = warehouse(tmp_path).execute(f"SELECT id, note FROM {SCHEMA}.pre ORDER BY id").fetchall()
    assert got == [(Decimal(1), hostile + "!"), (Decimal(2), None), (Decimal(3), hostile + "!")]


def test_a_failing_preprocessing_statement_is_one_line_naming_the_key_and_nothing_applies(chunked, tmp_path):
    chunked.sql("CREATE OR REPLACE TABLE PRE_FAIL (ID NUMBER(38,0) PRIMARY KEY, NOTE VARCHAR)",
                "INSERT INTO PRE_FAIL VALUES (1, NULL)")
    statements = ["UPDATE PRE_FAIL SET NOTE = 'first'", "UPDATE NO_SUCH_TABLE SET NOTE = 'x'"]
    cfg = config(chunked, tables="PRE_FAIL", enable_preprocessing="true", preprocessing_sql=json.dumps(statements))
    with pytest.raises(Exception) as err:
        run_sync(tmp_path, cfg)
    # the SDK's runner adds its own traceback to whatever update() raises; ours is the one line before it
    ours = str(err.value).split("Traceback")[0].strip()
    assert len(ours.splitlines()) == 1 and "running preprocessing_sql (statement 2)" in ours, ours
    assert "Snowflake error" in ours and "NO_SUCH_TABLE" in ours.upper(), ours
    with pytest.raises(QueryError) as direct:
        Source(cfg).preprocess({})
    assert str(direct.value).splitlines() == [ours.split("error: ", 1)[1]]
    assert chunked.sql("SELECT COALESCE(NOTE, 'untouched') FROM PRE_FAIL") == [["untouched"]], "rolled back"


# --- login, sessions, asynchronous statements ---------------------------------------------------------------------

def rsa_pem(tmp_path, name):
    """A new RSA key: its unencrypted PKCS#8 PEM text, and the path of its public half's PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = tmp_path / f"{name}.pub.pem"
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    """A server that verifies key-pair logins against one registered public key."""
    tmp = tmp_path_factory.mktemp("keys")
    private, public = rsa_pem(tmp, "user")
    server = start("--public-key", str(public))
    server.private_key = private
    server.other_key, _ = rsa_pem(tmp, "other")
    server.sql("CREATE OR REPLACE TABLE K (ID NUMBER(38,0) PRIMARY KEY)", "INSERT INTO K VALUES (1), (2)")
    yield server
    server.stop()


def key_config(server, key):
    cfg = config(server, tables="K", private_key=key.replace("\n", "\\n"))
    del cfg["snowflake_password"]
    return cfg


def test_a_key_pair_login_signs_a_jwt_the_service_verifies(keyed, tmp_path):
    run_sync(tmp_path, key_config(keyed, keyed.private_key))
    assert warehouse(tmp_path).execute(f"SELECT count(*) FROM {SCHEMA}.k").fetchone() == (2,)


def test_a_key_the_user_does_not_have_is_refused_naming_the_key(keyed):
    with pytest.raises(SourceConnectionError) as e:
        Source(key_config(keyed, keyed.other_key)).discover()
    text = str(e.value)
    assert "390144" in text and "configuration key 'private_key'" in text, text
    assert "PRIVATE KEY" not in text


def test_a_wrong_password_is_refused_naming_the_key_and_never_the_password(keyed):
    with pytest.raises(SourceConnectionError) as e:
        Source(config(keyed, snowflake_password="hunter2")).discover()
    text = str(e.value)
    assert "390100" in text and "configuration key 'password'" in text and "hunter2" not in text, text
    assert e.value.number == 390100


def test_a_wrong_account_is_named_by_its_key(keyed):
    with pytest.raises(SourceConnectionError) as e:
        Source(config(keyed, snowflake_account="NOSUCH")).discover()
    assert "configuration key 'account'" in str(e.value), str(e.value)


def test_a_pkcs1_key_is_refused_before_anything_runs(keyed):
    """(Encrypted PKCS#8 keys: tests/test_snowflake_keys.py.)"""
    pem = "-----BEGIN RSA PRIVATE KEY-----\\nMIIB\\n-----END RSA PRIVATE KEY-----"
    with pytest.raises(ConfigurationError) as e:
        Source(key_config(keyed, pem))
    assert "private_key" in str(e.value) and "pkcs8" in str(e.value).lower(), str(e.value)


def test_an_expired_session_is_renewed_with_the_master_token(tmp_path):
    server = start("--expire-after", "3")
    try:
        server.sql("CREATE OR REPLACE TABLE E (ID NUMBER(38,0) PRIMARY KEY)", "INSERT INTO E VALUES (1), (2), (3)")
        run_sync(tmp_path, config(server, tables="E"))
        counts = server.counts()
        assert warehouse(tmp_path).execute(f"SELECT count(*) FROM {SCHEMA}.e").fetchone() == (3,)
        assert counts["logins"] == 1 and counts["renewals"] >= 1, counts
    finally:
        server.stop()


def test_a_statement_still_running_is_polled_to_its_result(tmp_path):
    server = start("--async-polls", "3", "--chunk-rows", "2", "--encoding", "snowflake")
    try:
        server.sql("CREATE OR REPLACE TABLE A (ID NUMBER(38,0) PRIMARY KEY, V VARCHAR)",
                   "INSERT INTO A SELECT i, 'v' || i FROM range(1, 8) t(i)")
        run_sync(tmp_path, config(server, tables="A"))
        got = warehouse(tmp_path).execute(f"SELECT id, v FROM {SCHEMA}.a ORDER BY id").fetchall()
        assert got == [(Decimal(i), f"v{i}") for i in range(1, 8)]
        counts = server.counts()
        assert counts["polls"] >= 3 * counts["queries"], counts
    finally:
        server.stop()


def test_a_killed_sync_resumes_after_its_checkpointed_key(chunked, tmp_path):
    """`fivetran debug` SIGKILLed after its first mid-table checkpoint; the rerun reads only what was left."""
    chunked.sql("CREATE OR REPLACE TABLE KILLED AS SELECT * FROM BIG", "ALTER TABLE KILLED ADD PRIMARY KEY (PART, ID)")
    cfg = config(chunked, tables="KILLED", checkpoint_rows=2000, batch_size=500)
    interrupted, command, env = killed_mid_table(tmp_path, cfg, "PUBLIC.KILLED", timeout=180)
    saved = interrupted["tables"]["PUBLIC.KILLED"]["plan"]["partitions"]
    since = last_synced(tmp_path, f"{SCHEMA}.killed")
    rerun = subprocess.run(command, cwd=tmp_path, env=env, check=True, capture_output=True, text=True)
    assert_big_synced_as(tmp_path, "killed")
    source_keys = [(int(p), int(i)) for p, i in chunked.sql("SELECT PART, ID FROM KILLED")]
    left = keys_left(saved, source_keys, lambda key: (int(key[0]), int(key[1])))
    assert 0 < len(left) < BIG_ROWS
    synced = {(int(p), int(i)) for p, i in keys_synced_since(tmp_path, f"{SCHEMA}.killed", "part, id", since)}
    assert set(left) <= synced
    assert upserted_by(rerun.stdout + rerun.stderr, "PUBLIC.KILLED") == len(left)


def assert_big_synced_as(project, table):
    db = warehouse(project)
    count, total = db.execute(f"SELECT count(DISTINCT (part, id)), sum(amount) FROM {SCHEMA}.{table}").fetchone()
    assert count == BIG_ROWS
    assert total == sum(Decimal(g) / 100 for g in range(1, BIG_ROWS + 1)).quantize(Decimal("0.01"))


def test_a_new_snowflake_project_names_what_to_fill_in_and_its_setup_test_connects(keyed, tmp_path):
    from connector_accel import project
    from connector_accel.form import connection_test

    project.init(tmp_path, "snowflake")
    fresh = json.loads((tmp_path / "configuration.json").read_text())
    with pytest.raises(ConfigurationError) as e:
        Source(fresh)
    assert "'account'" in str(e.value), "the placeholder's file is Snowflake's, and its account is not set"
    assert connection_test(config(keyed, tables="K")).success
    wrong = connection_test(config(keyed, tables="K", snowflake_password="not-the-password"))
    assert wrong.failure and "not-the-password" not in wrong.failure and "'password'" in wrong.failure, wrong


def test_a_query_reads_as_arrow_with_the_types_a_table_read_gives(snow):
    """`read_arrow(query=...)`: the service describes the query (describeOnly), its columns map as the catalog's do,
    so its Arrow types and values are the table read's, in both encodings; a query the service refuses is its error."""
    names = ", ".join(["ID"] + [c for c, *_ in TYPES])
    table = pa.table(ca.read_arrow(config(snow), "PUBLIC.TYPES")).sort_by("ID")
    query = pa.table(ca.read_arrow(config(snow), query=f"SELECT {names} FROM TYPES WHERE ID IN (1, 2);")).sort_by("ID")
    assert [(f.name, f.type) for f in query.schema] == [(f.name, f.type) for f in table.schema]
    assert query.to_pylist() == table.to_pylist() and query.num_rows == 2
    some = pa.table(ca.read_arrow(config(snow), query="SELECT C_MONEY, C_TEXT FROM TYPES WHERE ID = 1"))
    assert some.to_pylist() == [{"C_MONEY": Decimal("-12345678.90"), "C_TEXT": TYPES[5][4]}]
    with pytest.raises(QueryError):
        ca.read_arrow(config(snow), query="SELECT NO_SUCH_COLUMN FROM TYPES")


def test_objects_flatten_into_typed_columns(snow, tmp_path):
    """flatten_json (on by default): OBJECT C_OBJECT becomes c_object_a (a number) and c_object_b (text)."""
    run_sync(tmp_path, config(snow, tables="TYPES"))
    db = warehouse(tmp_path)
    got = db.execute(f"SELECT c_object_a, c_object_b FROM {SCHEMA}.types ORDER BY id").fetchall()
    assert [tuple(None if v is None else str(v) for v in row) for row in got] == [("1", "two"), (None, None)]
