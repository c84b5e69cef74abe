"""Bad input fails fast with one line that names the key and the fix, and never shows the password."""
import connector_accel as ca
import pytest

from testkit import connection_config, run_sync

SECRET = "Sup3r-Secret-Pw"


@pytest.mark.parametrize(
    "change, key",
    [
        ({"port": "54x2"}, "port"),
        ({"sslmode": "sometimes"}, "sslmode"),
        ({"host": "  "}, "host"),
        ({"batch_size": "zero"}, "batch_size"),
        ({"custom_threads": "-3"}, "custom_threads"),
        ({"flatten_json": "maybe"}, "flatten_json"),
        ({"sslmode": "verify-full", "sslrootcert": "/nonexistent/ca.pem"}, "sslrootcert"),
    ],
)
def test_invalid_values_name_their_key(pg, change, key):
    config = {**connection_config(pg, password=SECRET), **change}
    with pytest.raises(ca.ConfigurationError) as err:
        ca.Source(config).discover()
    message = str(err.value)
    assert message.startswith(f"configuration key '{key}'"), message
    assert err.value.key == key
    assert "\n" not in message and SECRET not in message


def test_a_missing_table_fails_the_sync_before_anything_is_written(pg, sql, tmp_path):
    sql("CREATE TABLE IF NOT EXISTS public.present (id int PRIMARY KEY)")
    config = connection_config(pg, tables="public.present,public.absent")
    with pytest.raises(Exception) as err:
        run_sync(tmp_path, config)
    assert "configuration key 'tables': table 'public.absent' does not exist" in str(err.value)
    assert not (tmp_path / "files" / "warehouse.db").exists() or _tables(tmp_path) == []


def _tables(project):
    from testkit import warehouse

    return warehouse(project).execute("SELECT table_name FROM information_schema.tables WHERE table_schema LIKE 'tester%'").fetchall()


def test_wrong_password_is_a_connection_error_with_sqlstate(pg):
    with pytest.raises(ca.SourceConnectionError) as err:
        ca.Source(connection_config(pg, password=SECRET)).discover()
    assert err.value.sqlstate == "28P01"
    assert "check 'user' and 'password'" in str(err.value) and SECRET not in str(err.value)


def test_unknown_keys_warn_and_seed_aliases_work(pg, sql):
    sql("CREATE TABLE IF NOT EXISTS public.aliased (id int PRIMARY KEY)")
    config = connection_config(pg, tables="public.aliased")
    config["username"] = config.pop("user")  # seed 001's key
    config.update(custom_batch_size="10", region="Europe", colour="blue")
    source = ca.Source(config)
    assert source.warnings == ["unknown configuration key 'colour' is ignored; see README for the keys"]
    tables, _ = source.discover()
    assert [(t["schema"], t["table"]) for t in tables] == [("public", "aliased")], "logged in as 'username'"
    assert source.plan("public", "aliased")["batch_size"] == 10, "custom_batch_size is batch_size"


def test_unix_socket_connection(pg, sql):
    if not pg.get("socket_dir"):
        pytest.skip("the server under test was given by DSN, with no unix socket known")
    sql("CREATE TABLE IF NOT EXISTS public.over_socket (id int PRIMARY KEY)")
    source = ca.Source(connection_config(pg, host=pg["socket_dir"], tables="public.over_socket"))
    tables, _ = source.discover()
    assert [t["table"] for t in tables] == ["over_socket"]
    with source.export_snapshot():  # holds a session open for the server to describe
        rows = sql("SELECT client_addr IS NULL, client_port FROM pg_stat_activity "
                   "WHERE application_name = 'connector_accel snapshot'")
    assert rows == [(True, -1)], f"a unix-socket session has no client address and port -1: {rows}"
