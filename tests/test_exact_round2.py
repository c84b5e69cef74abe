"""Issue 19, points 3-10: what a production database does in a normal week that a sync must reflect exactly, or
say on that sync. Each test syncs through the SDK's runner into DuckDB and compares the destination's live rows
with the source, key by key and value by value."""
import json

import pytest

from testkit import connection_config, run_sync, warehouse


def live(tmp_path, table: str, columns: str = "*", order: str = "1"):
    return warehouse(tmp_path).execute(f"SELECT {columns} FROM {table} WHERE NOT _fivetran_deleted ORDER BY {order}"
                                       ).fetchall()


def test_dotted_names_have_their_own_state_keys(pg, sql, tmp_path):
    """a."b.c" and "a.b".c once shared the state key "a.b.c": the second was skipped as already synced."""
    sql('DROP SCHEMA IF EXISTS dot_a CASCADE')
    sql('DROP SCHEMA IF EXISTS "dot_a.b" CASCADE')
    sql('CREATE SCHEMA dot_a')
    sql('CREATE SCHEMA "dot_a.b"')
    sql('CREATE TABLE dot_a."b.c" (id int PRIMARY KEY, v text)')
    sql('CREATE TABLE "dot_a.b".c (id int PRIMARY KEY, v text)')
    sql('INSERT INTO dot_a."b.c" VALUES (1, \'first\'), (2, \'first\')')
    sql('INSERT INTO "dot_a.b".c VALUES (1, \'second\'), (3, \'second\')')
    state = run_sync(tmp_path, connection_config(pg, schemas="dot_a,dot_a.b"))
    assert set(state["tables"]) >= {'"dot_a"."b.c"', '"dot_a.b"."c"'}, state["tables"].keys()
    dw = warehouse(tmp_path)
    landed = {t: dw.execute(f'SELECT id, v FROM "{s}"."{t}" ORDER BY id').fetchall()
              for s, t in dw.execute("SELECT table_schema, table_name FROM information_schema.tables "
                                     "WHERE table_schema LIKE 'tester_dot_a%' ORDER BY 1").fetchall()}
    assert sorted(landed.values()) == sorted([sql('SELECT id, v FROM dot_a."b.c" ORDER BY id'),
                                              sql('SELECT id, v FROM "dot_a.b".c ORDER BY id')]), landed


def test_old_state_keys_still_load():
    from connector_accel import state as st
    assert st.table_key("public", "orders") == "public.orders"
    assert st.table_key("a", "b.c") != st.table_key("a.b", "c")
    assert st.table_key('x"y', "z") == '"x""y"."z"'


def exact(value):
    """A JSON value with every number (and every string that spells one) as a Decimal, for exact comparison."""
    from decimal import Decimal, InvalidOperation
    if isinstance(value, dict):
        return {k: exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [exact(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    return value


def loads(text):
    from decimal import Decimal
    return None if text is None else exact(json.loads(text, parse_float=Decimal, parse_int=Decimal))


@pytest.mark.parametrize("emit", ["auto", "sdk"])
def test_json_numbers_land_exactly(pg, sql, tmp_path, capsys, emit):
    """Numbers a double would round (in json, jsonb and numeric[]) land as the server's text, in both emit paths;
    a flattened column of them is STRING."""
    sql("CREATE SCHEMA IF NOT EXISTS exact2")
    sql("DROP TABLE IF EXISTS exact2.nums")
    sql("CREATE TABLE exact2.nums (id int PRIMARY KEY, doc jsonb, raw json, arr numeric[])")
    big, tiny = "12345678901234567890.123456789012345", "1e-400"
    sql(f"""INSERT INTO exact2.nums VALUES
        (1, '{{"big": {big}, "tiny": {tiny}, "ok": 0.5}}', '[1e309, {big}, 0.1, 1.0000000000000001]',
            ARRAY[{big}, 0.1, 1e-400]::numeric[]),
        (2, '{{"big": 1.5, "tiny": 2, "ok": 0.25}}', '[2]', ARRAY[1]::numeric[])""")
    run_sync(tmp_path, connection_config(pg, schemas="exact2", emit=emit))
    dw = warehouse(tmp_path)
    types = dict(dw.execute("SELECT column_name, data_type FROM information_schema.columns "
                            "WHERE table_name = 'nums'").fetchall())
    got = dw.execute("SELECT id, doc_big, doc_tiny, doc_ok, raw, arr FROM tester_exact2.nums ORDER BY id").fetchall()
    want = sql("SELECT id, doc->>'big', doc->>'tiny', (doc->>'ok')::float8, raw::text, to_jsonb(arr)::text "
               "FROM exact2.nums ORDER BY id")
    assert len(got) == len(want) == 2
    from decimal import Decimal
    for g, w in zip(got, want, strict=True):
        assert g[0] == w[0] and Decimal(g[1]) == Decimal(w[1]) and Decimal(g[2]) == Decimal(w[2]), (g, w)
        assert g[3] == w[3]
        assert loads(g[4]) == loads(w[4]) and loads(g[5]) == loads(w[5]), (g, w)
        assert "NaN" not in g[4] and "Infinity" not in g[4]
    assert types["doc_big"] == types["doc_tiny"] == "VARCHAR" and types["doc_ok"] == "DOUBLE", types
    assert "holds JSON numbers a double would round" in capsys.readouterr().out


@pytest.mark.parametrize("keys, cap, sampled", [(2_000, "50", True), (2_000, "50", False), (200_000, None, True)])
def test_a_huge_json_object_stays_json(pg, sql, tmp_path, capsys, keys, cap, sampled):
    """An object with more keys than `flatten_max_columns` (500 unless set) is not flattened: it lands whole in its
    JSON column, with a warning naming the column, whether the sample saw it (the column stays JSON) or a later row
    brings it (that object stays JSON); other objects still flatten."""
    sql("CREATE SCHEMA IF NOT EXISTS exact2")
    sql("DROP TABLE IF EXISTS exact2.wide")
    sql("CREATE TABLE exact2.wide (id int PRIMARY KEY, doc jsonb, small jsonb)")
    wide = (f"INSERT INTO exact2.wide SELECT 1, jsonb_object_agg('k' || g, g), '{{\"a\": 1}}' "
            f"FROM generate_series(1, {keys}) g")
    narrow = "INSERT INTO exact2.wide VALUES (2, '{\"k1\": 5}', '{\"a\": 2}')"
    for statement in ([wide, narrow] if sampled else [narrow, wide]):
        sql(statement)
    extra = {"flatten_max_columns": cap} if cap else {}
    if not sampled:
        extra["flatten_sample_rows"] = "1"  # the sample sees the narrow object only
    run_sync(tmp_path, connection_config(pg, schemas="exact2", tables="exact2.wide", **extra))
    assert f"objects in column doc have more than {cap or 500} keys to flatten" in capsys.readouterr().out
    dw = warehouse(tmp_path)
    columns = [c for (c,) in dw.execute("SELECT column_name FROM information_schema.columns "
                                        "WHERE table_name = 'wide' ORDER BY 1").fetchall()]
    flat = [c for c in columns if c.startswith("doc_")]
    assert "small_a" in columns and len(flat) <= 1, columns
    want = {i: (json.loads(d), a) for i, d, a in sql("SELECT id, doc::text, (small->>'a')::int FROM exact2.wide")}
    rows = dw.execute(f"SELECT id, doc, small_a{''.join(', ' + c for c in flat)} FROM tester_exact2.wide").fetchall()
    assert sorted(r[0] for r in rows) == sorted(want)
    for row in rows:
        doc, small = want[row[0]]
        assert row[2] == small
        if row[1] is not None:
            assert json.loads(row[1]) == doc
        else:  # flattened (the destination renames doc_k1 to doc_k_1): the narrow object only
            assert row[0] == 2 and sorted(v for v in row[3:] if v is not None) == sorted(doc.values())


@pytest.mark.parametrize("emit, line", [
    ("auto", "emit path: fast (records encoded in Rust"),
    ("sdk", "emit path: op.upsert (the SDK's public operations): emit=sdk"),
])
def test_the_emit_path_is_said_once(pg, sql, tmp_path, capsys, emit, line):
    sql("CREATE SCHEMA IF NOT EXISTS exact2")
    sql("DROP TABLE IF EXISTS exact2.said")
    sql("CREATE TABLE exact2.said (id int PRIMARY KEY)")
    sql("INSERT INTO exact2.said SELECT generate_series(1, 10)")
    run_sync(tmp_path, connection_config(pg, schemas="exact2", tables="exact2.said", emit=emit))
    out = capsys.readouterr().out
    assert out.count("emit path: ") == 1 and line in out, out
    assert live(tmp_path, "tester_exact2.said", "id") == sql("SELECT id FROM exact2.said ORDER BY id")


@pytest.fixture
def zoned(pg, sql):
    """Makes database tz_db whose sessions are on a given time zone, with an empty schema tz; returns a function
    running statements in it."""
    import psycopg

    from testkit import conninfo

    def make(zone: str):
        sql("DROP DATABASE IF EXISTS tz_db WITH (FORCE)")
        sql("CREATE DATABASE tz_db")
        sql(f"ALTER DATABASE tz_db SET timezone TO '{zone}'")
        info = {**conninfo(pg), "dbname": "tz_db"}

        def run(statement, params=None):
            with psycopg.connect(**info, autocommit=True) as conn:
                cur = conn.execute(statement, params)
                return cur.fetchall() if cur.description else None
        run.info = info
        run("CREATE SCHEMA tz")
        return run
    return make


def tz_config(pg) -> dict:
    """tz_db's schema tz with no look-back: only the cursor's own reading of the server's zone keeps a row."""
    return connection_config(pg, database="tz_db", schemas="tz", incremental_lookback_seconds="0")


def test_a_naive_cursor_on_a_server_behind_utc_keeps_a_late_writer(pg, zoned, tmp_path, capsys):
    """The open-writer guard is an instant; a `timestamp` cursor holds Phoenix wall-clock stamps (UTC-7, no DST,
    so no repeated hour helps). Compared as UTC, the late writer's row (stamped when it began) fell seven hours
    before the guard and was never read."""
    import time

    import psycopg
    db = zoned("America/Phoenix")
    db("CREATE TABLE tz.naive (id int PRIMARY KEY, val text, updated_at timestamp NOT NULL DEFAULT now())")
    db("INSERT INTO tz.naive (id, val) SELECT g, 'v' FROM generate_series(1, 100) g")
    config = tz_config(pg)
    state = run_sync(tmp_path, config)
    assert "cursor updated_at is a timestamp without time zone on a server whose time zone is America/Phoenix" \
        in capsys.readouterr().out
    late = psycopg.connect(**db.info)  # begins first, commits last
    late.execute("UPDATE tz.naive SET val = 'late', updated_at = now() WHERE id = 5")
    time.sleep(0.05)
    db("UPDATE tz.naive SET val = 'changed', updated_at = now() WHERE id = 7")
    state = run_sync(tmp_path, config, state)
    late.commit()
    late.close()
    run_sync(tmp_path, config, state)
    assert live(tmp_path, "tester_tz.naive", "id, val") == db("SELECT id, val FROM tz.naive ORDER BY id")


def test_a_naive_cursor_looks_back_over_the_repeated_hour(pg, zoned, tmp_path):
    """On 2026-11-01 New York's clocks went from 01:59 EDT back to 01:00 EST: a row written at 01:10 EST comes after
    one written at 01:50 EDT but looks 40 minutes earlier."""
    db = zoned("America/New_York")
    db("CREATE TABLE tz.dst (id int PRIMARY KEY, val text, updated_at timestamp NOT NULL)")
    db("INSERT INTO tz.dst VALUES (1, 'before the change', '2026-11-01 01:50')")
    config = tz_config(pg)
    state = run_sync(tmp_path, config)
    db("INSERT INTO tz.dst VALUES (2, 'in the repeated hour', '2026-11-01 01:10')")
    run_sync(tmp_path, config, state)
    assert live(tmp_path, "tester_tz.dst", "id, val") == db("SELECT id, val FROM tz.dst ORDER BY id")


@pytest.mark.parametrize("cursor", [False, True], ids=["full read", "cursor"])
def test_a_locked_table_fails_naming_the_lock_holder(pg, sql, tmp_path, capsys, cursor):
    """A migration holds ACCESS EXCLUSIVE: the read waits `lock_timeout_seconds`, not forever; the retry and the
    final error name the table and the holding session; once it lets go, the next sync lands every row."""
    import time

    import psycopg

    from testkit import conninfo, sync_alongside
    sql("CREATE SCHEMA IF NOT EXISTS exact2")
    sql("DROP TABLE IF EXISTS exact2.held")
    stamp = ", updated_at timestamptz NOT NULL DEFAULT now()" if cursor else ""
    sql(f"CREATE TABLE exact2.held (id int PRIMARY KEY, v text{stamp})")
    sql("INSERT INTO exact2.held (id, v) SELECT g, 'v' || g FROM generate_series(1, 50) g")
    config = connection_config(pg, schemas="exact2", tables="exact2.held", lock_timeout_seconds="0.5",
                               max_retries="1", retry_sleep_seconds="0.1")
    holder = psycopg.connect(**conninfo(pg))
    holder.execute("LOCK TABLE exact2.held IN ACCESS EXCLUSIVE MODE")
    pid = holder.info.backend_pid
    try:
        with pytest.raises(Exception) as err:
            run_sync(tmp_path, config)
    finally:
        holder.rollback()
        holder.close()
    said = "table exact2.held is locked ACCESS EXCLUSIVE by session pid {} (query started "
    assert said.format(pid) in str(err.value), str(err.value)
    # Held for a while, then let go: the retry's line names the holder, and the sync lands every row.
    holder = psycopg.connect(**conninfo(pg))
    holder.execute("LOCK TABLE exact2.held IN ACCESS EXCLUSIVE MODE")
    pid = holder.info.backend_pid

    def release(done):
        time.sleep(1.5)
        holder.rollback()
    sync_alongside(tmp_path, {**config, "max_retries": "10", "retry_sleep_seconds": "0.5"}, release)
    holder.close()
    assert said.format(pid) in capsys.readouterr().out, "the retry says who holds the lock"
    assert live(tmp_path, "tester_exact2.held", "id, v") == sql("SELECT id, v FROM exact2.held ORDER BY id")


def test_row_level_security_that_filters_the_login_is_said(pg, sql, tmp_path, capsys):
    """A login that a policy limits reads a subset: the sync says so by table; with BYPASSRLS it reads all."""
    sql("CREATE SCHEMA IF NOT EXISTS exact2")
    sql("DROP TABLE IF EXISTS exact2.tenants")
    sql("CREATE TABLE exact2.tenants (id int PRIMARY KEY, tenant text NOT NULL)")
    sql("INSERT INTO exact2.tenants SELECT g, CASE WHEN g % 3 = 0 THEN 'a' ELSE 'b' END FROM generate_series(1, 30) g")
    sql("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tenant_a') THEN "
        "CREATE ROLE tenant_a LOGIN PASSWORD 'tenant-a-pw'; END IF; END $$")
    sql("ALTER ROLE tenant_a NOBYPASSRLS")
    sql("GRANT USAGE ON SCHEMA exact2 TO tenant_a")
    sql("GRANT SELECT ON exact2.tenants TO tenant_a")
    sql("ALTER TABLE exact2.tenants ENABLE ROW LEVEL SECURITY")
    sql("CREATE POLICY only_a ON exact2.tenants USING (tenant = 'a')")
    config = connection_config(pg, user="tenant_a", password="tenant-a-pw", schemas="exact2",
                               tables="exact2.tenants")
    run_sync(tmp_path / "limited", config)
    said = "table exact2.tenants: row-level security is on and this login does not bypass it"
    assert said in capsys.readouterr().out
    assert live(tmp_path / "limited", "tester_exact2.tenants", "id, tenant") == sql(
        "SELECT id, tenant FROM exact2.tenants WHERE tenant = 'a' ORDER BY id"), "what the policy shows, no more"
    sql("ALTER ROLE tenant_a BYPASSRLS")
    run_sync(tmp_path / "bypassing", config)
    assert said not in capsys.readouterr().out
    assert live(tmp_path / "bypassing", "tester_exact2.tenants", "id, tenant") == sql(
        "SELECT id, tenant FROM exact2.tenants ORDER BY id")


def test_an_integer_cursor_typo_does_not_hide_later_changes(pg, sql, tmp_path, capsys):
    """One epoch-milliseconds value typed as 99999999999999: the mark stops below that jump (the row is read again
    every sync, with a warning naming its key), so later changes still arrive."""
    sql("CREATE SCHEMA IF NOT EXISTS exact2")
    sql("DROP TABLE IF EXISTS exact2.events")
    sql("CREATE TABLE exact2.events (id int PRIMARY KEY, val text, changed_ms bigint NOT NULL)")
    sql("INSERT INTO exact2.events SELECT g, 'v', 1733011200000 + g * 1000 FROM generate_series(1, 100) g")
    sql("INSERT INTO exact2.events VALUES (101, 'typo', 99999999999999)")
    config = connection_config(pg, schemas="exact2", tables="exact2.events",
                               cursor_columns=json.dumps({"exact2.events": "changed_ms"}))
    state = run_sync(tmp_path, config)
    assert ("exact2.events: cursor changed_ms has 1 rows above 1733011300000, below a jump far beyond the rest "
            "of its values (largest 99999999999999; key 101)") in capsys.readouterr().out
    sql("UPDATE exact2.events SET val = 'changed', changed_ms = 1733011400000 WHERE id = 5")
    sql("INSERT INTO exact2.events VALUES (102, 'later', 1733011400001)")
    run_sync(tmp_path, config, state)
    assert live(tmp_path, "tester_exact2.events", "id, val") == sql("SELECT id, val FROM exact2.events ORDER BY id")


def test_objects_that_flatten_to_no_value_are_named_on_the_sync(pg, sql, tmp_path, capsys):
    """`{}`, `{"b": null}` and a NULL column all land as NULL in the flattened columns: the sync says so, once for
    the column, naming the table, the column and the first such part, and how to keep the column as JSON."""
    sql("CREATE SCHEMA IF NOT EXISTS exact2")
    sql("DROP TABLE IF EXISTS exact2.hollow")
    sql("CREATE TABLE exact2.hollow (id int PRIMARY KEY, doc jsonb, full_doc jsonb)")
    sql("""INSERT INTO exact2.hollow VALUES (1, '{"a": 1, "b": 2}', '{"a": 1}'), (2, '{"a": 3, "b": null}', '{"a": 2}'),
           (3, '{}', '{"a": 3}'), (4, NULL, '{"a": 4}')""")
    run_sync(tmp_path, connection_config(pg, schemas="exact2", tables="exact2.hollow"))
    out = [line for line in capsys.readouterr().out.splitlines() if "flatten to no value" in line]
    assert len(out) == 1, out
    assert "table exact2.hollow: column doc" in out[0] and "doc_b = null" in out[0] and "'flatten_json'" in out[0]
    rows = live(tmp_path, "tester_exact2.hollow", "id, doc_a, doc_b, full_doc_a")
    assert rows == [(1, 1, 2, 1), (2, 3, None, 2), (3, None, None, 3), (4, None, None, 4)], rows
