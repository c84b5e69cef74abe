"""The fast emit path: records encoded in Rust are byte for byte what the SDK's own `encode_row_data` makes of the
Python value the dict path hands `op.upsert`; the path is really taken; a difference is caught, warned about and
falls back without losing or duplicating a row."""
import json
import math
import random
import struct
from datetime import date, datetime, timedelta

import connector_accel as ca
import pytest
from connector_accel import _core
from fivetran_connector_sdk_cli import type_coercion
from fivetran_connector_sdk_core.model import DataType

from testkit import connection_config, count_operations, run_sync, warehouse

RNG = random.Random(20261122)
T = DataType


def sdk_encoding(declared, value):
    """What op.upsert writes for `value` in a column declared `declared` (None: not declared)."""
    columns = {} if declared is None else {"c": declared}
    return type_coercion.encode_row_data(columns, {"c": value})["c"]


# What the SDK raises for a value a column does not take (AttributeError: its date parser calls .strip() on
# whatever it gets); anything else is a failure, not a refusal.
REFUSALS = (TypeError, ValueError, OverflowError, AttributeError)


def check(kind, values, declared_types, must_encode=True, fallbacks=0):
    """Each value as a `kind` cell under each declared type: where Rust encodes, it equals the SDK. Rust may decline
    a value the SDK refuses; with `must_encode` it may decline no other, else at most `fallbacks` others (they go
    through op.upsert, correct but slow: a bound, so that an encoder declining everything cannot pass). Returns
    how many values Rust declined."""
    declined = accepted_declines = 0
    for value in values:
        for declared in declared_types:
            python_value, ours = _core._probe_cell(kind, value, 0 if declared is None else int(declared))
            try:
                theirs = sdk_encoding(declared, python_value)
            except REFUSALS:
                theirs = "refused"
            if ours is None:
                declined += 1
                accepted_declines += theirs != "refused"
                assert not (must_encode and theirs != "refused"), (kind, value, declared, theirs)
                continue
            assert theirs != "refused", f"Rust encoded what the SDK refuses: {kind} {value!r} {declared}"
            assert ours == theirs, (kind, value, declared, ours, theirs)
    assert accepted_declines <= fallbacks, f"{kind}: Rust declined {accepted_declines} values the SDK encodes"
    return declined


def random_doubles(n):
    out = [struct.unpack("<d", struct.pack("<Q", RNG.getrandbits(64)))[0] for _ in range(n)]
    out += [RNG.uniform(-1e6, 1e6) for _ in range(n)] + [RNG.random() * 10 ** RNG.randint(-30, 30) for _ in range(n)]
    return out


EDGE_DOUBLES = [math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, -5e-324, 1e16, 1e15, 1e-5, 1e-4, 0.1, 1 / 3,
                1.7976931348623157e308, 2.2250738585072014e-308, 123456789012345.6, 9007199254740993.0, 1e22, 1e21,
                -1.5e-7, 100.0, 2 ** 63, -(2 ** 63)]


def test_doubles_and_floats():
    values = EDGE_DOUBLES + random_doubles(3000)
    check("double", values, [T.DOUBLE, T.FLOAT, T.STRING, T.JSON, None])
    floats = [struct.unpack("<f", struct.pack("<I", RNG.getrandbits(32)))[0] for _ in range(3000)] + EDGE_DOUBLES[:12]
    check("float", floats, [T.FLOAT, T.DOUBLE, None])
    # whole floats into integer columns are int(); others the SDK refuses, and Rust declines
    check("double", [0.0, -3.0, 2.0 ** 40, 2.0 ** 62, 1.5, math.nan, 2.0 ** 63], [T.LONG, T.INT, T.BOOLEAN],
          must_encode=False)


def test_integers():
    values = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 63 - 1, -(2 ** 63), 2 ** 53 + 1]
    values += [RNG.randint(-(2 ** 63), 2 ** 63 - 1) >> RNG.randint(0, 62) for _ in range(3000)]
    check("int", values, [T.LONG, T.STRING, T.DECIMAL, T.BOOLEAN, T.FLOAT, T.DOUBLE, T.JSON, None])
    check("int", values, [T.INT, T.SHORT], must_encode=True)  # out of range: the SDK refuses, Rust declines


def random_text(n):
    pools = [(0x20, 0x7E), (0x00, 0x1F), (0x7F, 0x2FF), (0x4E00, 0x4FFF), (0x1F300, 0x1F6FF), (0x10000, 0x10FFFF)]
    out = []
    for _ in range(n):
        chars = []
        for _ in range(RNG.randint(0, 12)):
            lo, hi = RNG.choice(pools)
            c = RNG.randint(lo, hi)
            if not 0xD800 <= c <= 0xDFFF:
                chars.append(chr(c))
        out.append("".join(chars))
    return out


def test_text_and_decimals():
    texts = ["", "héllo 🌍 日本語 \"q\" \\ 'single'", "\x00\x01\x7f\n\t", "0", "1", "𝄞"] + random_text(3000)
    check("text", texts, [T.STRING, T.XML, T.JSON, T.DECIMAL, None])
    # the SDK parses a numeral into a LONG or DOUBLE column; Rust leaves that to it
    numerals = sum(t.isdigit() for t in texts)
    check("text", texts, [T.BOOLEAN, T.LONG, T.DOUBLE, T.UTC_DATETIME], must_encode=False, fallbacks=2 * numerals)
    decimals = ["1234567890123456789012345678.0123456789", "-0.0000000001", "NaN", "0", "-1E+30",
                "99999999999999999999999999999999999999"] + [str(RNG.randint(-10 ** 30, 10 ** 30)) for _ in range(500)]
    check("decimal", decimals, [T.DECIMAL, T.STRING, T.JSON, None])


def test_booleans_and_bytes():
    check("bool", [True, False], [T.BOOLEAN, T.STRING, T.LONG, T.INT, T.DOUBLE, T.JSON, T.DECIMAL, None],
          must_encode=False)
    blobs = [b"", b"\x00\xff", bytes(range(256))] + [RNG.randbytes(RNG.randint(0, 64)) for _ in range(500)]
    check("bytes", blobs, [T.BINARY, None])


def test_dates_and_timestamps():
    days = [date(1, 1, 1), date(9999, 12, 31), date(1970, 1, 1), date(2024, 2, 29)]
    days += [date(1, 1, 1) + timedelta(days=RNG.randint(0, 3652058)) for _ in range(2000)]
    check("date", days, [T.NAIVE_DATE, T.UTC_DATETIME, T.NAIVE_DATETIME, T.STRING, None])
    stamps = [datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999), datetime(2024, 1, 1, 0, 0, 0, 1000),
              datetime(2024, 1, 1, 0, 0, 0, 123456), datetime(1969, 12, 31, 23, 59, 59)]
    for _ in range(2000):
        micro = RNG.choice([0, 1000 * RNG.randint(1, 999), RNG.randint(1, 999999)])
        stamps.append(datetime(1, 1, 1) + timedelta(seconds=RNG.randint(0, 315537897599), microseconds=micro))
    for kind in ("timestamp", "timestamptz"):
        check(kind, stamps, [T.UTC_DATETIME, T.NAIVE_DATETIME, T.NAIVE_DATE, T.STRING, None])


def random_json(depth=0):
    choice = RNG.randint(0, 9 if depth < 3 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return RNG.random() < 0.5
    if choice == 2:
        return RNG.randint(-(2 ** 70), 2 ** 70) >> RNG.randint(0, 70)
    if choice == 3:
        return RNG.choice(EDGE_DOUBLES[3:]) if RNG.random() < 0.2 else RNG.uniform(-1e20, 1e20) / 10 ** RNG.randint(0, 30)
    if choice in (4, 5, 6):
        return random_text(1)[0]
    if choice in (7, 8):
        return {random_text(1)[0]: random_json(depth + 1) for _ in range(RNG.randint(0, 4))}
    return [random_json(depth + 1) for _ in range(RNG.randint(0, 4))]


def test_json():
    docs = [{}, [], {"a": [1, 2.5, 1e16, None, True], "é": "x\"y\\z\n\u0001\u007f😀"}, "just a string", 0, -0.0,
            2 ** 64, -(2 ** 63), 1e-5, {"nested": {"deeper": {"k": [{"x": 1e300}]}}}]
    docs += [random_json() for _ in range(3000)]
    # numbers a double would round: they land as the server's exact text (a JSON string), issue 19's point 8
    inexact = ["1E400", "-1e-400", "123456789012345678901234567890.5"]
    texts = [json.dumps(d) for d in docs] + inexact
    check("json", texts, [T.JSON, None])
    # an object or array in a STRING column (the SDK writes its Python repr) and a JSON string holding a numeral in
    # a LONG or DOUBLE column (the SDK parses it) go through op.upsert, as do the inexact numbers' texts there; Rust
    # encodes every other value the SDK does
    parsed = [json.loads(t) for t in texts]
    containers = sum(isinstance(v, (dict, list)) for v in parsed)
    numerals = sum(isinstance(v, str) and v.isdigit() for v in parsed)
    check("json", texts, [T.STRING, T.LONG, T.DOUBLE, T.BOOLEAN], must_encode=False, fallbacks=containers + 2 * numerals + 2 * len(inexact))


def test_every_kind_is_exercised_under_every_type_without_surprises():
    """Every (cell kind, declared type) pair: Rust equals the SDK wherever it encodes, whatever the pair."""
    samples = {"null": None, "bool": True, "int": 42, "float": 1.5, "double": -2.25, "text": "7", "decimal": "3.10",
               "bytes": b"\x01", "date": date(2020, 5, 17), "timestamp": datetime(2020, 5, 17, 1, 2, 3, 4000),
               "timestamptz": datetime(2020, 5, 17, 1, 2, 3), "json": '{"a": [1]}'}
    # left to op.upsert, where the SDK converts: a numeral's text into the number types, bytes and a JSON object
    # into STRING
    fallbacks = {"text": 5, "decimal": 2, "bytes": 1, "json": 1}
    for kind, value in samples.items():
        check(kind, [value], [None, *DataType], must_encode=False, fallbacks=fallbacks.get(kind, 0))


# --- through the SDK runner ------------------------------------------------------------------------------------

@pytest.fixture
def emitted(sql):
    sql("CREATE SCHEMA IF NOT EXISTS emit")
    sql("DROP TABLE IF EXISTS emit.rows")
    sql("CREATE TABLE emit.rows (id bigint PRIMARY KEY, label text, amount numeric(10,2), seen timestamptz, "
        "gone boolean NOT NULL DEFAULT false)")
    sql("INSERT INTO emit.rows SELECT i, 'row ' || i, i / 7.0, timestamptz '2024-01-01' + i * interval '1 minute', "
        "i % 10 = 0 FROM generate_series(1, 12000) i")
    sql("ANALYZE emit.rows")


def test_the_fast_path_is_taken_and_writes_what_the_sdk_path_writes(pg, emitted, tmp_path, monkeypatch):
    calls = count_operations(monkeypatch)
    config = connection_config(pg, schemas="emit", batch_size="1000", soft_delete_column="gone",
                               sync_validation="false", source_metadata="false")
    run_sync(tmp_path / "auto", config)
    assert calls == {"upsert": 0, "delete": 0}, "emit=auto handed no row to op.upsert/op.delete"
    run_sync(tmp_path / "sdk", {**config, "emit": "sdk"})
    assert calls == {"upsert": 10800, "delete": 1200}
    query = "SELECT * EXCLUDE (_fivetran_synced) FROM tester_emit.rows ORDER BY id"
    auto, sdk = warehouse(tmp_path / "auto").execute(query).fetchall(), warehouse(tmp_path / "sdk").execute(query).fetchall()
    assert auto == sdk
    assert [r[0] for r in auto] == [i for i in range(1, 12001) if i % 10], "soft-deleted rows arrived as deletes"


def test_a_difference_is_warned_about_and_falls_back_without_loss(pg, emitted, tmp_path, monkeypatch, capsys):
    """The SDK's STRING rule is replaced (upper-case): the first batch's check sees the difference, warns naming
    the table, column, type and both encodings, and every row then goes through op.upsert."""
    original = type_coercion._COERCE_FN_BY_TYPE[DataType.STRING]
    monkeypatch.setitem(type_coercion._COERCE_FN_BY_TYPE, DataType.STRING,
                        lambda v: (original(v)[0], original(v)[1].upper()))
    calls = count_operations(monkeypatch)
    config = connection_config(pg, schemas="emit", batch_size="1000", sync_validation="false", source_metadata="false")
    run_sync(tmp_path, config)
    out = capsys.readouterr().out
    assert "emit.rows: column label (STRING): the fast emit path encoded b'\\x01row 1', the SDK b'\\x01ROW 1'" in out
    assert calls["upsert"] == 12000, "after the difference, every row (the first batch's too) went through op.upsert"
    rows = warehouse(tmp_path).execute("SELECT id, label FROM tester_emit.rows ORDER BY id").fetchall()
    assert len(rows) == 12000 and len({r[0] for r in rows}) == 12000
    assert all(label == f"ROW {i}" for i, label in rows), "the SDK's own (patched) encoding is what landed"


def test_emit_is_checked():
    with pytest.raises(ca.ConfigurationError) as err:
        ca.Source({"host": "h", "user": "u", "emit": "fast"})
    assert err.value.key == "emit" and "auto" in str(err.value) and "sdk" in str(err.value)
    assert ca.Source({"host": "h", "user": "u"}).emit == "auto"
