"""The SQL Server type matrix (test_mssql.TYPES, on the TDS test server) through the Partner SDK server: each value
of the gRPC records compared with the source's, and the stream written by the SDK's runner (testkit.grpc_relay)
equal to the warehouse the SDK connector writes of the same table."""
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from test_mssql import TYPES, backing_sql, config, mssql  # noqa: F401  (mssql: the module's server fixture)

from testkit import warehouse_contents
from testkit.grpc_relay import run_relayed
from testkit.grpc_server import Server
from testkit.sync import run_sync
from testkit.tdsfixture import create_table


@pytest.fixture(scope="module")
def server():
    s = Server(source="sqlserver")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def types_table(mssql):  # noqa: F811
    create_table(mssql.backing, "dbo", "grpc_types", "id int NOT NULL PRIMARY KEY, " +
                 ", ".join(f"{c} {t}" for c, t, *_ in TYPES))
    names = ", ".join(c for c, *_ in TYPES)
    marks = ", ".join(["%s"] * len(TYPES))
    backing_sql(mssql, f"INSERT INTO dbo.grpc_types (id, {names}) VALUES (1, {marks})", [v for *_, v, _ in TYPES])
    backing_sql(mssql, "INSERT INTO dbo.grpc_types (id) VALUES (2)")  # NULL everywhere
    return config(mssql, tables="dbo.grpc_types")


def as_python(v):
    """A ValueType as the value the warehouse shows (test_mssql.TYPES' last column)."""
    kind = v.WhichOneof("inner")
    if kind == "null":
        return None
    if kind in ("naive_date", "naive_datetime", "utc_datetime"):
        t = getattr(v, kind)
        assert t.nanos % 1000 == 0 or kind != "naive_date", kind
        at = datetime.fromtimestamp(t.seconds, tz=timezone.utc).replace(microsecond=t.nanos // 1000)
        if kind == "naive_date":
            return date(at.year, at.month, at.day)
        return at if kind == "utc_datetime" else at.replace(tzinfo=None)
    if kind == "decimal":
        return Decimal(v.decimal)
    return getattr(v, kind)


def test_every_sql_server_type_arrives_exactly_through_grpc(server, types_table):
    records = []
    for r in server.update(types_table):
        kind = r.WhichOneof("operation")
        if kind == "records":
            records.extend(x for x in r.records.records if x.type == 0)
        elif kind == "record":  # the first row, with 100 KB of varbinary(max), travels alone
            records.append(r.record)
    rows = {rec.data["id"].int: rec.data for rec in records}
    assert sorted(rows) == [1, 2]
    for name, _, duck, _, expected in TYPES:
        got = as_python(rows[1][name])
        if duck == "FLOAT":
            assert got == pytest.approx(expected, rel=1e-7), name
        else:
            assert got == expected, f"{name}: {got!r} != {expected!r}"
        assert rows[2][name].WhichOneof("inner") == "null", name


def test_the_server_and_the_sdk_connector_write_the_same_warehouse(server, types_table, tmp_path):
    run_relayed(tmp_path / "grpc", server, types_table)
    run_sync(tmp_path / "sdk", types_table)
    ours, theirs = warehouse_contents(tmp_path / "grpc", "tester_dbo"), warehouse_contents(tmp_path / "sdk", "tester_dbo")
    assert len(ours["grpc_types"][1]) == 2
    assert ours == theirs
