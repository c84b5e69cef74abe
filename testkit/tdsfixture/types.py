"""SQL Server column types as the fixture stores and sends them.

Each declared T-SQL type maps to a PostgreSQL storage type (the engine that really runs the queries) and to a TDS
TYPE_INFO plus a value encoder (MS-TDS 2.2.5.4-2.2.5.5). The catalog ids are SQL Server's own (sys.types), so the
source's discovery queries see what they would see on a real server.
"""
import re
import struct
from datetime import date, datetime, timedelta, timezone
from decimal import Context, Decimal

# name: (system_type_id, user_type_id, fixed max_length or None)
CATALOG = {
    "bit": (104, 104, 1), "tinyint": (48, 48, 1), "smallint": (52, 52, 2), "int": (56, 56, 4),
    "bigint": (127, 127, 8), "decimal": (106, 106, None), "numeric": (108, 108, None), "money": (60, 60, 8),
    "smallmoney": (122, 122, 4), "real": (59, 59, 4), "float": (62, 62, 8), "char": (175, 175, None),
    "varchar": (167, 167, None), "nchar": (239, 239, None), "nvarchar": (231, 231, None), "text": (35, 35, 16),
    "ntext": (99, 99, 16), "binary": (173, 173, None), "varbinary": (165, 165, None), "image": (34, 34, 16),
    "uniqueidentifier": (36, 36, 16), "date": (40, 40, 3), "time": (41, 41, 5), "datetime": (61, 61, 8),
    "datetime2": (42, 42, 8), "smalldatetime": (58, 58, 4), "datetimeoffset": (43, 43, 10), "xml": (241, 241, -1),
    "sql_variant": (98, 98, 8016), "hierarchyid": (240, 128, 892), "geometry": (240, 129, -1),
    "geography": (240, 130, -1), "timestamp": (189, 189, 8),
}

COLLATION = bytes([0x09, 0x04, 0xD0, 0x00, 0x34])  # Latin1_General_CI_AS: LCID 0x0409, sort id 52 (code page 1252)
PLP_NULL = b"\xff" * 8


class Declared:
    """A parsed T-SQL type such as `nvarchar(max)` or `decimal(38,10)`."""

    def __init__(self, text: str):
        m = re.fullmatch(r"\s*(\w+)\s*(?:\(\s*(max|\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*", text, re.I)
        if not m or m.group(1).lower() not in CATALOG and m.group(1).lower() != "rowversion":
            raise ValueError(f"unsupported T-SQL type {text!r}")
        self.name = "timestamp" if m.group(1).lower() == "rowversion" else m.group(1).lower()
        arg, arg2 = m.group(2), m.group(3)
        self.max = arg is not None and arg.lower() == "max"
        self.n = None if arg is None or self.max else int(arg)
        self.precision, self.scale = 0, 0
        if self.name in ("decimal", "numeric"):
            self.precision, self.scale = self.n or 18, int(arg2 or 0)
        elif self.name in ("time", "datetime2", "datetimeoffset"):
            self.scale = 7 if self.n is None else self.n
        elif self.name == "money":
            self.precision, self.scale = 19, 4
        elif self.name == "smallmoney":
            self.precision, self.scale = 10, 4

    def max_length(self) -> int:
        fixed = CATALOG[self.name][2]
        if self.name in ("decimal", "numeric"):
            return decimal_bytes(self.precision) + 1
        if self.name in ("char", "varchar", "binary", "varbinary"):
            return -1 if self.max else (self.n or 1)
        if self.name in ("nchar", "nvarchar"):
            return -1 if self.max else 2 * (self.n or 1)
        if self.name in ("time", "datetime2"):
            return time_bytes(self.scale) + (3 if self.name == "datetime2" else 0)
        if self.name == "datetimeoffset":
            return time_bytes(self.scale) + 5
        return fixed

    def storage(self) -> str:
        """The PostgreSQL type that holds this column's values."""
        n, name = self.n, self.name
        return {
            "bit": "boolean", "tinyint": "smallint CHECK (VALUE BETWEEN 0 AND 255)", "smallint": "smallint",
            "int": "integer", "bigint": "bigint", "money": "numeric(19,4)", "smallmoney": "numeric(10,4)",
            "real": "real", "float": "double precision", "uniqueidentifier": "uuid", "date": "date",
            "datetime": "timestamp(3)", "smalldatetime": "timestamp(0)", "datetimeoffset": "timestamptz",
            "timestamp": "bytea",
        }.get(name) or (
            f"numeric({self.precision},{self.scale})" if name in ("decimal", "numeric") else
            f"time({min(self.scale, 6)})" if name == "time" else
            f"timestamp({min(self.scale, 6)})" if name == "datetime2" else
            f"char({n or 1})" if name in ("char", "nchar") else
            f"varchar({n or 1})" if name in ("varchar", "nvarchar") and not self.max else
            "bytea" if name in ("binary", "varbinary", "image") else "text")


def decimal_bytes(precision: int) -> int:
    return 4 if precision <= 9 else 8 if precision <= 19 else 12 if precision <= 28 else 16


def time_bytes(scale: int) -> int:
    return 3 if scale <= 2 else 4 if scale <= 4 else 5


def cast_target(tsql: str) -> str:
    """The PostgreSQL type a T-SQL CAST target becomes (the fixture's translation of CAST)."""
    d = Declared(tsql)
    return d.storage().replace(" CHECK (VALUE BETWEEN 0 AND 255)", "")


# --- encoders: TYPE_INFO bytes and a function value -> bytes (None is NULL) ---------------------------------

def _plp(data):
    if data is None:
        return PLP_NULL
    return struct.pack("<Q", len(data)) + (struct.pack("<I", len(data)) + data if data else b"") + b"\x00\x00\x00\x00"


def _short(data):
    return b"\xff\xff" if data is None else struct.pack("<H", len(data)) + data


_EPOCH_DATE = date(1, 1, 1)
_EPOCH_1900 = datetime(1900, 1, 1)


def _date_bytes(d: date) -> bytes:
    return (d - _EPOCH_DATE).days.to_bytes(3, "little")


def _time_bytes(t, scale: int) -> bytes:
    """A time of day in units of 10^-scale s. A timedelta is PostgreSQL's 24:00:00, sent as SQL Server's
    neighbours do when they round 23:59:59.9999999 up: a full day of increments, which no time of day is."""
    if isinstance(t, timedelta):
        micros = t.days * 86_400_000_000 + t.seconds * 1_000_000 + t.microseconds
    else:
        micros = ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond
    increments = micros * 10 ** scale // 1_000_000
    return increments.to_bytes(time_bytes(scale), "little")


_WIDE = Context(prec=80)  # decimal(38) needs more than the default context's 28 digits


def _decimal_value(v: Decimal, precision: int, scale: int) -> bytes:
    unscaled = int(v.scaleb(scale, _WIDE).to_integral_value(context=_WIDE))
    n = decimal_bytes(precision)
    return bytes([n + 1, 1 if unscaled >= 0 else 0]) + abs(unscaled).to_bytes(n, "little")


_TEXT_POINTER = bytes([16]) + b"\x01" * 16 + b"\x00" * 8  # TEXTPTR length, pointer, timestamp (MS-TDS 2.2.5.2.4)


def _legacy(name: str):
    """text, ntext and image as SQL Server sends them: TEXTTYPE/NTEXTTYPE/IMAGETYPE with a 4-byte maximum length, the
    collation (text, ntext), the table name in parts (one part here; clients skip it), and each value behind a text
    pointer and timestamp with a 4-byte length."""
    tid, collation = {"text": (0x23, COLLATION), "ntext": (0x63, COLLATION), "image": (0x22, b"")}[name]
    table = "tdsfixture"
    info = bytes([tid]) + struct.pack("<I", 0x7FFFFFFF) + collation + b"\x01" + \
        struct.pack("<H", len(table)) + table.encode("utf-16-le")

    def encode(v):
        if v is None:
            return b"\x00"
        data = v.encode("cp1252") if name == "text" else str(v).encode("utf-16-le") if name == "ntext" else bytes(v)
        return _TEXT_POINTER + struct.pack("<I", len(data)) + data
    return info, encode


def encoder(d: Declared):
    """(TYPE_INFO bytes, encode(value) -> bytes) for a declared type."""
    name, s = d.name, d.scale
    ints = {"tinyint": (1, "<B"), "smallint": (2, "<h"), "int": (4, "<i"), "bigint": (8, "<q")}
    if name in ints:
        size, fmt = ints[name]
        pack = struct.Struct(fmt).pack
        head = bytes([size])
        return bytes([0x26, size]), lambda v: b"\x00" if v is None else head + pack(v)
    if name == "bit":
        return b"\x68\x01", lambda v: b"\x00" if v is None else (b"\x01\x01" if v else b"\x01\x00")
    if name in ("decimal", "numeric"):
        p = d.precision
        return (bytes([0x6A, decimal_bytes(p) + 1, p, s]),
                lambda v: b"\x00" if v is None else _decimal_value(v, p, s))
    if name in ("money", "smallmoney"):
        if name == "smallmoney":
            return b"\x6E\x04", lambda v: b"\x00" if v is None else b"\x04" + struct.pack("<i", int(v * 10000))
        def money(v):
            if v is None:
                return b"\x00"
            n = int(v * 10000)
            return b"\x08" + struct.pack("<iI", n >> 32, n & 0xFFFFFFFF)
        return b"\x6E\x08", money
    if name in ("real", "float"):
        size, fmt = (4, "<f") if name == "real" else (8, "<d")
        pack = struct.Struct(fmt).pack
        return bytes([0x6D, size]), lambda v: b"\x00" if v is None else bytes([size]) + pack(v)
    if name in ("text", "ntext", "image"):
        return _legacy(name)
    if name in ("char", "varchar"):
        tid = 0xAF if name == "char" else 0xA7
        wrap = _plp if d.max else _short
        maxlen = 0xFFFF if d.max else (d.n or 1)
        return (bytes([tid]) + struct.pack("<H", maxlen) + COLLATION,
                lambda v: wrap(None if v is None else v.encode("cp1252")))
    if name in ("nchar", "nvarchar", "xml", "sql_variant", "hierarchyid", "geography", "geometry"):
        tid = 0xEF if name == "nchar" else 0xE7
        unbounded = d.max or name not in ("nchar", "nvarchar")
        wrap = _plp if unbounded else _short
        maxlen = 0xFFFF if unbounded else 2 * (d.n or 1)
        return (bytes([tid]) + struct.pack("<H", maxlen) + COLLATION,
                lambda v: wrap(None if v is None else str(v).encode("utf-16-le")))
    if name in ("binary", "varbinary", "timestamp"):
        tid = 0xAD if name in ("binary", "timestamp") else 0xA5
        unbounded = d.max
        wrap = _plp if unbounded else _short
        maxlen = 0xFFFF if unbounded else (8 if name == "timestamp" else d.n or 1)
        return bytes([tid]) + struct.pack("<H", maxlen), lambda v: wrap(None if v is None else bytes(v))
    if name == "uniqueidentifier":
        return b"\x24\x10", lambda v: b"\x00" if v is None else b"\x10" + v.bytes_le
    if name == "date":
        return b"\x28", lambda v: b"\x00" if v is None else b"\x03" + _date_bytes(v)
    if name == "time":
        size = time_bytes(s)
        return bytes([0x29, s]), lambda v: b"\x00" if v is None else bytes([size]) + _time_bytes(v, s)
    if name == "datetime2":
        size = time_bytes(s) + 3
        return (bytes([0x2A, s]), lambda v: b"\x00" if v is None else
                bytes([size]) + _time_bytes(v.time(), s) + _date_bytes(v.date()))
    if name == "datetimeoffset":
        size = time_bytes(s) + 5

        def offset(v):
            if v is None:
                return b"\x00"
            u = v.astimezone(timezone.utc)
            minutes = int(v.utcoffset().total_seconds() // 60)
            return bytes([size]) + _time_bytes(u.time(), s) + _date_bytes(u.date()) + struct.pack("<h", minutes)
        return bytes([0x2B, s]), offset
    if name == "datetime":
        def dt(v):
            if v is None:
                return b"\x00"
            delta = v - _EPOCH_1900
            days = delta.days
            ticks = round((delta.seconds * 1_000_000 + delta.microseconds) * 300 / 1_000_000)
            return b"\x08" + struct.pack("<iI", days, ticks)
        return b"\x6F\x08", dt
    if name == "smalldatetime":
        def sdt(v):
            if v is None:
                return b"\x00"
            delta = v - _EPOCH_1900
            return b"\x04" + struct.pack("<HH", delta.days, delta.seconds // 60)
        return b"\x6F\x04", sdt
    raise ValueError(f"no encoder for {name}")


def from_postgres(oid: int, fmod: int) -> Declared:
    """The T-SQL type of a computed result column, from the PostgreSQL type the engine produced."""
    if oid == 1700:
        if fmod >= 4:
            p, sc = ((fmod - 4) >> 16) & 0xFFFF, (fmod - 4) & 0xFFFF
            return Declared(f"decimal({p},{sc})")
        return Declared("decimal(38,10)")
    if oid in (1043, 1042):
        n = fmod - 4 if fmod >= 4 else 0
        kind = "nchar" if oid == 1042 else "nvarchar"
        return Declared(f"{kind}({n})" if 0 < n <= 4000 else "nvarchar(max)")
    if oid in (1083, 1114, 1184):
        kind = {1083: "time", 1114: "datetime2", 1184: "datetimeoffset"}[oid]
        return Declared(f"{kind}({fmod if 0 <= fmod <= 6 else 6})")
    simple = {16: "bit", 21: "smallint", 23: "int", 26: "int", 20: "bigint", 700: "real", 701: "float",
              25: "nvarchar(max)", 19: "nvarchar(128)", 18: "nchar(1)", 17: "varbinary(max)",
              2950: "uniqueidentifier", 1082: "date"}
    return Declared(simple.get(oid, "nvarchar(max)"))
