"""The catch-up as a stream (issue 23): a transient failure in the middle of it is retried in place from what was
handed over (nothing skipped, nothing handed over twice), and a transaction of a million rows passes through
`read_changes` in bounded memory, exact."""
import json
import subprocess
import sys
import threading
import time
import zlib

import psycopg

from testkit import ROOT, connection_config, conninfo, run_sync, sync_alongside
from testkit.compare import fresh, id_val_table, same
from testkit.logical import logical_config

PEEKING = "SELECT pid, state FROM pg_stat_activity WHERE query LIKE 'SELECT data FROM pg_logical_slot_peek_binary%%' " \
          "AND pid <> pg_backend_pid()"


def terminate_peek(lsql, done: threading.Event | None = None) -> int | None:
    """Terminates the session reading the slot once it is handing rows over (its function has run and the portal
    is being fetched: `idle in transaction` between fetches); the pid, or None if the read ended first."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (done and done.is_set()):
        found = [pid for pid, state in lsql(PEEKING) if state == "idle in transaction"]
        if found:
            lsql("SELECT pg_terminate_backend(%s)", [found[0]])
            return found[0]
        time.sleep(0.005)
    return None


def test_a_terminated_catch_up_is_retried_in_place_and_ends_exact(lpg, lsql, tmp_path, capfd):
    schema = "cdc_retry"
    fresh(lsql, schema)
    id_val_table(lsql, schema, 1000)
    config = logical_config(lpg, schema, retry_sleep_seconds="0.2", batch_size=2000)
    state = run_sync(tmp_path, config)
    for i in range(20):
        lsql(f"UPDATE {schema}.t SET val = 'before{i}' WHERE id = {i + 1}")
    lsql(f"INSERT INTO {schema}.t SELECT g, 'big' || g FROM generate_series(10001, 130000) g")  # one transaction
    for i in range(20):
        lsql(f"DELETE FROM {schema}.t WHERE id = {100 + i}")
    events = 20 + 120_000 + 20
    killed = []
    capfd.readouterr()
    state = sync_alongside(tmp_path, config, lambda done: killed.append(terminate_peek(lsql, done)), state)
    out = capfd.readouterr().out
    assert "its changes came from the log" in out and "t: full done" not in out, out
    assert killed[0] is not None, "the catch-up ended before its session could be terminated"
    slot = state["replication"]["slot"]
    retry = [ln for ln in out.splitlines() if f"reading replication slot {slot}: transient error" in ln]
    assert len(retry) == 1 and "retry 1/" in retry[0], out
    assert f"reading replication slot {slot}: the retry resumes after" in out, out
    # every event exactly once: nothing skipped, nothing handed over twice
    assert f"logical replication: {events:,} change events applied" in out, out
    same(lsql, tmp_path, schema, "t", "id, val")


def test_read_changes_resumes_inside_the_transaction_it_was_cut_in(lpg, lsql):
    """Deterministic: the library's reader is paused after 25,000 events of a 60,000-row transaction (its read
    waits on the full queue), its session is terminated, and the events that follow are exactly the rest."""
    from connector_accel import read_changes

    schema = "cdc_retry_lib"
    fresh(lsql, schema)
    lsql(f"CREATE TABLE {schema}.t (id int PRIMARY KEY, val text)")
    config = connection_config(lpg, schemas=schema, replication_slot="cdc_retry_lib", publication="cdc_retry_lib",
                               retry_sleep_seconds="0.1")
    start = list(read_changes(config))[-1]["lsn"]
    lsql(f"INSERT INTO {schema}.t SELECT g, 'v' || g FROM generate_series(1, 60000) g")
    lsql(f"UPDATE {schema}.t SET val = 'after' WHERE id <= 10")
    lsql(f"DELETE FROM {schema}.t WHERE id = 11")
    reader = read_changes(config, after=start, batch_size=5000)
    got = [next(reader) for _ in range(25_000)]
    assert terminate_peek(lsql) is not None
    got += list(reader)
    assert [(e["op"], e["row"]["id"]) for e in got[:-1]] == \
        [("upsert", i) for i in range(1, 60001)] + [("upsert", i) for i in range(1, 11)] + [("delete", 11)]
    assert got[-1]["op"] == "end"
    assert lsql(PEEKING) == []


CHILD = """
import json, sys, zlib
import connector_accel as ca

def status(field):
    # VmHWM is this process image's own peak (ru_maxrss would count the parent's pages from before the exec)
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(field + ":"))

config, after = json.loads(sys.argv[1]), sys.argv[2]
before = status("VmRSS")
count = ids = check = 0
for event in ca.read_changes(config, after=after):
    if event["op"] == "upsert":
        row = event["row"]
        count, ids = count + 1, ids + row["id"]
        check = (check + zlib.crc32(f"{row['id']}:{row['val']}".encode())) % (1 << 64)
print(json.dumps({"count": count, "ids": ids, "check": check, "growth": status("VmHWM") - before}))
"""


def test_a_million_row_transaction_streams_in_bounded_memory_and_exact(lpg, lsql):
    """One transaction of 1,000,000 narrow rows (an int and a 32-character md5) through `read_changes` in a process
    of its own: the count and a checksum of every (id, val) match the source's, and the process's peak RSS grows by
    far less than holding the transaction whole would take.

    Whole, as the events the reader decodes, it is at least 1,000,000 x 192 bytes = 192 MB: a `Change` (48 bytes:
    operation, table, cells, position), its two cells (2 x 40, 96 as allocated) and the text's own allocation (48);
    as the Python dicts `read_changes` yields, over 600 bytes an event. pgoutput's messages alone are 54 MB (an
    Insert: 8 bytes of header, the int4 column 1 + 4 + 4, the text 1 + 4 + 32). The stream holds one fetch of 5,000
    messages, a queue of two batches of 10,000 events, the one being handed over and its dicts: its peak grows with
    the batch size, not with the transaction (64-70 MB here at 10,000, 28 MB at 1,000, 12 MB for a 1,000-row read).
    The bound, 96 MB, is half the least whole figure, and a read holding the transaction whole fails it."""
    schema = "cdc_million"
    fresh(lsql, schema)
    lsql(f"CREATE TABLE {schema}.t (id int PRIMARY KEY, val text)")
    config = connection_config(lpg, schemas=schema, replication_slot="cdc_million", publication="cdc_million")
    from connector_accel import read_changes

    start = list(read_changes(config))[-1]["lsn"]
    lsql(f"INSERT INTO {schema}.t SELECT g, md5(g::text) FROM generate_series(1, 1000000) g")
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(config), start], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.splitlines()[-1])
    count = ids = check = 0
    with psycopg.connect(**conninfo(lpg)) as conn, conn.cursor(name="all") as cur:
        cur.execute(f"SELECT id, val FROM {schema}.t")
        for i, val in cur:
            count, ids = count + 1, ids + i
            check = (check + zlib.crc32(f"{i}:{val}".encode())) % (1 << 64)
    assert (got["count"], got["ids"], got["check"]) == (count, ids, check) == (1_000_000, 500_000_500_000, check)
    whole = 1_000_000 * 192
    assert got["growth"] < whole / 2, f"peak RSS grew by {got['growth'] / 1e6:.1f} MB"
