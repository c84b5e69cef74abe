"""What a resumed load wrote: the warehouse's `_fivetran_synced` tells the rows a run wrote from those written
before it, and a saved state's partitions tell which rows a resume still has to read. A run that completes ends
with the key pass of delete reconciliation, which touches every live row's `_fivetran_synced` too; for such a run
the table's closing log line says how many rows it upserted (`upserted_by`)."""
import re
from pathlib import Path

from testkit.sync import warehouse


def last_synced(project: Path, table: str):
    """The latest `_fivetran_synced` in the warehouse table `table` (None when it has no row): every row a later
    sync writes is synced after it."""
    return warehouse(project).execute(f"SELECT max(_fivetran_synced) FROM {table}").fetchone()[0]


def keys_synced_since(project: Path, table: str, key: str, since) -> list:
    """The `key` values (a SQL expression list) of the rows written to `table` after `since` (None: every row)."""
    where = "" if since is None else " WHERE _fivetran_synced > ?"
    rows = warehouse(project).execute(f"SELECT {key} FROM {table}{where}", [] if since is None else [since])
    return sorted(rows.fetchall())


def keys_left(partitions: list, keys: list, parse) -> list:
    """Of the source's `keys` (tuples), those a resumed load still has to read: in each saved partition's range
    (after `lo`, up to `hi`) and after its own saved position `after`. `parse` turns a saved key (text values) into
    a comparable tuple."""
    left = []
    for part in partitions:
        bounds = [parse(b) for b in (part.get("lo"), part.get("after")) if b]
        start = max(bounds) if bounds else None
        hi = parse(part["hi"]) if part.get("hi") else None
        left += [k for k in keys if (start is None or k > start) and (hi is None or k <= hi)]
    return sorted(left)


def upserted_by(log: str, table: str) -> int:
    """The rows the run whose output is `log` upserted into `table`, from its closing line (`... full done, N rows
    upserted ...`); the key pass's key-only updates are not among them."""
    found = re.findall(rf"{re.escape(table)}: \w+ done, ([\d,]+) rows upserted", log)
    assert found, f"no closing line for {table} in the run's output"
    return int(found[-1].replace(",", ""))
