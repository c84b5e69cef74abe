"""What a read costs in round trips before its rows flow, counted by a TCP relay in front of the real server: one
session serves discovery, planning, the snapshot export and a partition; settings, snapshot import and statement go
out together; catalogue queries are not prepared separately; partitions reuse the sessions earlier ones handed back.
Over a 20 ms link every flight counted here is 20 ms before the first row."""
import connector_accel as ca
import pyarrow as pa
import pytest

from testkit import connection_config
from testkit.tcp_counter import TcpCounter

ROWS = 300_000


@pytest.fixture
def counted_table(pg, sql):
    sql("CREATE SCHEMA IF NOT EXISTS trips")
    sql("DROP TABLE IF EXISTS trips.wide")
    sql("CREATE TABLE trips.wide (id int PRIMARY KEY, label text)")
    sql(f"INSERT INTO trips.wide SELECT g, md5(g::text) || md5((g + 1)::text) FROM generate_series(1, {ROWS}) g")
    sql("ANALYZE trips.wide")


def read_through_counter(pg, partitions, **extra):
    # a bulk read: more than planning's key sample (at most every key, ~2 MB here), less than a partition's rows
    with TcpCounter(pg["host"], int(pg["port"]), bulk=2_500_000) as counter:
        config = connection_config(dict(pg, host="127.0.0.1", port=str(counter.port)), **extra)
        table = pa.table(ca.read_arrow(config, "trips.wide", partitions=partitions))
    assert table.num_rows == ROWS and sorted(table["id"].to_pylist()) == list(range(1, ROWS + 1))
    return counter


def test_one_partition_reads_on_the_discovery_session_after_few_flights(pg, counted_table):
    counter = read_through_counter(pg, 1)
    # startup and SCRAM (3 flights), catalogue (2: tables with views, then columns with keys), the statement (1)
    assert counter.connections == 1, counter.connections
    assert counter.flights_before_bulk is not None and counter.flights_before_bulk <= 6, counter.flights_before_bulk


def test_partitions_reuse_sessions_and_import_the_snapshot_with_their_statement(pg, counted_table):
    counter = read_through_counter(pg, 6, workers="2")
    # the discovery session plans, then exports; two more sessions (one per worker) read all six partitions
    assert counter.connections == 3, counter.connections
    # discovery session: 3 + 2 + sample 1 + export 1; each worker session: 3 (login) + 1 (settings, name,
    # snapshot import and statement in one flight)
    assert counter.flights_before_bulk is not None and counter.flights_before_bulk <= 15, counter.flights_before_bulk
