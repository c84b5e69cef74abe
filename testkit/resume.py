"""What a resumed load wrote: the warehouse's `_fivetran_synced` tells the rows a run wrote from those written
before it, and a saved state's partitions tell which rows a resume still has to read. A run that completes ends
with the key pass of delete reconciliation, which touches every live row's `_fivetran_synced` too; for such a run
the table's closing log line says how many rows it upserted (`upserted_by`)."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from testkit.sync import ROOT, warehouse


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


def mid_table(state_file: Path, table: str) -> bool:
    """Whether the saved state holds a position inside `table`'s full load."""
    try:
        entry = json.loads(state_file.read_text())["tables"][table]
    except (OSError, ValueError, KeyError):
        return False
    return any(p.get("after") for p in entry.get("plan", {}).get("partitions", []))


def killed_mid_table(project: Path, config: dict, table: str, timeout: float = 120):
    """`fivetran debug` of our connector.py with `config` in `project`, SIGKILLed at its first checkpoint inside
    `table`'s full load. Returns the saved state and the command (with its environment) that reruns the sync."""
    (project / "connector.py").write_text((ROOT / "connector.py").read_text())
    (project / "requirements.txt").write_text("")
    (project / "configuration.json").write_text(json.dumps(config))
    command = [str(Path(sys.executable).parent / "fivetran"), "debug", "--configuration", "configuration.json"]
    env = dict(os.environ, DO_NOT_TRACK="1")
    state_file = project / "files" / "state.json"
    proc = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if mid_table(state_file, table):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the sync finished before it could be killed; raise the row count"
    return json.loads(state_file.read_text()), command, env
