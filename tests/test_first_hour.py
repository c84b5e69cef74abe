"""What a newcomer meets in the first hour (issue 20): a generated project that syncs once its connection keys are
filled in, placeholders that are never taken for values, a TLS refusal that names `sslmode`, a library that logs its
warnings and names the caller's argument, test runs without the SDK's exit noise, benchmarks that stop their server."""
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import connector_accel as ca
import pyarrow as pa
import pytest
from connector_accel import project

from testkit import ROOT, connection_config, embedded_pg, free_port, warehouse


def fivetran(project_dir: Path, *args: str) -> subprocess.CompletedProcess:
    # `fivetran` run by this very Python, so that it imports the connector_accel under test whichever `fivetran`
    # script is first on PATH (a venv with system site packages has none of its own)
    shim = "import sys; from fivetran_connector_sdk_cli.fivetran_shim import main; sys.argv[0] = 'fivetran'; sys.exit(main())"
    command = [sys.executable, "-c", shim, *args]
    return subprocess.run(command, cwd=project_dir, env=dict(os.environ, DO_NOT_TRACK="1"), capture_output=True,
                          text=True, timeout=300)


def test_a_generated_project_syncs_once_only_the_connection_keys_are_filled_in(pg, sql, tmp_path):
    sql("DROP DATABASE IF EXISTS newcomer")
    sql("CREATE DATABASE newcomer")
    with __import__("psycopg").connect(**dict(embedded_pg.conninfo(pg), dbname="newcomer"), autocommit=True) as conn:
        conn.execute("CREATE TABLE public.items (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO public.items SELECT g, 'item ' || g FROM generate_series(1, 12) g")
    made = tmp_path / "my_connector"
    subprocess.run([sys.executable, "-m", "connector_accel", "init", str(made), "--source", "postgres"], check=True)
    configuration = json.loads((made / "configuration.json").read_text())
    configuration.update(host=pg["host"], port=pg["port"], database="newcomer", user=pg["user"], password=pg["password"])
    (made / "configuration.json").write_text(json.dumps(configuration))
    debug = fivetran(made, "debug", "--configuration", "configuration.json")
    output = debug.stdout + debug.stderr
    assert debug.returncode == 0, output[-3000:]
    assert warehouse(made).execute("SELECT count(*) FROM tester_public.items").fetchone() == (12,), output[-3000:]
    for noise in ("placeholder", "sslrootcert", "is empty", "unknown configuration key"):
        assert noise not in output, (noise, output[-3000:])
    readme = (made / "README.md").read_text()
    assert all(name in readme for name in ("connector.py", "requirements.txt", "configuration_form.pb", "this README"))


@pytest.mark.parametrize("source", sorted(project.CONFIGURATION))
def test_every_generated_placeholder_is_taken_as_not_set(source):
    generated = project.CONFIGURATION[source]
    placeholders = {k: v for k, v in generated.items() if v.startswith("<")}
    assert placeholders, "the connection keys are placeholders"
    filled = {"postgres": {"host": "h", "user": "u"},
              "sqlserver": {"mssql_server": "h", "mssql_user": "u", "mssql_database": "d"},
              "snowflake": {"account": "a", "user": "u", "password": "p", "database": "d"}}[source]
    warnings = ca.Source(dict(generated, **filled)).warnings
    for key, value in placeholders.items():
        if key not in filled:
            said = f"'{key}' still holds the placeholder '{value}', so it is taken as not set; fill it in or remove the key"
            assert said in warnings, warnings
    assert not [w for w in warnings if "placeholder" not in w], warnings
    # the placeholder CA is never read as a file, even where a mode needs one
    verify = dict(generated, **filled, sslrootcert="<CA certificate: path or PEM text>", sslmode="verify-full")
    ca.Source(verify)


def test_tls_refused_by_the_server_names_sslmode_and_the_fix(pg):
    with pytest.raises(ca.SourceConnectionError) as failed:
        ca.Source(connection_config(pg, sslmode="verify-full")).discover()
    message = str(failed.value)
    assert "server does not support TLS" in message and "'sslmode'" in message and "prefer or disable" in message


@pytest.fixture
def orders(sql):
    sql("CREATE SCHEMA IF NOT EXISTS newcomer_shop")
    sql("DROP TABLE IF EXISTS newcomer_shop.hour_orders")
    sql("CREATE TABLE newcomer_shop.hour_orders (id int PRIMARY KEY, total numeric(10,2))")
    sql("INSERT INTO newcomer_shop.hour_orders SELECT g, g * 1.5 FROM generate_series(1, 40) g")


def test_the_library_logs_unknown_keys_and_reads_a_bare_table_name_in_any_schema(pg, orders, caplog):
    config = dict(connection_config(pg), bogus_key="1")
    with caplog.at_level(logging.WARNING, logger="connector_accel"):
        table = pa.table(ca.read_arrow(config, "hour_orders"))
    assert table.num_rows == 40
    assert [r.getMessage() for r in caplog.records if r.name == "connector_accel"] == [
        "unknown configuration key 'bogus_key' is ignored; see README for the keys"]
    with ca.read_batches(connection_config(pg), "hour_orders") as batches:
        assert sum(len(b) for b in batches) == 40
    plans = ca.plan_partitions(connection_config(pg), "hour_orders", partitions=1)
    assert (plans[0].schema, plans[0].table) == ("newcomer_shop", "hour_orders")


def test_library_errors_name_the_argument_the_caller_used(pg, orders):
    with pytest.raises(ca.ConfigurationError) as missing:
        ca.read_arrow(connection_config(pg), "no_such_orders")
    assert missing.value.key == "table" and str(missing.value).startswith("table: ")
    assert "'tables'" not in str(missing.value) and "no_such_orders" in str(missing.value)


def test_in_process_syncs_leave_no_memory_report_after_the_run(pg, sql, tmp_path):
    """The SDK's tracker printed one "connector process memory usage" line per sync at interpreter exit."""
    sql("CREATE SCHEMA IF NOT EXISTS newcomer_quiet")
    sql("CREATE TABLE IF NOT EXISTS newcomer_quiet.t (id int PRIMARY KEY)")
    sql("INSERT INTO newcomer_quiet.t VALUES (1) ON CONFLICT DO NOTHING")
    script = textwrap.dedent("""
        import json, sys
        from pathlib import Path
        from testkit import run_sync
        config = json.loads(sys.argv[1])
        for n in range(2):
            run_sync(Path(sys.argv[2]) / str(n), config)
        print("synced twice")
    """)
    run = subprocess.run([sys.executable, "-c", script, json.dumps(connection_config(pg, schemas="newcomer_quiet")),
                          str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "synced twice" in run.stdout, run.stdout[-2000:] + run.stderr[-2000:]
    assert "memory usage" not in run.stdout + run.stderr, (run.stdout + run.stderr)[-2000:]


def test_a_benchmark_that_crashes_stops_its_server(tmp_path):
    datadir = tmp_path / "bench-pg"
    # --rounds 0 crashes after the server started and the table was loaded (the median of no rounds)
    crashed = subprocess.run([sys.executable, "benchmarks/bench_engine.py", "--rows", "10", "--big-rows", "10",
                              "--rounds", "0", "--datadir", str(datadir), "--port", str(free_port())],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert crashed.returncode != 0 and "StatisticsError" in crashed.stderr, crashed.stderr[-2000:]
    assert (datadir / "PG_VERSION").exists(), "the server was started"
    assert not embedded_pg.stop(datadir), "and stopped when the benchmark crashed"


def test_serve_in_a_build_without_the_server_says_how_to_get_it(monkeypatch, capsys):
    """A first ./scripts/demo.sh builds the module without the Partner SDK server (CONNECTOR_ACCEL_SERVER=0, 48
    crates fewer); `serve` there says so and how to get it instead of failing obscurely. The build under test (every
    build after the first demo's, and every wheel) has the server."""
    from connector_accel import __main__ as cli
    from connector_accel import _core
    assert _core.HAS_SERVER is True, "test.sh and the wheels build with the server"
    monkeypatch.setattr(_core, "HAS_SERVER", False)
    assert cli.main(["serve", "--port", str(free_port())]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "built without the Partner SDK server" in err and "./scripts/build.sh" in err
