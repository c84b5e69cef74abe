"""Names that would collide in the destination, found before anything is written.

Fivetran renames every schema, table and column on its own (lower case, words split by underscores, other
characters replaced) and does not resolve collisions: two source tables or columns that rename alike would be
merged into one destination table or column, silently. The rules are the SDK's own
(`fivetran_connector_sdk_core.renaming`, the naming `fivetran debug` applies); without them, only exact collisions
are checked.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from connector_accel._core import ConfigurationError

# The destination's own columns: a source column renamed to one of these would lose its values to it.
SYSTEM_COLUMNS = ("_fivetran_deleted", "_fivetran_synced", "_fivetran_id")


def _rules() -> tuple[Callable[[str], str], Callable[[str], str], Callable[[str], str]]:
    try:
        from fivetran_connector_sdk_core import renaming
    except ImportError:
        return (lambda s: s), (lambda s: s), (lambda s: s)
    namer = renaming.Renaming(True)
    return (lambda s: namer.schema(s, "d")), namer.table, namer.column


def _error(key: str, message: str) -> ConfigurationError:
    error = ConfigurationError(f"configuration key '{key}': {message}")
    error.key, error.sqlstate, error.number = key, None, None
    return error


def check(tables: list) -> None:
    """Raises one line naming both sources and the fix for the first collision among the selected tables."""
    schema_name, table_name, column_name = _rules()
    landing = defaultdict(list)
    for t in tables:
        landing[(schema_name(t["schema"]), table_name(t["table"]))].append(f"{t['schema']}.{t['table']}")
    for (_, destination), sources in landing.items():
        if len(sources) > 1:
            raise _error("exclude_tables", f"tables {' and '.join(sources)} would land in one destination table "
                         f"'{destination}' (Fivetran names them alike) and be merged; exclude all but one")
    for t in tables:
        qualified = f"{t['schema']}.{t['table']}"
        flattened = set(t["columns"]) - set(t["source_types"])
        by_name = defaultdict(list)
        for column in t["columns"]:
            by_name[column_name(column)].append(column)
        for destination, columns in by_name.items():
            if destination in SYSTEM_COLUMNS:
                raise _error("exclude_tables", f"table {qualified}: column '{columns[0]}' would land in the destination's "
                             f"own column {destination} and lose its values; rename it in the source or exclude the table")
            if len(columns) > 1:
                fix = "set flatten_json to false, " if flattened & set(columns) else ""
                raise _error("exclude_tables", f"table {qualified}: columns {' and '.join(repr(c) for c in columns)} would "
                             f"land in one destination column '{destination}' and keep only one value; {fix}rename one "
                             "in the source, or exclude the table")
