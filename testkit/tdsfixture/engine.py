"""The real engine behind the TDS fixture: PostgreSQL, with SQL Server's catalog views and types laid over it.

T-SQL arrives from the client, is parsed by sqlglot's T-SQL dialect, has its CASTs and parameters rewritten, and
really runs on PostgreSQL. Tables are created from T-SQL DDL (`create_table`); the declared SQL Server type of every
column is kept in `tsql.columns`, so that `sys.columns` reports it and result columns that name a table column are
sent with that type. Computed result columns are typed from what PostgreSQL produced.
"""
import itertools
import re
from datetime import timedelta

import psycopg
import sqlglot
from psycopg.types.datetime import TimeLoader
from sqlglot import exp

from .types import CATALOG, Declared, cast_target, from_postgres

BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS tsql;
CREATE SCHEMA IF NOT EXISTS sys;
CREATE TABLE IF NOT EXISTS tsql.columns (relid oid, attnum int, type_name text, max_length int, "precision" int,
    scale int, PRIMARY KEY (relid, attnum));
CREATE TABLE IF NOT EXISTS sys.types (name text, system_type_id int, user_type_id int, is_user_defined int);
CREATE OR REPLACE VIEW sys.schemas AS SELECT n.oid::int AS schema_id, n.nspname::text AS name FROM pg_namespace n
    WHERE n.nspname NOT IN ('information_schema', 'tsql', 'sys', 'public') AND n.nspname NOT LIKE 'pg\\_%';
CREATE OR REPLACE VIEW sys.tables AS SELECT c.oid::int AS object_id, c.relnamespace::int AS schema_id,
    c.relname::text AS name, 0 AS is_ms_shipped FROM pg_class c
    WHERE c.relkind = 'r' AND c.oid IN (SELECT relid FROM tsql.columns);
CREATE OR REPLACE FUNCTION public.sysutcdatetime() RETURNS timestamp LANGUAGE sql STABLE
    AS $$ SELECT now() AT TIME ZONE 'UTC' $$;
CREATE OR REPLACE VIEW sys.views AS SELECT c.oid::int AS object_id, c.relnamespace::int AS schema_id,
    c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('v', 'm') AND n.nspname NOT IN ('information_schema', 'tsql', 'sys')
      AND n.nspname NOT LIKE 'pg\\_%';
CREATE OR REPLACE VIEW sys.columns AS SELECT a.attrelid::int AS object_id, a.attnum::int AS column_id,
    a.attname::text AS name, t.system_type_id, t.user_type_id, k.max_length, k."precision", k.scale,
    CASE WHEN a.attnotnull THEN 0 ELSE 1 END AS is_nullable
    FROM pg_attribute a JOIN tsql.columns k ON k.relid = a.attrelid AND k.attnum = a.attnum
    JOIN sys.types t ON t.name = k.type_name WHERE NOT a.attisdropped;
CREATE OR REPLACE VIEW sys.indexes AS SELECT i.indrelid::int AS object_id,
    CASE WHEN i.indisprimary THEN 1 ELSE i.indexrelid::int END AS index_id,
    CASE WHEN i.indisprimary THEN 1 ELSE 0 END AS is_primary_key, x.relname::text AS name
    FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid;
CREATE OR REPLACE VIEW sys.index_columns AS SELECT i.indrelid::int AS object_id,
    CASE WHEN i.indisprimary THEN 1 ELSE i.indexrelid::int END AS index_id, k.attnum::int AS column_id,
    k.ord::int AS key_ordinal
    FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord);
CREATE OR REPLACE VIEW sys.partitions AS SELECT c.oid::int AS object_id,
    CASE WHEN EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) THEN 1 ELSE 0 END
        AS index_id, 1 AS partition_number, GREATEST(c.reltuples, 0)::bigint AS rows
    FROM pg_class c WHERE c.relkind = 'r';
CREATE OR REPLACE VIEW sys.dm_db_partition_stats AS SELECT p.object_id, p.index_id, p.partition_number,
    (pg_relation_size(p.object_id::oid) / 8192)::bigint AS in_row_data_page_count,
    (pg_total_relation_size(p.object_id::oid) / 8192)::bigint AS used_page_count, p.rows AS row_count
    FROM sys.partitions p;
"""


class SqlError(Exception):
    """An error the fixture reports as a SQL Server ERROR token."""

    def __init__(self, number: int, message: str, severity: int = 16, state: int = 1):
        super().__init__(message)
        self.number, self.message, self.severity, self.state = number, message, severity, state


def bootstrap(conninfo: dict) -> None:
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(4242)")
        conn.execute(BOOTSTRAP)
        if not conn.execute("SELECT 1 FROM sys.types LIMIT 1").fetchone():
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO sys.types VALUES (%s, %s, %s, 0)",
                                [(n, s, u) for n, (s, u, _) in CATALOG.items()])
        conn.execute("SELECT pg_advisory_unlock(4242)")


_COLUMN = re.compile(r"^\s*(\[[^\]]+\]|\w+)\s+(\w+(?:\s*\(\s*(?:max|\d+)\s*(?:,\s*\d+\s*)?\))?)(.*)$", re.I | re.S)


def _split_columns(body: str):
    depth, part, parts = 0, "", []
    for ch in body:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(part)
            part = ""
        else:
            part += ch
    return parts + [part]


def create_table(conninfo: dict, schema: str, table: str, columns: str) -> None:
    """Creates `schema.table` from a T-SQL column list (`id int NOT NULL PRIMARY KEY, n nvarchar(max), ...`,
    or a trailing `PRIMARY KEY (a, b)`), storing each column in its PostgreSQL type and recording the T-SQL one."""
    pg_columns, declared = [], []
    for item in _split_columns(columns):
        m = _COLUMN.match(item)
        if item.strip().upper().startswith(("PRIMARY KEY", "CONSTRAINT")):
            pg_columns.append(item.replace("[", '"').replace("]", '"'))
            continue
        if not m:
            raise ValueError(f"cannot parse column {item!r}")
        name, ty, rest = m.group(1).strip("[]"), Declared(m.group(2)), m.group(3)
        declared.append((name, ty))
        pg_columns.append(f'"{name}" {ty.storage().replace("VALUE", chr(34) + name + chr(34))} {rest}')
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        conn.execute(f'DROP TABLE IF EXISTS "{schema}"."{table}"')
        conn.execute(f'CREATE TABLE "{schema}"."{table}" ({", ".join(pg_columns)})')
        relid = conn.execute("SELECT %s::regclass::oid", (f'"{schema}"."{table}"',)).fetchone()[0]
        with conn.cursor() as cur:
            for name, ty in declared:
                attnum = cur.execute("SELECT attnum FROM pg_attribute WHERE attrelid = %s AND attname = %s",
                                     (relid, name)).fetchone()[0]
                cur.execute("INSERT INTO tsql.columns VALUES (%s, %s, %s, %s, %s, %s)",
                            (relid, attnum, ty.name, ty.max_length(), ty.precision, ty.scale))


_TO_STRING = re.compile(r"(\[[^\]]+\](?:\.\[[^\]]+\])*)\.ToString\(\)", re.I)
_PARAM = re.compile(r"\$P(\d+)\b", re.I)


def translate(tsql: str, names: list, declared: list | None = None) -> str:
    """T-SQL to PostgreSQL: CAST targets to the storage types, `x.ToString()` to a text cast, `@name` parameters to
    `$n` in the order `names` gives them, each cast to its `declared` T-SQL type where one is given."""
    text = _TO_STRING.sub(r"CAST(\1 AS nvarchar(max))", tsql)
    try:
        tree = sqlglot.parse_one(text, read="tsql")
    except sqlglot.errors.ParseError as e:
        raise SqlError(102, f"Incorrect syntax: {str(e).splitlines()[0]}", 15) from e
    for cast in tree.find_all(exp.Cast):
        target = cast.args["to"].sql(dialect="tsql")
        try:
            cast.set("to", exp.DataType.build(cast_target(target), dialect="postgres"))
        except ValueError:
            pass
    for p in tree.find_all(exp.Parameter):
        name = "@" + p.name
        if name.lower() in names:
            at = names.index(name.lower())
            var = exp.Var(this=f"${at + 1}")
            ty = declared[at] if declared else None
            p.replace(exp.Cast(this=var, to=exp.DataType.build(cast_target(ty), dialect="postgres")) if ty else var)
    return tree.sql(dialect="postgres"), _plain_columns(tree)


def _plain_columns(tree):
    """For each selected expression, whether it names a table column as it is (then its declared T-SQL type is
    sent); None when the list cannot be told (`*`), which counts as plain. PostgreSQL reports a no-op CAST as the
    column itself, so this is decided on the T-SQL, not on what PostgreSQL describes."""
    if not isinstance(tree, exp.Select) or any(isinstance(e, exp.Star) for e in tree.expressions):
        return None
    return [isinstance(e.unalias(), exp.Column) for e in tree.expressions]


class _DayEndTimeLoader(TimeLoader):
    """PostgreSQL's `time` holds 24:00:00, which Python's cannot: loaded as a timedelta of one day, so that the
    fixture can send a time past the end of the day as an engine that rounds 23:59:59.9999999 up does."""

    def load(self, data):
        if bytes(data).startswith(b"24:00:00"):
            return timedelta(days=1)
        return super().load(data)


class Engine:
    """One client session's connection to the backing database."""

    def __init__(self, conninfo: dict):
        self.conn = psycopg.connect(**conninfo, autocommit=True)
        self.conn.adapters.register_loader("time", _DayEndTimeLoader)
        # dbo is every login's default schema on SQL Server: unqualified names resolve there.
        self.conn.execute("SET TimeZone = 'UTC'; SET search_path = dbo, public")
        self._declared = {}
        # Catalog lookups happen while a result streams on `conn`, so they need a connection of their own.
        self.catalog = psycopg.connect(**conninfo, autocommit=True)

    def close(self):
        self.conn.close()
        self.catalog.close()

    def declared(self, relid: int, attnum: int):
        key = (relid, attnum)
        if key not in self._declared:
            row = self.catalog.execute(
                "SELECT type_name, max_length, precision, scale FROM tsql.columns WHERE relid = %s AND attnum = %s",
                key).fetchone()
            self._declared[key] = None if row is None else _declared_from_catalog(*row)
        return self._declared[key]

    def execute(self, tsql: str, params: list):
        """Runs one statement; returns (columns [(name, Declared)], cursor) or (None, rowcount)."""
        names = [p[0].lower() for p in params]
        sql, plain = translate(tsql, names, [p[2] if len(p) > 2 else None for p in params])
        cur = psycopg.RawCursor(self.conn)
        rows = cur.stream(sql, [p[1] for p in params], size=2000)
        try:
            first = next(rows, None)
        except psycopg.errors.UndefinedTable as e:
            raise SqlError(208, f"Invalid object name ({e.diag.message_primary}).") from e
        except psycopg.errors.UndefinedColumn as e:
            raise SqlError(207, f"Invalid column name ({e.diag.message_primary}).") from e
        except psycopg.errors.InsufficientPrivilege as e:
            raise SqlError(229, f"The SELECT permission was denied ({e.diag.message_primary}).", 14) from e
        except psycopg.errors.SyntaxError as e:
            raise SqlError(102, f"Incorrect syntax ({e.diag.message_primary}).", 15) from e
        except psycopg.Error as e:
            raise SqlError(50000, f"statement failed: {e.diag.message_primary}") from e
        if cur.description is None:
            return None, max(cur.rowcount, 0)
        result = cur.pgresult
        columns = []
        for i, d in enumerate(cur.description):
            ty = None
            if result.ftable(i) and (plain is None or i >= len(plain) or plain[i]):
                ty = self.declared(result.ftable(i), result.ftablecol(i))
            columns.append((d.name, ty or from_postgres(result.ftype(i), result.fmod(i))))
        return columns, itertools.chain([] if first is None else [first], rows)


def _declared_from_catalog(name, max_length, precision, scale):
    if name in ("decimal", "numeric"):
        return Declared(f"{name}({precision},{scale})")
    if name in ("time", "datetime2", "datetimeoffset"):
        return Declared(f"{name}({scale})")
    if name in ("char", "varchar", "binary", "varbinary"):
        return Declared(f"{name}({'max' if max_length == -1 else max_length})")
    if name in ("nchar", "nvarchar"):
        return Declared(f"{name}({'max' if max_length == -1 else max_length // 2})")
    return Declared(name)

