"""Every common PostgreSQL type, with edge values, synced through the SDK runner into DuckDB and compared with the
source value by value. The source's own text form (or psycopg's value) is the reference; where a value cannot
arrive as itself, the documented rule (README, "Types") is what is expected."""
import contextlib
import io
import json
import os
import struct
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from fivetran_connector_sdk_core.renaming import redshift_safe

from testkit import connection_config, conninfo, count_operations, run_sync, warehouse, warehouse_contents

BIG = os.urandom(3 * 1024 * 1024)
DEEP = {"l1": {"l2": {"l3": {"l4": {"l5": [1, {"l6": "bottom"}]}}}}, "name": "deep", "n": 12345678901234567890}

COLUMNS = {  # name: (PostgreSQL type, DuckDB type the destination must have)
    "c_smallint": ("smallint", "SMALLINT"),
    "c_int": ("integer", "INTEGER"),
    "c_bigint": ("bigint", "BIGINT"),
    "c_numeric": ("numeric(38,10)", "DECIMAL(38,10)"),
    "c_numeric_any": ("numeric", "VARCHAR"),
    "c_real": ("real", "FLOAT"),
    "c_double": ("double precision", "DOUBLE"),
    "c_bool": ("boolean", "BOOLEAN"),
    "c_text": ("text", "VARCHAR"),
    "c_varchar": ("varchar(40)", "VARCHAR"),
    "c_char": ("char(5)", "VARCHAR"),
    "c_uuid": ("uuid", "VARCHAR"),
    "c_date": ("date", "DATE"),
    "c_time": ("time", "VARCHAR"),
    "c_ts": ("timestamp", "TIMESTAMP"),
    "c_tstz": ("timestamptz", "TIMESTAMP WITH TIME ZONE"),
    "c_bytea": ("bytea", "BLOB"),
    "c_json": ("json", "JSON"),
    "c_jsonb": ("jsonb", "JSON"),
    "c_int_array": ("integer[]", "JSON"),
    "c_text_array": ("text[]", "JSON"),
    "c_interval": ("interval", "VARCHAR"),
    "c_inet": ("inet", "VARCHAR"),
    "c_cidr": ("cidr", "VARCHAR"),
    "c_money": ("money", "DECIMAL(19,2)"),
    "c_enum": ("mood", "VARCHAR"),
    "c_xml": ("xml", "VARCHAR"),
    "c_tsvector": ("tsvector", "VARCHAR"),
    "c_timetz": ("timetz", "VARCHAR"),
    "c_oid": ("oid", "BIGINT"),
    "c_macaddr": ("macaddr", "VARCHAR"),
    "c_bit": ("bit(4)", "VARCHAR"),
    "c_varbit": ("bit varying(12)", "VARCHAR"),
    "c_name": ("name", "VARCHAR"),
}

ROWS = [
    # id 1: maxima and everyday values
    {"c_smallint": 32767, "c_int": 2147483647, "c_bigint": 9223372036854775807,
     "c_numeric": "1234567890123456789012345678.0123456789", "c_numeric_any": "3.14159265358979323846264338327950288419716939937510",
     "c_real": "1.1", "c_double": "0.1", "c_bool": True, "c_text": "héllo 🌍 日本語 \"quoted\" 'single'", "c_varchar": "v",
     "c_char": "ab", "c_uuid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "c_date": "2024-02-29", "c_time": "23:59:59.999999",
     "c_ts": "2024-02-29 12:34:56.789012", "c_tstz": "2024-06-01 12:00:00+05:30", "c_bytea": BIG,
     "c_json": json.dumps({"a": 1, "b": {"c": "x"}}), "c_jsonb": json.dumps(DEEP), "c_int_array": "{1,2,NULL}",
     "c_text_array": "{a,\"b c\",NULL}", "c_interval": "1 year 2 months 3 days 04:05:06.789", "c_inet": "192.168.0.1/24",
     "c_cidr": "10.0.0.0/8", "c_money": "12.34", "c_enum": "happy", "c_xml": "<a>b &amp; c</a>", "c_tsvector": "fat cat",
     "c_timetz": "23:59:59.999999+05:30", "c_oid": 4294967295, "c_macaddr": "08:00:2b:01:02:03", "c_bit": "1010",
     "c_varbit": "101", "c_name": "a_name"},
    # id 2: minima, negative zero, empty values, infinities
    {"c_smallint": -32768, "c_int": -2147483648, "c_bigint": -9223372036854775808, "c_numeric": "-0.0000000001",
     "c_numeric_any": "-1E+30", "c_real": "-0", "c_double": "-0", "c_bool": False, "c_text": "", "c_varchar": "",
     "c_char": "", "c_uuid": "00000000-0000-0000-0000-000000000000", "c_date": "infinity", "c_time": "00:00:00",
     "c_ts": "infinity", "c_tstz": "-infinity", "c_bytea": b"", "c_json": "[1, \"two\", null]", "c_jsonb": "\"just a string\"",
     "c_int_array": "{{1,2},{3,4}}", "c_text_array": "{}", "c_interval": "-1 days", "c_inet": "::1", "c_cidr": "::/0",
     "c_money": "-92233720368547758.08", "c_enum": "sad", "c_xml": "<empty/>", "c_tsvector": "",
     "c_timetz": "00:00:00-12", "c_oid": 0, "c_macaddr": "ff:ff:ff:ff:ff:ff", "c_bit": "0000", "c_varbit": "",
     "c_name": ""},
    # id 3: NaN, infinities, the ends of the calendar, BC
    {"c_smallint": 0, "c_int": 0, "c_bigint": 0, "c_numeric": "NaN", "c_numeric_any": "NaN", "c_real": "NaN",
     "c_double": "-Infinity", "c_date": "4713-01-01 BC", "c_ts": "0001-01-01 00:00:00", "c_tstz": "9999-12-31 23:59:59.999999+00",
     "c_json": "{}", "c_jsonb": "{\"k\": null, \"list\": [], \"obj\": {}}"},
    # id 4: NULL everywhere
    {},
]


PROJECTS: dict = {}


@pytest.fixture(scope="module")
def synced(pg, tmp_path_factory):
    import psycopg

    conn = psycopg.connect(**conninfo(pg), autocommit=True)
    conn.execute("DROP SCHEMA IF EXISTS matrix CASCADE")
    conn.execute("CREATE SCHEMA matrix")
    conn.execute("CREATE TYPE matrix.mood AS ENUM ('sad', 'happy')")
    conn.execute("SET search_path = matrix")
    ddl = ", ".join(f"{name} {pgtype}" for name, (pgtype, _) in COLUMNS.items())
    conn.execute(f"CREATE TABLE matrix.types (id int PRIMARY KEY, {ddl})")
    try:
        conn.execute("SELECT '<a/>'::xml")
        xml_values = True
    except psycopg.errors.FeatureNotSupported:  # pgserver's build has no libxml: the column stays, NULL
        xml_values = False
    for i, row in enumerate(ROWS, start=1):
        row = {k: v for k, v in row.items() if k in COLUMNS and (xml_values or k != "c_xml")}
        names = ", ".join(["id", *row])
        marks = ", ".join(["%s"] * (len(row) + 1))
        conn.execute(f"INSERT INTO matrix.types ({names}) VALUES ({marks})", [i, *row.values()])
    conn.execute("ANALYZE matrix.types")
    project = tmp_path_factory.mktemp("matrix")
    log = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(log):
        PROJECTS["auto_operations"] = count_operations(patch, table="types")
        run_sync(project, connection_config(pg, schemas="matrix", flatten_depth=3))
    PROJECTS["log"] = log.getvalue()
    PROJECTS["auto"] = project  # the emit=auto warehouse, for the emit=sdk comparison
    # The reference: each value as the source writes it as text, in UTC and ISO 8601 interval style.
    conn.execute("SET TimeZone = 'UTC'; SET IntervalStyle = 'iso_8601'; SET extra_float_digits = 3")
    texts = conn.execute(f"SELECT id, {', '.join(c + '::text' for c in COLUMNS)} FROM matrix.types ORDER BY id").fetchall()
    natives = conn.execute("SELECT id, c_bytea, c_int_array, c_text_array, c_char FROM matrix.types ORDER BY id").fetchall()
    conn.close()
    source = {r[0]: dict(zip(COLUMNS, r[1:], strict=False)) for r in texts}
    for r in natives:
        # bytea and arrays compare with psycopg's values; char(n) too, since ::text drops its padding
        source[r[0]].update(c_bytea=r[1], c_int_array=r[2], c_text_array=r[3], c_char=r[4])
    return source, warehouse(project)


def f32(text: str) -> float:
    return struct.unpack("f", struct.pack("f", float(text)))[0]


def moment(text: str, aware: bool):
    if text == "infinity":
        value = datetime(9999, 12, 31, 23, 59, 59, 999999)
    elif text == "-infinity":
        value = datetime(1, 1, 1)
    elif text.endswith(" BC"):
        return None
    else:
        value = datetime.fromisoformat(text.replace("+00", "+00:00") if aware else text).replace(tzinfo=None)
    return value.replace(tzinfo=timezone.utc) if aware else value


def expected(column: str, text):
    """The destination value for a source value (its text form, or psycopg's value for bytea, arrays and char(n)),
    by the rules README documents."""
    if text is None:
        return None
    kind = COLUMNS[column][1]
    if kind in ("SMALLINT", "INTEGER", "BIGINT"):
        return int(text)
    if kind.startswith("DECIMAL"):
        return None if text in ("NaN", "Infinity", "-Infinity") else Decimal(text.replace("$", "").replace(",", ""))
    if kind == "FLOAT":
        return None if text == "NaN" else (f32(text) or 0.0)  # Fivetran writes NaN as NULL and -0 as 0
    if kind == "DOUBLE":
        return None if text == "NaN" else (float(text) or 0.0)
    if kind == "BOOLEAN":
        return text == "true"
    if kind == "DATE":
        return {"infinity": date(9999, 12, 31), "-infinity": date(1, 1, 1)}.get(text) or (
            None if text.endswith(" BC") else date.fromisoformat(text))
    if kind == "TIMESTAMP":
        return moment(text, aware=False)
    if kind == "TIMESTAMP WITH TIME ZONE":
        return moment(text, aware=True)
    return text


def test_declared_types(synced):
    _, dw = synced
    types = dict(dw.execute("SELECT column_name, data_type FROM information_schema.columns "
                            "WHERE table_schema = 'tester_matrix' AND table_name = 'types'").fetchall())
    for column, (_, duck) in COLUMNS.items():
        assert types[column] == duck, column
    assert types["id"] == "INTEGER"
    # flattened from the sample: a string, a nested object at the depth limit, a big integer as JSON
    assert types["c_jsonb_name"] == "VARCHAR"
    assert types[redshift_safe("c_jsonb_l1_l2_l3")] == "JSON"  # Fivetran naming: c_jsonb_l_1_l_2_l_3
    assert types["c_jsonb_n"] == "JSON"
    assert types["c_json_b_c"] == "VARCHAR"


def test_values_that_cannot_arrive_as_themselves_are_warned_about(synced):
    """NaN in a DECIMAL column, a BC date, ±infinity and a type without an exact mapping: one WARNING line each,
    naming the table and column."""
    warnings = [line for line in PROJECTS["log"].splitlines() if "WARNING" in line]
    for text in ["table matrix.types column c_numeric: NaN and Infinity do not fit a DECIMAL column and are written "
                 "as NULL",
                 "table matrix.types column c_date: values outside years 1 to 9999 are written as NULL",
                 "table matrix.types column c_date: infinity / -infinity are written as 9999-12-31 23:59:59.999999 / "
                 "0001-01-01 00:00:00",
                 "table matrix.types column c_tsvector: type tsvector has no exact mapping; it is synced as its text "
                 "form (STRING)"]:
        assert sum(text in line for line in warnings) == 1, (text, warnings)


def test_emit_sdk_writes_the_same_warehouse(pg, synced, tmp_path):
    """The whole type matrix through the SDK's own operations (emit=sdk) lands exactly as through records encoded
    in Rust (emit=auto, the default the fixture used)."""
    run_sync(tmp_path, connection_config(pg, schemas="matrix", flatten_depth=3, emit="sdk"))
    auto, sdk = warehouse_contents(PROJECTS["auto"], "tester_matrix"), warehouse_contents(tmp_path, "tester_matrix")
    assert set(auto) >= {"types"} and auto["types"][1], "the matrix was synced"
    assert PROJECTS["auto_operations"] == {"upsert": 0, "delete": 0}, "emit=auto took the fast path for every row of the matrix"
    assert auto == sdk


@pytest.mark.parametrize("row_id", [1, 2, 3, 4])
def test_values_equal_the_source(synced, row_id):
    source, dw = synced
    cursor = dw.execute("SELECT * FROM tester_matrix.types WHERE id = ?", [row_id])
    names = [d[0] for d in cursor.description]
    got = dict(zip(names, cursor.fetchone(), strict=False))
    for column in COLUMNS:
        if column in ("c_json", "c_jsonb"):
            continue
        want = expected(column, source[row_id][column])
        value = got[column]
        if COLUMNS[column][1] == "JSON" and value is not None:
            value = json.loads(value)
        assert value == want, (row_id, column, value, want)


NO_JSON = {"c_json": None, "c_json_a": None, "c_json_b_c": None, "c_jsonb": None, "c_jsonb_l_1_l_2_l_3": None,
           "c_jsonb_list": None, "c_jsonb_n": None, "c_jsonb_name": None}
FLATTENED = {  # every JSON-derived warehouse column of each row, written out (JSON-typed cells parsed)
    # objects land as their flattened columns only; at the depth limit the rest stays JSON; a big integer is exact
    1: {**NO_JSON, "c_json_a": 1, "c_json_b_c": "x", "c_jsonb_l_1_l_2_l_3": {"l4": {"l5": [1, {"l6": "bottom"}]}},
        "c_jsonb_n": 12345678901234567890, "c_jsonb_name": "deep"},
    # values other than objects stay whole in their own column
    2: {**NO_JSON, "c_json": [1, "two", None], "c_jsonb": "just a string"},
    # {} and {"k": null, "obj": {}} leave nothing but the list: README's rule (an empty object, a null key and an
    # empty nested object carry no value), indistinguishable from NULL in the destination
    3: {**NO_JSON, "c_jsonb_list": []},
    4: NO_JSON,
}
JSON_TYPED = {"c_json", "c_jsonb", "c_jsonb_l_1_l_2_l_3", "c_jsonb_n", "c_jsonb_list"}


@pytest.mark.parametrize("row_id", [1, 2, 3, 4])
def test_json_is_flattened_exactly(synced, row_id):
    _, dw = synced
    cursor = dw.execute("SELECT * FROM tester_matrix.types WHERE id = ?", [row_id])
    got = {name: value for (name, *_), value in zip(cursor.description, cursor.fetchone(), strict=True)
           if name.startswith("c_json")}
    got = {k: json.loads(v) if k in JSON_TYPED and v is not None else v for k, v in got.items()}
    assert got == FLATTENED[row_id]


def test_library_dicts_carry_exact_python_types(pg, synced):
    """The dict batches library users get: aware UTC datetimes for timestamptz, naive for timestamp, exact decimal
    strings, bytes, and JSON as Python values."""
    import connector_accel as ca

    source = ca.Source(connection_config(pg, schemas="matrix", flatten_json="false"))
    with source.read("matrix", "types") as reader:
        rows = {row["id"]: row for batch in reader for row in batch}
        assert reader.last_key == ["4"]
    first = rows[1]
    assert first["c_tstz"] == datetime(2024, 6, 1, 6, 30, tzinfo=timezone.utc) and first["c_tstz"].tzinfo is not None
    assert first["c_ts"] == datetime(2024, 2, 29, 12, 34, 56, 789012) and first["c_ts"].tzinfo is None
    assert first["c_numeric"] == "1234567890123456789012345678.0123456789"
    assert first["c_bytea"] == BIG
    assert first["c_jsonb"] == DEEP  # unflattened: the whole value, its big integer exact
    assert rows[4]["c_int"] is None and rows[4]["c_jsonb"] is None


def test_arrow_carries_the_same_values_with_exact_types(pg, synced):
    """The whole matrix through `read_arrow`: every value equals the library's dicts (which the tests above check
    against the source), and each column has the exact Arrow type of its Fivetran type."""
    from decimal import Decimal

    import connector_accel as ca
    import pyarrow as pa

    config = connection_config(pg, schemas="matrix", flatten_json="false")
    source = ca.Source(config)
    (described,), _ = source.discover()
    with source.read("matrix", "types") as reader:
        dicts = {row["id"]: row for batch in reader for row in batch}
    table = pa.table(ca.read_arrow(config, "matrix.types"))
    arrow_of = {"BOOLEAN": pa.bool_(), "SHORT": pa.int16(), "INT": pa.int32(), "LONG": pa.int64(),
                "FLOAT": pa.float32(), "DOUBLE": pa.float64(), "NAIVE_DATE": pa.date32(),
                "NAIVE_DATETIME": pa.timestamp("us"), "UTC_DATETIME": pa.timestamp("us", tz="UTC"),
                "BINARY": pa.binary(), "STRING": pa.large_string(), "JSON": pa.large_string(), "XML": pa.large_string()}
    for name, declared in described["columns"].items():
        want = (pa.decimal128(declared["precision"], declared["scale"]) if isinstance(declared, dict)
                else arrow_of[declared])
        assert table.schema.field(name).type == want, name
    for row in table.to_pylist():
        expected = dicts[row["id"]]
        for name, value in row.items():
            declared, other = described["columns"][name], expected[name]
            if value is None or other is None:
                assert value is None and other is None, (row["id"], name)
            elif declared == "JSON":
                assert json.loads(value) == other, (row["id"], name)
            elif isinstance(declared, dict):
                assert value == Decimal(other), (row["id"], name)
            elif isinstance(value, float) and value != value:
                assert other != other, (row["id"], name)
            else:
                assert value == other, (row["id"], name, value, other)
