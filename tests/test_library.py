"""The library API: picklable partition plans read in other processes, one exported snapshot across them, and the
dict-batch iterator."""
import pickle
from concurrent.futures import ProcessPoolExecutor

import connector_accel as ca
import pyarrow as pa
import pytest

from testkit import connection_config


def ids_of(plan):
    """Runs in a worker process: reads one planned range."""
    table = pa.table(ca.read_partition(plan))
    return plan.index, sorted(table.column("id").to_pylist())


def make_table(sql, rows):
    sql("CREATE SCHEMA IF NOT EXISTS lib")
    sql("DROP TABLE IF EXISTS lib.events")
    sql("CREATE TABLE lib.events (id bigint PRIMARY KEY, body text)")
    sql(f"INSERT INTO lib.events SELECT g * 3, md5(g::text) FROM generate_series(1, {rows}) g")
    sql("ANALYZE lib.events")


def test_plans_run_in_other_processes_and_union_to_the_table(pg, sql):
    make_table(sql, 30000)
    plans = ca.plan_partitions(connection_config(pg), "lib.events", partitions=4)
    assert len(plans) == 4 and pickle.loads(pickle.dumps(plans[1])) == plans[1]
    assert plans[0].lo is None and plans[-1].hi is None and plans[0].hi == plans[1].lo
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = dict(pool.map(ids_of, plans))
    assert all(results[i] for i in range(4)), "every range holds rows"
    union = sorted(i for ids in results.values() for i in ids)
    assert union == [r[0] for r in sql("SELECT id FROM lib.events ORDER BY id")]


def test_one_snapshot_across_processes(pg, sql):
    make_table(sql, 10000)
    config = connection_config(pg)
    with ca.export_snapshot(config) as snapshot:
        plans = ca.plan_partitions(config, "lib.events", partitions=3, snapshot=snapshot)
        assert plans[0].snapshot == snapshot.id and "snapshot" in plans[0].notes
        # committed after the snapshot: invisible to every planned read, in whichever process it runs
        sql("INSERT INTO lib.events SELECT g * 3 + 1, 'late' FROM generate_series(1, 500) g")
        sql("DELETE FROM lib.events WHERE id <= 300")
        with ProcessPoolExecutor(max_workers=2) as pool:
            union = sorted(i for _, ids in pool.map(ids_of, plans) for i in ids)
    assert union == [g * 3 for g in range(1, 10001)]
    fresh = ca.plan_partitions(config, "lib.events", partitions=2)
    assert "own snapshot" in fresh[0].notes
    assert sorted(i for p in fresh for i in ids_of(p)[1]) == [r[0] for r in sql("SELECT id FROM lib.events ORDER BY id")]


def test_a_plan_whose_snapshot_is_gone_fails_unless_told_to_read_fresh_data(pg, sql):
    make_table(sql, 500)
    config = connection_config(pg)
    with ca.export_snapshot(config) as snapshot:
        plans = ca.plan_partitions(config, "lib.events", partitions=1, snapshot=snapshot)
    sql("INSERT INTO lib.events SELECT g * 3 + 1, 'late' FROM generate_series(1, 999) g")  # after the snapshot
    reader = ca.read_partition(plans[0])
    with pytest.raises(pa.ArrowInvalid, match="configuration key 'snapshot'"):
        pa.table(reader)
    assert isinstance(reader.error, ca.ConfigurationError) and reader.error.key == "snapshot"
    with pytest.raises(ca.ConfigurationError) as caught:  # the dict path raises it itself
        list(ca.read_partition(plans[0], format="dicts"))
    assert caught.value.key == "snapshot" and "is gone" in str(caught.value)
    fresh = pa.table(ca.read_partition(plans[0], fresh_snapshot=True))
    assert fresh.num_rows == 1499, "told to, it reads the data as it is now"


def test_dict_batches_are_public(pg, sql):
    make_table(sql, 12000)
    with ca.read_batches(connection_config(pg), "lib.events", partitions=2, batch_size=1000) as reader:
        rows = [row for batch in reader for row in batch]
        assert reader.rows_read == 12000
    assert sorted(r["id"] for r in rows) == [g * 3 for g in range(1, 12001)]
    assert set(rows[0]) == {"id", "body"}


def test_async_iteration_keeps_the_event_loop_free(pg, sql):
    """While `async for` waits for a batch, other tasks run. The first batch is made to wait 2 s on the server
    (another session holds the table locked), so the measure does not depend on the machine's speed: a free loop
    steps the ticker thousands of times in that wait, a blocked one not at all."""
    import asyncio
    import threading
    import time

    import psycopg

    from testkit import conninfo

    make_table(sql, 40000)
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        with psycopg.connect(**conninfo(pg)) as conn:
            conn.execute("LOCK TABLE lib.events IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(2.0)
            conn.rollback()

    async def main():
        ticks = 0
        stop = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0)

        holder = threading.Thread(target=hold_lock)
        holder.start()
        assert locked.wait(10)
        # one partition: nothing is sampled, so making the reader does not touch the locked table
        reader = ca.read_batches(connection_config(pg), "lib.events", partitions=1, batch_size=500)
        task = asyncio.create_task(ticker())
        started, ids, first = time.monotonic(), [], None
        async for batch in reader:
            if first is None:
                first = (time.monotonic() - started, ticks)
            ids.extend(row["id"] for row in batch)
        stop.set()
        await task
        holder.join()
        return ids, first

    ids, (waited, ticks_while_waiting) = asyncio.run(main())
    assert sorted(ids) == [g * 3 for g in range(1, 40001)]
    assert waited >= 1.5, f"the first batch waited on the lock ({waited:.2f}s)"
    assert ticks_while_waiting > 100, f"the loop ran other tasks while a batch was awaited ({ticks_while_waiting} steps)"


def test_async_arrow_batches_equal_the_stream(pg, sql):
    import asyncio

    make_table(sql, 25000)
    config = connection_config(pg)

    async def collect():
        batches = []
        async for batch in ca.read_arrow(config, "lib.events", partitions=2, batch_size=3000):
            assert batch.num_rows <= 3000
            batches.append(pa.record_batch(batch))
        return pa.Table.from_batches(batches).sort_by("id")

    got = asyncio.run(collect())
    assert got.equals(pa.table(ca.read_arrow(config, "lib.events")).sort_by("id"))
    assert got.num_rows == 25000
