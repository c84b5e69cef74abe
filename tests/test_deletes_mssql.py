"""Delete reconciliation against SQL Server (the TDS test server): the same key pass, through the one read path,
and a table dropped and created again is told by its object_id (issue 19, points 1 and 2)."""
from test_mssql import backing_sql, config, mssql  # noqa: F401  (mssql: the module's server fixture)

from testkit import run_sync, warehouse
from testkit.tdsfixture.engine import create_table


def live_ids(project) -> list:
    return warehouse(project).execute(
        "SELECT id, val FROM tester_dbo.gone WHERE NOT _fivetran_deleted ORDER BY id").fetchall()


def make(server) -> None:
    backing_sql(server, "DROP TABLE IF EXISTS dbo.gone")
    create_table(server.backing, "dbo", "gone", "id int NOT NULL PRIMARY KEY, val nvarchar(20), "
                 "updated_at datetime2 NOT NULL")
    backing_sql(server, "INSERT INTO dbo.gone SELECT g, 'v' || g, now() FROM generate_series(1, 500) g")


def test_sql_server_deletes_are_reconciled_and_a_recreated_table_is_told(mssql, tmp_path, capfd):  # noqa: F811
    make(mssql)
    settings = config(mssql, tables="dbo.gone", delete_reconciliation_hours="0")
    state = run_sync(tmp_path, settings)
    assert state["tables"]["dbo.gone"]["phase"] == "incremental"
    backing_sql(mssql, "DELETE FROM dbo.gone WHERE id % 5 = 0")
    state = run_sync(tmp_path, settings, state)
    assert live_ids(tmp_path) == backing_sql(mssql, "SELECT id, val FROM dbo.gone ORDER BY id")
    make(mssql)  # dropped and created again: another object_id
    backing_sql(mssql, "DELETE FROM dbo.gone WHERE id > 100")
    run_sync(tmp_path, config(mssql, tables="dbo.gone"), state)
    assert live_ids(tmp_path) == backing_sql(mssql, "SELECT id, val FROM dbo.gone ORDER BY id")
    assert "dbo.gone: it was dropped and created again (id " in capfd.readouterr().out
