"""The SQL Server source through the real tiberius client over TCP, against the TDS test server (testkit/tdsfixture),
whose queries really run on the embedded PostgreSQL. What this cannot prove about a real SQL Server is in README."""
import time
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from connector_accel import ConfigurationError, QueryError, Source, SourceConnectionError

from testkit import conninfo, run_sync, warehouse, warehouse_contents
from testkit.tdsfixture import TdsServer, create_table, self_signed_context

PASSWORD = "Str0ng!Passw0rd"


@pytest.fixture(scope="module")
def mssql(pg):
    with psycopg.connect(**conninfo(pg), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'ehr'").fetchone():
            conn.execute("CREATE DATABASE ehr")
    backing = dict(conninfo(pg), dbname="ehr")
    server = TdsServer({"ehr": backing}, {"sa": PASSWORD})
    server.backing = backing
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh_servers(request):
    """The servers live for the module: each test starts with no pending fault, nothing fired and an empty
    statement log, whatever the test before it left."""
    for name in ("mssql", "mssql_tls", "mssql_self_signed"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


def config(server, **extra):
    base = {"mssql_server": "127.0.0.1", "mssql_port": str(server.port), "mssql_database": "ehr",
            "mssql_user": "sa", "mssql_password": PASSWORD, "encrypt": "disable", "retry_sleep_seconds": "0.05",
            "sync_validation": "false", "source_metadata": "false"}
    return {**base, **{k: str(v) for k, v in extra.items()}}


def backing_sql(server, statement, params=None):
    with psycopg.connect(**server.backing, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else None


# --- types -------------------------------------------------------------------------------------------------------

TYPES = [  # (column, T-SQL type, DuckDB type, edge value stored, value expected in the warehouse)
    ("c_bit", "bit", "BOOLEAN", True, True),
    ("c_tinyint", "tinyint", "SMALLINT", 255, 255),
    ("c_smallint", "smallint", "SMALLINT", -32768, -32768),
    ("c_int", "int", "INTEGER", -2147483648, -2147483648),
    ("c_bigint", "bigint", "BIGINT", 9223372036854775807, 9223372036854775807),
    ("c_decimal", "decimal(38,10)", "DECIMAL(38,10)", Decimal("-9999999999999999999999999999.9999999999"),
     Decimal("-9999999999999999999999999999.9999999999")),
    ("c_numeric", "numeric(5,0)", "DECIMAL(5,0)", Decimal("99999"), Decimal("99999")),
    ("c_money", "money", "DECIMAL(19,4)", Decimal("922337203685477.5807"), Decimal("922337203685477.5807")),
    ("c_smallmoney", "smallmoney", "DECIMAL(10,4)", Decimal("-214748.3648"), Decimal("-214748.3648")),
    ("c_real", "real", "FLOAT", 3.4028234663852886e38, 3.4028234663852886e38),
    ("c_float", "float", "DOUBLE", 2.2250738585072014e-308, 2.2250738585072014e-308),
    ("c_char", "char(10)", "VARCHAR", "abc", "abc       "),
    ("c_varchar", "varchar(50)", "VARCHAR", "café 'quoted' \"double\"", "café 'quoted' \"double\""),
    ("c_varchar_max", "varchar(max)", "VARCHAR", "x" * 20000, "x" * 20000),
    ("c_nchar", "nchar(3)", "VARCHAR", "日本", "日本 "),
    ("c_nvarchar", "nvarchar(100)", "VARCHAR", "héllo 🌍 日本語", "héllo 🌍 日本語"),
    ("c_nvarchar_max", "nvarchar(max)", "VARCHAR", "ü" * 50000, "ü" * 50000),
    ("c_text", "text", "VARCHAR", "legacy text", "legacy text"),
    ("c_ntext", "ntext", "VARCHAR", "legacy ntext ✓", "legacy ntext ✓"),
    ("c_binary", "binary(4)", "BLOB", b"\x00\x01\x02\x03", b"\x00\x01\x02\x03"),
    ("c_varbinary", "varbinary(20)", "BLOB", b"\xff\x00", b"\xff\x00"),
    ("c_varbinary_max", "varbinary(max)", "BLOB", bytes(range(256)) * 400, bytes(range(256)) * 400),
    ("c_image", "image", "BLOB", b"\x89PNG", b"\x89PNG"),
    ("c_rowversion", "rowversion", "BLOB", b"\x00\x00\x00\x00\x00\x00\x07\xd1",
     b"\x00\x00\x00\x00\x00\x00\x07\xd1"),
    ("c_guid", "uniqueidentifier", "VARCHAR", uuid.UUID("6F9619FF-8B86-D011-B42D-00C04FD430C8"),
     "6F9619FF-8B86-D011-B42D-00C04FD430C8"),
    ("c_date", "date", "DATE", date(1, 1, 1), date(1, 1, 1)),
    ("c_time", "time(7)", "VARCHAR", "23:59:59.999999", "23:59:59.9999990"),
    ("c_datetime", "datetime", "TIMESTAMP", datetime(1753, 1, 1, 0, 0, 0), datetime(1753, 1, 1, 0, 0, 0)),
    ("c_datetime_ms", "datetime", "TIMESTAMP", datetime(2024, 2, 29, 23, 59, 59, 997000),
     datetime(2024, 2, 29, 23, 59, 59, 997000)),
    ("c_datetime_hi", "datetime2(7)", "TIMESTAMP", datetime(9999, 12, 31, 23, 59, 59, 999999),
     datetime(9999, 12, 31, 23, 59, 59, 999999)),
    ("c_smalldatetime", "smalldatetime", "TIMESTAMP", datetime(2079, 6, 6, 23, 59), datetime(2079, 6, 6, 23, 59)),
    ("c_dto", "datetimeoffset(7)", "TIMESTAMP WITH TIME ZONE", "2024-06-01 12:00:00.123456+05:30",
     datetime(2024, 6, 1, 6, 30, 0, 123456, tzinfo=timezone.utc)),
    ("c_xml", "xml", "VARCHAR", "<a>b &amp; c</a>", "<a>b &amp; c</a>"),
    ("c_variant", "sql_variant", "VARCHAR", "42", "42"),
    ("c_hier", "hierarchyid", "VARCHAR", "/1/2/", "/1/2/"),
    ("c_geo", "geography", "VARCHAR", "POINT (-122.34 47.65)", "POINT (-122.34 47.65)"),
]


@pytest.fixture(scope="module")
def type_matrix(mssql, tmp_path_factory):
    create_table(mssql.backing, "dbo", "types", "id int NOT NULL PRIMARY KEY, " +
                 ", ".join(f"{c} {t}" for c, t, *_ in TYPES))
    names = ", ".join(c for c, *_ in TYPES)
    marks = ", ".join(["%s"] * len(TYPES))
    backing_sql(mssql, f"INSERT INTO dbo.types (id, {names}) VALUES (1, {marks})", [v for *_, v, _ in TYPES])
    backing_sql(mssql, "INSERT INTO dbo.types (id) VALUES (2)")  # NULL everywhere
    backing_sql(mssql, "ANALYZE dbo.types")
    project = tmp_path_factory.mktemp("mssql_types")
    run_sync(project, config(mssql, tables="dbo.types"))
    return project


def test_emit_sdk_writes_the_same_warehouse(mssql, type_matrix, tmp_path):
    """The SQL Server type table through the SDK's own operations (emit=sdk) lands exactly as through records
    encoded in Rust (emit=auto, the fixture's default)."""
    run_sync(tmp_path, config(mssql, tables="dbo.types", emit="sdk"))
    auto, sdk = warehouse_contents(type_matrix, "tester_dbo"), warehouse_contents(tmp_path, "tester_dbo")
    assert len(auto["types"][1]) == 2, "both rows were synced"
    assert auto == sdk


def test_every_type_arrives_exactly_with_its_type(type_matrix):
    """Every type through the fixture. c_time and c_dto cover the client only: the fixture's PostgreSQL keeps
    microseconds and UTC, so the 7th digit is always 0 and the offset +00:00 (decode.rs' unit tests take the
    7-digit and +05:30 cases)."""
    db = warehouse(type_matrix)
    types = dict(db.execute("SELECT column_name, data_type FROM information_schema.columns "
                            "WHERE table_schema = 'tester_dbo' AND table_name = 'types'").fetchall())
    names = [c for c, *_ in TYPES]
    row = db.execute(f"SELECT {', '.join(names)} FROM tester_dbo.types WHERE id = 1").fetchone()
    nulls = db.execute(f"SELECT {', '.join(names)} FROM tester_dbo.types WHERE id = 2").fetchone()
    for (name, _, duck, _, expected), got, null in zip(TYPES, row, nulls, strict=False):
        assert types[name] == duck, f"{name}: {types[name]} != {duck}"
        if isinstance(got, (bytes, bytearray, memoryview)):
            got = bytes(got)
        if duck == "FLOAT":
            assert got == pytest.approx(expected, rel=1e-7), name
        else:
            assert got == expected, f"{name}: {got!r} != {expected!r}"
        assert null is None, f"{name}: NULL became {null!r}"


def test_clr_and_variant_types_warn_that_they_arrive_as_text(mssql, type_matrix):
    source = Source(config(mssql, tables="dbo.types"))
    _, warnings = source.discover()
    text = "\n".join(warnings)
    for column in ("c_variant", "c_hier", "c_geo"):
        assert column in text


# --- reads -------------------------------------------------------------------------------------------------------

BIG_ROWS = 30_000


@pytest.fixture(scope="module")
def big(mssql):
    create_table(mssql.backing, "dbo", "big", "id bigint NOT NULL, part int NOT NULL, val nvarchar(40), "
                 "amount decimal(12,2), PRIMARY KEY (part, id)")
    backing_sql(mssql, "INSERT INTO dbo.big SELECT g, g %% 7, 'row ' || g, g / 100.0 "
                       "FROM generate_series(1, %s) g", (BIG_ROWS,))
    backing_sql(mssql, "ANALYZE dbo.big")
    return "dbo.big"


def assert_big_synced(project):
    db = warehouse(project)
    count, distinct, total = db.execute(
        "SELECT count(*), count(DISTINCT (part, id)), sum(amount) FROM tester_dbo.big").fetchone()
    assert (count, distinct) == (BIG_ROWS, BIG_ROWS)
    assert total == sum(Decimal(g) / 100 for g in range(1, BIG_ROWS + 1)).quantize(Decimal("0.01"))
    assert db.execute("SELECT val FROM tester_dbo.big WHERE part = 3 AND id = 10").fetchone() == ("row 10",)


def test_partitioned_load_reads_key_ranges_in_parallel(mssql, big, tmp_path):
    source = Source(config(mssql, tables=big, partitions=4))
    source.discover()
    plan = source.plan("dbo", "big")
    parts = plan["partitions"]
    assert len(parts) == 4 and parts[0]["lo"] is None and parts[-1]["hi"] is None
    assert all(a["hi"] == b["lo"] for a, b in zip(parts, parts[1:], strict=False)), "ranges are contiguous"
    before = mssql.sessions
    run_sync(tmp_path, config(mssql, tables=big, partitions=4, workers=4))
    # one login per worker: discovery's session plans, then reads a partition beside three opened ahead together
    assert mssql.sessions - before == 4
    assert_big_synced(tmp_path)
    before = mssql.sessions
    run_sync(tmp_path / "one_worker", config(mssql, tables=big, partitions=4, workers=1))
    assert mssql.sessions - before == 1, "one worker reads every partition on the session that discovered them"
    assert_big_synced(tmp_path / "one_worker")


def test_a_table_above_the_sample_minimum_is_cut_from_a_tablesample(mssql):
    """1,000,000 rows with a skewed key, above SAMPLE_MIN (200,000 keys): the plan reads `TABLESAMPLE SYSTEM` (about
    a fifth of the pages) through the TDS protocol, not every key, so its cuts are not the exact quantiles; every
    one of the 4 ranges still holds a fair share."""
    backing_sql(mssql, "DROP TABLE IF EXISTS dbo.sampled")
    create_table(mssql.backing, "dbo", "sampled", "id bigint NOT NULL PRIMARY KEY, payload nvarchar(40)")
    backing_sql(mssql, "INSERT INTO dbo.sampled SELECT CASE WHEN g % 10 = 0 THEN g * 1000 ELSE g END, md5(g::text) "
                       "FROM generate_series(1, 1000000) g")
    backing_sql(mssql, "ANALYZE dbo.sampled")
    source = Source(config(mssql, tables="dbo.sampled", partitions=4))
    source.discover()
    parts = source.plan("dbo", "sampled")["partitions"]
    assert any("TABLESAMPLE SYSTEM" in text for text, _ in mssql.statements), "the plan did not sample pages"
    assert len(parts) == 4
    cuts = [int(p["hi"][0]) for p in parts[:-1]]
    ids = [i for (i,) in backing_sql(mssql, "SELECT id FROM dbo.sampled ORDER BY id")]
    assert cuts != [ids[i * len(ids) // 4] for i in range(1, 4)], "every key was read: the sample was not used"
    bounds = [None, *cuts, None]
    counts = [sum(1 for i in ids if (lo is None or i > lo) and (hi is None or i <= hi))
              for lo, hi in zip(bounds, bounds[1:], strict=False)]
    assert sum(counts) == 1_000_000
    assert min(counts) > 1_000_000 / 4 * 0.8 and max(counts) < 1_000_000 / 4 * 1.2, counts


def test_resume_after_dropped_connections_continues_after_the_last_key(mssql, big, tmp_path):
    mssql.statements.clear()
    mssql.faults.add("drop", match="FROM [dbo].[big]", after_rows=7000, times=2)
    run_sync(tmp_path, config(mssql, tables=big, batch_size=1000))
    assert mssql.faults.fired.count("drop") == 2
    # the full load's reads; the key-only scan of its delete reconciliation ([id], [part] alone) follows them
    reads = [(sql, params) for sql, params in mssql.statements if "FROM [dbo].[big]" in sql and "[val]" in sql]
    assert len(reads) == 3
    assert reads[0][1] == [], "the first read starts at the beginning"
    for sql, params in reads[1:]:
        assert "> CAST(@P1 AS int)" in sql and params, f"a retry resumes after a key: {sql} {params}"
    assert_big_synced(tmp_path)


def test_deadlock_victim_is_retried(mssql, big, tmp_path, capsys):
    """SQL Server picks a deadlock victim mid-statement: rows already sent, then error 1205. The read retries after
    the last key it handed over, and the warehouse is exact."""
    mssql.faults.add("error", match="FROM [dbo].[big]", number=1205, severity=13, after_rows=7000,
                     message="Transaction (Process ID 52) was deadlocked on lock resources with another process "
                             "and has been chosen as the deadlock victim. Rerun the transaction.")
    run_sync(tmp_path, config(mssql, tables=big, batch_size=1000))
    assert mssql.faults.fired == ["error"]
    # the full load's reads; the key-only scan of its delete reconciliation ([id], [part] alone) follows them
    reads = [params for sql, params in mssql.statements if "FROM [dbo].[big]" in sql and "[val]" in sql]
    assert len(reads) == 2 and reads[0] == [] and reads[1], f"one retry, after a key: {reads}"
    out = capsys.readouterr().out
    assert "error 1205" in out and "retry 1/" in out, out
    assert_big_synced(tmp_path)


def test_permanent_errors_fail_at_once(mssql, big):
    source = Source(config(mssql, tables=big, max_retries=5, retry_sleep_seconds=30))
    source.discover()
    mssql.faults.add("error", match="FROM [dbo].[big]", number=229, severity=14,
                     message="The SELECT permission was denied on the object 'big', database 'ehr', schema 'dbo'.")
    started = time.monotonic()
    with pytest.raises(QueryError) as caught:
        with source.read("dbo", "big") as reader:
            for _ in reader:
                pass
    assert time.monotonic() - started < 10, "a permanent error is not retried"
    assert caught.value.number == 229
    assert "GRANT" in str(caught.value) or "grant" in str(caught.value)


# --- incremental ---------------------------------------------------------------------------------------------------

def test_incremental_sync_follows_last_updated_instant_and_is_deleted(mssql, tmp_path):
    create_table(mssql.backing, "dbo", "visits", "id int NOT NULL PRIMARY KEY, note nvarchar(20), "
                 "_LastUpdatedInstant datetime2(7) NOT NULL, _IsDeleted bit NOT NULL")
    backing_sql(mssql, "INSERT INTO dbo.visits SELECT g, 'v' || g, timestamp '2024-01-01' + g * interval '1 minute', "
                       "false FROM generate_series(1, 100) g")
    cfg = config(mssql, tables="dbo.visits", incremental_lookback_seconds=0)
    state = run_sync(tmp_path, cfg)
    assert state["tables"]["dbo.visits"]["phase"] == "incremental"
    backing_sql(mssql, "UPDATE dbo.visits SET note = 'changed', \"_LastUpdatedInstant\" = timestamp '2024-02-01' "
                       "WHERE id = 5")
    backing_sql(mssql, "UPDATE dbo.visits SET \"_IsDeleted\" = true, \"_LastUpdatedInstant\" = timestamp '2024-02-01' "
                       "WHERE id = 6")
    backing_sql(mssql, "INSERT INTO dbo.visits VALUES (101, 'new', timestamp '2024-02-02', false)")
    mssql.statements.clear()
    run_sync(tmp_path, cfg, state)
    read = [s for s, _ in mssql.statements if "FROM [dbo].[visits]" in s and "MAX(" not in s]  # not the watermark
    assert read and all("[_LastUpdatedInstant] >=" in s for s in read), "the second sync reads only changes"
    db = warehouse(tmp_path)
    live = dict(db.execute("SELECT id, note FROM tester_dbo.visits WHERE NOT _fivetran_deleted").fetchall())
    assert live[5] == "changed" and live[101] == "new" and 6 not in live and len(live) == 100


# --- configuration and login ---------------------------------------------------------------------------------------

def test_seed_003_upper_case_keys_are_accepted(mssql, big):
    cfg = {"MSSQL_SERVER": "127.0.0.1", "MSSQL_PORT": str(mssql.port), "MSSQL_DATABASE": "ehr", "MSSQL_USER": "sa",
           "MSSQL_PASSWORD": PASSWORD, "threads": "2", "max_queue_size": "0", "max_retries": "3",
           "retry_sleep_seconds": "1", "debug": "false", "encrypt": "disable", "tables": big}
    source = Source(cfg)
    tables, _ = source.discover()
    assert [t["table"] for t in tables] == ["big"] and tables[0]["primary_key"] == ["part", "id"]
    assert source.warnings == []


def test_bad_password_is_one_line_naming_the_keys_without_the_secret(mssql):
    with pytest.raises(SourceConnectionError) as caught:
        Source(config(mssql, mssql_password="wrong-secret")).discover()
    message = str(caught.value)
    assert caught.value.number == 18456 and "\n" not in message
    assert "mssql_password" in message and "wrong-secret" not in message and PASSWORD not in message


def test_unknown_database_names_the_key(mssql):
    with pytest.raises(SourceConnectionError) as caught:
        Source(config(mssql, mssql_database="nosuchdb")).discover()
    assert caught.value.number == 4060 and "mssql_database" in str(caught.value)


def test_required_encryption_fails_clearly_against_a_server_without_tls(mssql):
    cfg = config(mssql)
    del cfg["encrypt"]  # the default: encrypt everything, verify the certificate
    with pytest.raises(SourceConnectionError) as caught:
        Source(cfg).discover()
    assert "'encrypt'" in str(caught.value)


@pytest.mark.parametrize("extra, key", [
    ({"encrypt": "sometimes"}, "encrypt"),
    ({"trust_server_certificate": "true", "cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"},
     "trust_server_certificate"),
    ({"cert": "/no/such/ca.pem"}, "cert"),
    ({"mssql_port": "14x3"}, "mssql_port"),
])
def test_bad_tls_and_connection_settings_name_the_key(mssql, extra, key):
    with pytest.raises(ConfigurationError) as caught:
        Source(config(mssql, **extra))
    assert caught.value.key == key


def test_strict_encryption_against_a_server_without_tds_8_says_so_and_suggests_on(mssql):
    started = time.monotonic()
    with pytest.raises(SourceConnectionError) as caught:
        Source(config(mssql, encrypt="strict", connect_timeout=3)).discover()
    message = str(caught.value)
    assert "TDS 8.0 handshake (encrypt=strict)" in message and "set 'encrypt' to on" in message, message
    assert time.monotonic() - started < 10 and PASSWORD not in message


@pytest.fixture(scope="module")
def odd_tables(mssql):
    create_table(mssql.backing, "dbo", "mixedcase", "id int NOT NULL PRIMARY KEY, note nvarchar(20)")
    backing_sql(mssql, "INSERT INTO dbo.mixedcase VALUES (1, 'one'), (2, 'two') ON CONFLICT DO NOTHING")
    backing_sql(mssql, "CREATE OR REPLACE VIEW dbo.visits_view AS SELECT id, note FROM dbo.mixedcase")
    backing_sql(mssql, "ANALYZE dbo.mixedcase")


def test_a_nullable_detected_cursor_and_a_text_soft_delete_column_are_not_used(mssql, tmp_path, capsys):
    create_table(mssql.backing, "dbo", "stamped", "id int NOT NULL PRIMARY KEY, ModifiedDate datetime2(7) NULL, "
                 "_IsDeleted nvarchar(1) NULL")
    backing_sql(mssql, "INSERT INTO dbo.stamped VALUES (1, NULL, 'Y'), (2, NULL, 'N') ON CONFLICT DO NOTHING")
    cfg = config(mssql, tables="dbo.stamped")
    state = run_sync(tmp_path, cfg)
    out = capsys.readouterr().out
    assert "its cursor candidate ModifiedDate is nullable" in out
    assert "column _IsDeleted of dbo.stamped is nvarchar(1)" in out and "no row is deleted" in out
    backing_sql(mssql, "INSERT INTO dbo.stamped VALUES (3, NULL, 'N') ON CONFLICT DO NOTHING")
    run_sync(tmp_path, cfg, state)
    rows = warehouse(tmp_path).execute("SELECT id, _is_deleted FROM tester_dbo.stamped WHERE NOT _fivetran_deleted "
                                       "ORDER BY id").fetchall()
    assert rows == [(1, "Y"), (2, "N"), (3, "N")], "the insert arrives; 'Y' is data, not a delete"
    with pytest.raises(Exception) as caught:  # configured, the same column is a mistake to name
        run_sync(tmp_path / "again", config(mssql, tables="dbo.stamped", soft_delete_column="_IsDeleted"))
    assert "configuration key 'soft_delete_column'" in str(caught.value)


def test_a_future_dated_cursor_does_not_hide_later_changes(mssql, tmp_path, capsys):
    create_table(mssql.backing, "dbo", "appointments", "id int NOT NULL PRIMARY KEY, note nvarchar(20), "
                 "_LastUpdatedInstant datetime2(7) NOT NULL")
    backing_sql(mssql, "INSERT INTO dbo.appointments VALUES (1, 'past', timestamp '2024-01-01'), "
                       "(2, 'typo', timestamp '2099-01-01') ON CONFLICT DO NOTHING")
    cfg = config(mssql, tables="dbo.appointments", incremental_lookback_seconds=0)
    state = run_sync(tmp_path, cfg)
    assert "dbo.appointments: 1 rows have a cursor value after the server's clock" in capsys.readouterr().out
    assert state["tables"]["dbo.appointments"]["mark"]["high"] < "2099"
    backing_sql(mssql, "INSERT INTO dbo.appointments VALUES (3, 'later', now() AT TIME ZONE 'UTC')")
    run_sync(tmp_path, cfg, state)
    got = dict(warehouse(tmp_path).execute("SELECT id, note FROM tester_dbo.appointments").fetchall())
    assert got == {1: "past", 2: "typo", 3: "later"}, "a change after the future-dated row still arrives"


def test_names_that_collide_in_the_destination_stop_the_sync(mssql, tmp_path):
    create_table(mssql.backing, "dbo", "Order Items", "id int NOT NULL PRIMARY KEY")
    create_table(mssql.backing, "dbo", "order_items", "id int NOT NULL PRIMARY KEY, [UPPER] int, [Upper] int")
    with pytest.raises(Exception) as caught:
        run_sync(tmp_path, config(mssql, tables="dbo.Order Items,dbo.order_items"))
    assert "tables dbo.Order Items and dbo.order_items would land in one destination table 'order_items'" in \
        str(caught.value)
    with pytest.raises(Exception) as caught:
        run_sync(tmp_path, config(mssql, tables="dbo.order_items"))
    assert "columns 'UPPER' and 'Upper' would land in one destination column 'upper'" in str(caught.value)
    assert not (tmp_path / "files" / "state.json").exists()


def test_table_names_match_without_case_when_unique(mssql, odd_tables, tmp_path):
    run_sync(tmp_path, config(mssql, tables="dbo.MixedCase"))
    assert warehouse(tmp_path).execute("SELECT id, note FROM tester_dbo.mixedcase ORDER BY id").fetchall() == \
        [(1, "one"), (2, "two")]


@pytest.mark.parametrize("extra, key, says", [
    ({"tables": "dbo.visits_view"}, "tables", "'dbo.visits_view' is a view"),
    ({"tables": "dbo.mixedcase", "table_filters": '{"dbo.mixedcase": [{"column": "id", "operator": "=", "value": "abc"}]}'},
     "table_filters", "'abc' for column id of dbo.mixedcase is not a valid int"),
    ({"tables": "dbo.mixedcase", "soft_delete_column": "gone"}, "soft_delete_column", "no selected table"),
])
def test_sql_server_configuration_mistakes_fail_early_naming_the_key(mssql, odd_tables, tmp_path, extra, key, says):
    with pytest.raises(Exception) as caught:
        run_sync(tmp_path, config(mssql, **extra))
    assert f"configuration key '{key}'" in str(caught.value) and says in str(caught.value), caught.value
    assert not (tmp_path / "files" / "state.json").exists()


# --- TLS (the fixture encrypts as SQL Server does: handshake inside PRELOGIN, then TLS over TCP) -------------------

@pytest.fixture(scope="module")
def mssql_tls(mssql, tmp_path_factory):
    import ssl

    from testkit import embedded_pg

    certs, other = tmp_path_factory.mktemp("tds-certs"), tmp_path_factory.mktemp("other-ca")
    embedded_pg._write_certificates(certs)  # a CA and a certificate for "localhost" that it signed
    embedded_pg._write_certificates(other)  # another CA, which signed nothing the server shows
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs / "server.crt", certs / "server.key")
    context.num_tickets = 0  # TLS 1.3 session tickets would follow the handshake outside the PRELOGIN wrapping
    server = TdsServer({"ehr": mssql.backing}, {"sa": PASSWORD}, tls=context)
    server.backing, server.ca, server.other_ca = mssql.backing, str(certs / "ca.crt"), str(other / "ca.crt")
    yield server
    server.stop()


def tls_config(server, **extra):
    cfg = config(server, tables="dbo.mixedcase", **extra)
    cfg["encrypt"] = extra.get("encrypt", "on")
    return cfg


def test_tls_with_the_right_ca_and_host_name_syncs(mssql_tls, odd_tables, tmp_path):
    run_sync(tmp_path, tls_config(mssql_tls, mssql_server="localhost", cert=mssql_tls.ca))
    assert warehouse(tmp_path).execute("SELECT count(*) FROM tester_dbo.mixedcase").fetchone() == (2,)
    # an IP address plus the name the certificate carries, and the CA as PEM text instead of a path
    pem = Path(mssql_tls.ca).read_text()
    tables, _ = Source(tls_config(mssql_tls, cert=pem, mssql_cert_server="localhost")).discover()
    assert [t["table"] for t in tables] == ["mixedcase"]
    # login-only encryption (SQL Server's Encrypt=false): TLS for the login packet, then plain
    tables, _ = Source(tls_config(mssql_tls, mssql_server="localhost", cert=mssql_tls.ca, encrypt="off")).discover()
    assert [t["table"] for t in tables] == ["mixedcase"]


@pytest.mark.parametrize("extra, reason", [
    # both test CAs carry the same name
    ({"mssql_server": "localhost", "other": True}, "was not signed by the CA given in 'cert'"),
    ({"mssql_server": "127.0.0.1"},
     "the server's certificate is for localhost, not 127.0.0.1: set 'mssql_cert_server' to localhost or connect by "
     "that name"),
])
def test_tls_failures_name_this_connectors_keys(mssql_tls, odd_tables, extra, reason):
    cfg = tls_config(mssql_tls, mssql_server=extra["mssql_server"],
                     cert=mssql_tls.other_ca if extra.get("other") else mssql_tls.ca)
    with pytest.raises(SourceConnectionError) as caught:
        Source(cfg).discover()
    message = str(caught.value)
    assert reason in message, message
    for key in ("'cert'", "'mssql_cert_server'", "'trust_server_certificate'"):
        assert key in message, message
    assert "Config::" not in message and "native-tls" not in message and PASSWORD not in message
    assert "DnsName" not in message and "BadSignature" not in message, message


def test_trust_server_certificate_accepts_any_certificate_and_says_so(mssql_tls, odd_tables):
    source = Source(tls_config(mssql_tls, trust_server_certificate="true"))  # by IP, no CA: nothing verifies
    assert any("is not verified" in w for w in source.warnings)
    tables, _ = source.discover()
    assert [t["table"] for t in tables] == ["mixedcase"]


@pytest.fixture(scope="module")
def mssql_self_signed(mssql, tmp_path_factory):
    """A server presenting the certificate SQL Server makes for itself when none is configured."""
    context = self_signed_context(tmp_path_factory.mktemp("self-signed"))
    server = TdsServer({"ehr": mssql.backing}, {"sa": PASSWORD}, tls=context)
    server.backing = mssql.backing
    yield server
    server.stop()


def test_login_only_encryption_accepts_sql_servers_self_signed_certificate(mssql_self_signed, odd_tables, tmp_path,
                                                                            capsys):
    """encrypt=off is Microsoft's Encrypt=false: the login packet is encrypted, the certificate not validated
    (Microsoft.Data.SqlClient: "Encryption only occurs for LOGIN packets. Certificate isn't validated.")."""
    cfg = tls_config(mssql_self_signed, encrypt="off")
    run_sync(tmp_path, cfg)
    assert warehouse(tmp_path).execute("SELECT count(*) FROM tester_dbo.mixedcase").fetchone() == (2,)
    assert mssql_self_signed.tls_failures == [], "the login's TLS handshake completed"
    out = capsys.readouterr().out
    assert (f"encrypt is off: the login to 127.0.0.1:{mssql_self_signed.port}/ehr is encrypted with a certificate "
            "that is not verified") in out, out


def test_a_self_signed_certificate_is_said_in_words_when_verified(mssql_self_signed, odd_tables):
    with pytest.raises(SourceConnectionError) as caught:
        Source(tls_config(mssql_self_signed)).discover()  # encrypt=on verifies
    message = str(caught.value)
    assert "the server presents a self-signed certificate" in message, message
    assert "OtherError" not in message and "CaUsedAsEndEntity" not in message, message
    for key in ("'cert'", "'mssql_cert_server'", "'trust_server_certificate'"):
        assert key in message, message


def test_strict_encryption_that_gets_no_answer_names_one_bound_and_its_key(mssql):
    """The fixture, like a SQL Server before 2022, never answers a TLS hello: the one bound is connect_timeout
    (above the driver's own 15 s, which used to fire first and name its Rust API)."""
    started = time.monotonic()
    with pytest.raises(SourceConnectionError) as caught:
        Source(config(mssql, encrypt="strict", connect_timeout=16)).discover()
    message = str(caught.value)
    assert "within 16s, the bound 'connect_timeout' sets (no answer)" in message, message
    assert "15s" not in message and "Config::" not in message and "handshake_timeout" not in message, message
    assert time.monotonic() - started < 25


def test_a_missing_table_gives_sql_servers_hint_not_postgresqls(mssql, odd_tables):
    with pytest.raises(ConfigurationError) as caught:
        Source(config(mssql, tables="dbo.nosuch")).discover()
    message = str(caught.value)
    assert caught.value.key == "tables" and "names match without regard to case" in message, message
    assert "case-sensitive" not in message, message


# --- values no destination holds, resumed progress, estimates ------------------------------------------------------

@pytest.fixture(scope="module")
def clock(mssql):
    """A time(7) column holding 24:00:00, as an engine that rounds 23:59:59.9999999 up stores it."""
    create_table(mssql.backing, "dbo", "clock", "id int NOT NULL PRIMARY KEY, t time(7) NOT NULL, note nvarchar(10)")
    backing_sql(mssql, "INSERT INTO dbo.clock VALUES (1, '23:59:59.999999', 'last'), (2, '24:00:00', 'rounded'), "
                       "(3, '12:00:00', 'noon'), (4, '24:00:00', 'again')")
    return "dbo.clock"


CLOCK_FIRST = ("column t of the row with key (id=2): the time 24:00:00.0000000 is past 23:59:59.9999999, the end of "
               "a time of day")


def test_a_time_past_the_end_of_the_day_lands_null_with_a_counted_warning(mssql, clock, tmp_path, capsys):
    run_sync(tmp_path, config(mssql, tables=clock))
    rows = warehouse(tmp_path).execute("SELECT id, t, note FROM tester_dbo.clock ORDER BY id").fetchall()
    assert rows == [(1, "23:59:59.9999990", "last"), (2, None, "rounded"), (3, "12:00:00.0000000", "noon"),
                    (4, None, "again")]
    out = capsys.readouterr().out
    assert (f"table dbo.clock: 2 value(s) cannot be represented in the destination and were written as NULL (the "
            f"first: {CLOCK_FIRST}") in out, out
    assert "set 'on_unrepresentable_value' to fail" in out


def test_values_landed_null_are_counted_once_when_a_read_is_retried(mssql, clock, tmp_path, capsys):
    """The connection drops after 3 rows, before any batch was handed over: the retry reads id=2 again, and its
    NULL is counted once."""
    mssql.faults.add("drop", match="FROM [dbo].[clock]", after_rows=3)
    run_sync(tmp_path, config(mssql, tables=clock, batch_size=10))
    assert mssql.faults.fired == ["drop"]
    out = capsys.readouterr().out
    assert "table dbo.clock: 2 value(s) cannot be represented" in out, out
    assert warehouse(tmp_path).execute("SELECT count(*), count(t) FROM tester_dbo.clock").fetchone() == (4, 2)


def test_a_time_past_the_end_of_the_day_on_the_arrow_path(mssql, clock):
    import connector_accel as ca
    import pyarrow as pa

    reader = ca.read_arrow(config(mssql), clock, batch_size=2)
    table = pa.RecordBatchReader.from_stream(reader).read_all().sort_by("id")
    assert table["t"].to_pylist() == ["23:59:59.9999990", None, "12:00:00.0000000", None]
    assert table["note"].to_pylist() == ["last", "rounded", "noon", "again"]
    logged = [text for level, text in reader.take_log() if level == "WARNING"]
    assert any("table dbo.clock: 2 value(s) cannot be represented" in w and CLOCK_FIRST in w for w in logged), logged


def test_on_unrepresentable_value_fail_stops_naming_the_row_and_the_key(mssql, clock, tmp_path):
    with pytest.raises(Exception) as caught:
        run_sync(tmp_path, config(mssql, tables=clock, on_unrepresentable_value="fail"))
    message = str(caught.value)
    assert f"table dbo.clock {CLOCK_FIRST}" in message, message
    assert "set 'on_unrepresentable_value' to null" in message, message
    with pytest.raises(ConfigurationError) as caught:
        Source(config(mssql, tables=clock, on_unrepresentable_value="skip"))
    assert caught.value.key == "on_unrepresentable_value"


def test_progress_after_a_resume_counts_the_rows_already_loaded(mssql, big, tmp_path, capsys):
    import json

    # a permanent error mid-stream after 12,000 rows: the sync fails with its checkpointed positions
    mssql.faults.add("error", match="FROM [dbo].[big]", number=8115, severity=16, after_rows=12000,
                     message="Arithmetic overflow error converting expression to data type int.")
    cfg = config(mssql, tables=big, batch_size=1000, checkpoint_rows=2000, partitions=1)
    with pytest.raises(Exception, match="8115"):
        run_sync(tmp_path, cfg)
    state = json.loads((tmp_path / "files" / "state.json").read_text())
    loaded = state["tables"]["dbo.big"]["plan"]["partitions"][0]["rows"]
    assert 2000 <= loaded <= 12000
    capsys.readouterr()
    run_sync(tmp_path, cfg, state)
    out = capsys.readouterr().out
    assert f"dbo.big: resuming the full load where the last run stopped, after the {loaded:,} rows it had loaded" in out
    first = next(line for line in out.splitlines() if "since resume" in line)
    assert f"{loaded + 2000:,} rows (" in first and "2,000 since resume" in first, first
    assert_big_synced(tmp_path)


def test_a_table_the_catalog_counts_as_empty_is_estimated_from_its_pages(mssql):
    create_table(mssql.backing, "dbo", "unanalysed", "id bigint NOT NULL PRIMARY KEY, part int NOT NULL, "
                 "val nvarchar(40), amount decimal(12,2)")
    backing_sql(mssql, "ALTER TABLE dbo.unanalysed SET (autovacuum_enabled = false)")  # no ANALYZE behind our back
    backing_sql(mssql, "INSERT INTO dbo.unanalysed SELECT g, g %% 7, 'row ' || g, g / 100.0 "
                       "FROM generate_series(1, %s) g", (30000,))
    assert backing_sql(mssql, "SELECT rows FROM sys.partitions WHERE object_id = 'dbo.unanalysed'::regclass::oid::int"
                       ) == [(0,)], "the catalog says 0 rows"
    source = Source(config(mssql, tables="dbo.unanalysed", small_table_rows=1000))
    tables, warnings = source.discover()
    estimate = tables[0]["row_estimate"]
    assert 10_000 < estimate < 90_000, estimate
    assert any("table dbo.unanalysed: the catalog counts 0 rows but the table holds" in w for w in warnings), warnings
    assert len(source.plan("dbo", "unanalysed")["partitions"]) > 1, "planned from the estimate, not as empty"


# --- the library ---------------------------------------------------------------------------------------------------

def test_library_reads_sql_server_tables_as_arrow_and_as_pickled_plans(mssql, big):
    import pickle

    import connector_accel as ca
    import pyarrow as pa

    cfg = config(mssql)
    table = pa.RecordBatchReader.from_stream(ca.read_arrow(cfg, big, partitions=3, batch_size=4000)).read_all()
    assert table.num_rows == BIG_ROWS and len(set(zip(table["part"].to_pylist(), table["id"].to_pylist(), strict=False))) == BIG_ROWS
    assert table.schema.field("amount").type == pa.decimal128(12, 2)
    plans = [pickle.loads(pickle.dumps(p)) for p in ca.plan_partitions(cfg, big, 3)]
    counts = [sum(len(b) for b in ca.read_partition(p, format="dicts")) for p in plans]
    assert len(plans) == 3 and sum(counts) == BIG_ROWS and min(counts) > 0
    with pytest.raises(ValueError, match="snapshot"):
        ca.export_snapshot(cfg)


ARROW = {"BOOLEAN": "bool", "SMALLINT": "int16", "INTEGER": "int32", "BIGINT": "int64", "FLOAT": "float",
         "DOUBLE": "double", "VARCHAR": "large_string", "BLOB": "binary", "DATE": "date32[day]",
         "TIMESTAMP": "timestamp[us]", "TIMESTAMP WITH TIME ZONE": "timestamp[us, tz=UTC]"}


def test_arrow_types_and_values_of_the_type_matrix(mssql, type_matrix):
    import connector_accel as ca
    import pyarrow as pa

    reader = ca.read_arrow(config(mssql), "dbo.types", batch_size=1)
    table = pa.RecordBatchReader.from_stream(reader).read_all().sort_by("id")
    assert table.num_rows == 2
    for name, _, duck, _, expected in TYPES:
        column = table[name]
        wanted = f"decimal128{duck[7:].replace(',', ', ')}" if duck.startswith("DECIMAL") else ARROW[duck]
        assert str(column.type) == wanted, f"{name}: {column.type} != {wanted}"
        got, null = column.to_pylist()
        if duck == "FLOAT":
            assert got == pytest.approx(expected, rel=1e-7), name
        else:
            assert got == expected, f"{name}: {got!r} != {expected!r}"
        assert null is None, name
