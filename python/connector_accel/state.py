"""The connector's resumable state (version 2): pure functions over the one JSON object the SDK checkpoints.
Nothing here talks to a database or to the SDK, so every transition is tested without a server.

State::

    {"version": 2, "pass": N, "pass_open": bool, "preprocessed_pass": N, "last_completed_at": ISO time,
     "tables": {"schema.table": {
         "phase": "full" | "incremental",
         "pass": N,                      # the pass in which the table last finished
         "cursor": column | null,
         "plan": {..., "partitions": [{"lo", "hi", "after"}]},   # while a full load runs
         "mark": {"high", "guard"},      # where the next incremental read starts
         "pending": {"high", "guard"},   # the watermark taken before the running read; becomes "mark"
         "after": [...],                 # position of the running incremental read
         "identity": {"schema", "table", "id", "columns", "key"},  # the table last synced (see remember_identity)
         "reconciled_at": ISO time,      # the last completed delete reconciliation
         "reload": true}}}               # forgotten (see forget): the destination holds rows of it

Glossary: a *pass* is one complete round over the selected tables (an interrupted pass is resumed, not restarted);
the *mark* is the cursor value the next incremental read starts from; *pending* is the watermark taken before a
read, which becomes the mark only once that read has finished.
"""
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, TypedDict

VERSION = 2


class Mark(TypedDict):
    high: str | None
    guard: str | None


# The shapes, for readers and type checkers ("pass" is a keyword, hence the functional form). The functions below
# take the plain dicts the SDK hands over.
TableState = TypedDict("TableState", {
    "phase": Literal["full", "incremental"],
    "pass": int,                 # the pass in which the table last finished
    "cursor": str | None,
    "plan": dict[str, Any],      # Source.plan(), partitions carrying "after", while a full load runs
    "shape": str,                # the columns and key the plan was made for (shape_of)
    "mark": Mark,                # where the next incremental read starts
    "pending": Mark | None,      # the watermark taken before the running read; becomes "mark"
    "after": list[str] | None,   # position of the running incremental read
    "identity": dict[str, Any],  # the table as last synced: remember_identity
    "reconciled_at": str,        # when its deletes were last reconciled
    "reload": bool,              # forgotten: the destination holds rows of it (forget)
}, total=False)

SyncState = TypedDict("SyncState", {
    "version": int,
    "pass": int,
    "pass_open": bool,
    "preprocessed_pass": int,
    "last_completed_at": str,
    "tables": dict[str, TableState],
}, total=False)


def open_pass(given: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of `given` with a pass open: a new one unless the last was interrupted; a version 1 state converted."""
    state: dict[str, Any] = dict(given or {})
    tables = state.setdefault("tables", {})
    if state.get("version") != VERSION:
        # Version 1 kept only the pass in progress: {"after": key} or {"done": true} per table.
        for name, entry in list(tables.items()):
            if entry.get("after"):
                tables[name] = {"phase": "full", "cursor": None, "plan": {"partitions": [
                    {"lo": None, "hi": None, "after": entry["after"]}]}}
            else:
                tables[name] = {"phase": "full", "cursor": None, "pass": 1}
        state["version"], state["pass"], state["pass_open"] = VERSION, 1 if tables else 0, bool(tables)
    if not state.get("pass_open"):
        state["pass"] = int(state.get("pass", 0)) + 1
        state["pass_open"] = True
    return state


def close_pass(state: dict, now: datetime) -> None:
    state["pass_open"] = False
    state["last_completed_at"] = now.isoformat()


def table_entry(state: dict, qualified: str) -> dict:
    return state["tables"].setdefault(qualified, {})


def done_in_pass(entry: dict, state: dict) -> bool:
    """Whether the table already finished in the open pass (a resumed pass skips it)."""
    return entry.get("pass") == state["pass"]


def reads_incrementally(entry: dict, cursor: str | None) -> bool:
    """An incremental read needs a finished full load on the same cursor."""
    return cursor is not None and entry.get("phase") == "incremental" and entry.get("cursor") == cursor


def shape_of(table: Mapping[str, Any]) -> str:
    """A short fingerprint of a table's columns (names and source types) and primary key, as discovered: a load
    planned for one shape must not be resumed on another."""
    text = json.dumps({"columns": table["source_types"], "key": table["primary_key"]}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def full_load_planned(entry: dict, cursor: str | None, shape: str | None = None) -> bool:
    """Whether a full load on `cursor` is under way for a table of this `shape`, so that it resumes with its own
    plan and positions. A state written before shapes were recorded resumes as it did."""
    same_shape = shape is None or entry.get("shape", shape) == shape
    return entry.get("phase") == "full" and "plan" in entry and entry.get("cursor") == cursor and same_shape


def shape_changed(entry: dict, shape: str) -> bool:
    """Whether an interrupted full load was planned for another shape of the table."""
    return entry.get("phase") == "full" and "plan" in entry and entry.get("shape", shape) != shape


def mark_of(watermark: Mapping[str, Any] | None) -> Mark | None:
    return None if watermark is None else {"high": watermark["high"], "guard": watermark["guard"]}


def begin_full(entry: dict, cursor: str | None, plan: Mapping[str, Any], watermark: Mapping[str, Any] | None,
               shape: str | None = None) -> None:
    """A new full load: its plan, the table's shape, and the watermark taken before it (rows changed during it are
    at or after it)."""
    kept = _lasting(entry)
    entry.clear()
    entry.update({"phase": "full", "cursor": cursor, "plan": plan, "pending": mark_of(watermark), **kept})
    if shape is not None:
        entry["shape"] = shape


def record_partition(entry: dict, partition: int, last_key: list | None, rows: int | None = None) -> None:
    """The position of the last row of `partition` handed to the destination, and how many rows it has handed over
    up to it (what a resumed load counts from)."""
    if last_key is not None:
        part = entry["plan"]["partitions"][partition]
        part["after"] = last_key
        if rows is not None:
            part["rows"] = part.get("rows", 0) + rows


def resumed_rows(entry: dict) -> int | None:
    """Rows an interrupted full load already handed over before the positions it resumes after; None when its
    state predates the counts (then progress says "since resume")."""
    parts = [p for p in entry["plan"]["partitions"] if p.get("after") is not None]
    if any("rows" not in p for p in parts):
        return None
    return sum(p["rows"] for p in parts)


def finish_full(entry: dict, state: dict) -> None:
    """The full load is done: with a cursor the table reads incrementally from the pending watermark."""
    cursor, pending, kept = entry.get("cursor"), entry.get("pending"), _lasting(entry)
    entry.clear()
    entry.update({"phase": "incremental" if cursor else "full", "cursor": cursor, "pass": state["pass"], **kept})
    if cursor:
        entry["mark"] = pending or {"high": None, "guard": None}


def begin_incremental(entry: dict, watermark: Mapping[str, Any] | None) -> bool:
    """Takes the watermark for this incremental read unless a read is already under way; True when it did."""
    if "pending" in entry:
        return False
    entry["pending"], entry["after"] = mark_of(watermark), None
    return True


def record_incremental(entry: dict, last_key: list | None) -> None:
    entry["after"] = last_key


def finish_incremental(entry: dict, state: dict) -> None:
    """The read is done: its watermark becomes the mark (an empty table keeps the old one)."""
    entry["mark"] = entry.pop("pending") or entry["mark"]
    entry.pop("after", None)
    entry["pass"] = state["pass"]


def preprocess_due(state: dict) -> bool:
    return state.get("preprocessed_pass") != state["pass"]


def preprocess_values(state: dict) -> dict:
    """The state's scalar values, as text, for preprocessing statements' `{name}` parameters."""
    return {k: str(v) for k, v in state.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}


def preprocessed(state: dict) -> None:
    state["preprocessed_pass"] = state["pass"]


# -- What outlives a load: the table's identity and its last delete reconciliation.

LASTING = ("identity", "reconciled_at")


def _lasting(entry: dict) -> dict:
    return {k: entry[k] for k in LASTING if k in entry}


def identity_of(table: Mapping[str, Any]) -> dict:
    """What says the table is the one last synced: its names, the source's own id for it (OID, object_id), its
    columns with their source types, and its key."""
    return {"schema": table["schema"], "table": table["table"], "id": table.get("identity"),
            "columns": dict(table["source_types"]), "key": list(table["primary_key"])}


def remember_identity(entry: dict, table: Mapping[str, Any]) -> None:
    entry["identity"] = identity_of(table)


def identity_change(entry: Mapping[str, Any], table: Mapping[str, Any]) -> str:
    """Why `table` is not the table the state last synced ('' when it is, or when the state predates identities):
    dropped and created again, columns added, removed or retyped (a rename is one removed and one added), or another
    key."""
    known = entry.get("identity")
    if not known:
        return ""
    now = identity_of(table)
    if known.get("id") and now["id"] and known["id"] != now["id"]:
        return f"it was dropped and created again (id {known['id']}, now {now['id']})"
    before, after = known.get("columns", {}), now["columns"]
    changes = [f"{label} {', '.join(names)}" for label, names in (
        ("added", [c for c in after if c not in before]),
        ("removed", [c for c in before if c not in after]),
        ("retyped", [f"{c} ({before[c]} -> {after[c]})" for c in after if c in before and before[c] != after[c]]))
        if names]
    if known.get("key", now["key"]) != now["key"]:
        changes.append(f"key {known.get('key')} -> {now['key']}")
    return f"its columns changed ({'; '.join(changes)})" if changes else ""


def forget(entry: dict) -> None:
    """The table starts over with a full load; its identity is replaced when that load finishes. The entry says
    `reload`: the destination holds rows of the table, so its load is not one that starts with a truncate."""
    entry.clear()
    entry["reload"] = True


def starts_with_truncate(entry: Mapping[str, Any]) -> bool:
    """Whether the table's full load sends its truncate before its first row instead of running the key pass after
    its last: only for an empty entry, a table this state never loaded (a first sync, a reset state, a gone table
    found again), whose destination holds none of the rows this state sent. Every row the source holds is upserted
    after that truncate, so whatever the destination held before ends marked deleted, as the key pass would mark it,
    for half the records; a sync killed after a checkpoint shows the rows not yet read again as deleted until the
    load resumes and ends. A table the destination holds (an entry, even a forgotten one) keeps the key pass, so
    that a sync that dies leaves every live row live. A resumed load has a plan in its entry, so it never truncates
    again: it runs the key pass at its end, which marks the rows deleted between the kill and the resume."""
    return not entry


def vanished(state: Mapping[str, Any], present: set) -> list[tuple[str, dict]]:
    """(state key, identity) of each table the state synced that `present` ((schema, table) pairs) no longer holds.
    Entries from before identities were recorded are left alone: their key alone does not say which table they are."""
    gone = []
    for name, entry in state.get("tables", {}).items():
        known = entry.get("identity")
        if known and (known["schema"], known["table"]) not in present:
            gone.append((name, known))
    return gone


def reconciliation_due(entry: Mapping[str, Any], hours: float | None, now: datetime) -> bool:
    """Whether a table read by cursor reconciles its deletes this sync: on when `hours` is set, due when that long
    has passed since the last reconciliation (at once if there was none; every sync for 0)."""
    if hours is None:
        return False
    last = entry.get("reconciled_at")
    if not last:
        return True
    try:
        return (now - datetime.fromisoformat(last)).total_seconds() >= hours * 3600
    except (TypeError, ValueError):
        return True


def reconciled(entry: dict, now: datetime) -> None:
    entry["reconciled_at"] = now.isoformat()
def table_key(schema: str, table: str) -> str:
    """The table's key in `tables`: "schema.table" when neither name holds a dot or a double quote (the key every
    state so far used, so those states still load), else both names quoted as SQL quotes them ("a"."b.c"), which no
    plain pair spells. a."b.c" and "a.b".c once shared the key "a.b.c", so the second was "already synced in this
    pass" and never landed; an old entry under such a key is left unused, and the table loads again in full."""
    if not any(c in name for name in (schema, table) for c in '."'):
        return f"{schema}.{table}"
    return ".".join('"' + name.replace('"', '""') + '"' for name in (schema, table))


# -- Logical replication: {"replication": {"slot": name, "lsn": pg_lsn text}} at the top, and per table
# "phase": "logical" once its full load is done (its changes then come from the log), with "partitions".

def replication_position(state: Mapping[str, Any], slot: str) -> str | None:
    """The log position this state's checkpoints made durable for `slot` (None for another slot or none)."""
    rep = state.get("replication") or {}
    return rep.get("lsn") if rep.get("slot") == slot else None


def record_replication(state: dict, slot: str, lsn: str | None) -> None:
    """Every change up to `lsn` has been handed over (a checkpoint of this state makes it durable)."""
    if lsn is not None:
        state["replication"] = {"slot": slot, "lsn": lsn}


def reads_from_log(entry: Mapping[str, Any], slot: str) -> bool:
    """A table whose full load finished after `slot` was reading: the log carries all its changes since."""
    return entry.get("phase") == "logical" and entry.get("slot") == slot


def finish_logical(entry: dict, slot: str, partitions: str | None) -> None:
    """The full load is done; from now on its changes come from `slot` (its partitions as they were then)."""
    entry["phase"], entry["slot"] = "logical", slot
    entry.pop("cursor", None)
    if partitions is not None:
        entry["partitions"] = partitions
