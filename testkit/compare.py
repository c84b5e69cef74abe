"""The destination's live rows against the source's, key by key: the check after a sync in the tests of deletes,
schema changes and change data capture."""

from testkit.sync import warehouse


def fresh(run, schema: str) -> None:
    """`schema` dropped with all it holds and made again, empty, on the server `run` (a `runner`) talks to."""
    run(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    run(f"CREATE SCHEMA {schema}")


def live(project, schema: str, table: str, columns: str) -> list:
    query = f'SELECT {columns} FROM "tester_{schema}"."{table}" WHERE NOT _fivetran_deleted ORDER BY ALL'
    return warehouse(project).execute(query).fetchall()


def source(run, schema: str, table: str, columns: str) -> list:
    return [tuple(r) for r in run(f"SELECT {columns} FROM {schema}.{table} ORDER BY {columns}")]


def same(run, project, schema: str, table: str, columns: str) -> None:
    """The destination's live rows of `schema`.`table` are the source's, in `columns`."""
    dest, src = live(project, schema, table, columns), source(run, schema, table, columns)
    assert dest == src, (
        f"{schema}.{table}: destination {len(dest)} rows, source {len(src)}; first differences "
        f"{[r for r in dest if r not in src][:3]} vs {[r for r in src if r not in dest][:3]}"
    )


def id_val_table(run, schema: str, rows: int, table: str = "t") -> None:
    """`schema`.`table` (id int PRIMARY KEY, val text) holding the rows (g, 'v' || g) for g in 1..`rows`."""
    run(f"CREATE TABLE {schema}.{table} (id int PRIMARY KEY, val text)")
    run(f"INSERT INTO {schema}.{table} SELECT g, 'v' || g FROM generate_series(1, {rows}) g")
