"""`schema()` and `update()` for the Fivetran Connector SDK, on top of the Rust core.

Rust plans, reads (partitions in parallel on one snapshot), converts and flattens; this module declares the
tables, hands each ready row to `op.upsert` (or `op.delete` for a soft-deleted row) and checkpoints positions of
rows already handed over, so a rerun continues where it stopped.

State (one JSON object)::

    {"version": 2, "pass": N, "pass_open": bool, "preprocessed_pass": N, "last_completed_at": ISO time,
     "tables": {"schema.table": {
         "phase": "full" | "incremental",
         "pass": N,                      # the pass in which the table last finished
         "cursor": column | null,
         "plan": {..., "partitions": [{"lo", "hi", "after"}]},   # while a full load runs
         "mark": {"high", "guard"},      # where the next incremental read starts
         "pending": {"high", "guard"},   # the watermark taken before the running read; becomes "mark"
         "after": [...]}}}               # position of the running incremental read
"""
import time
from datetime import datetime, timezone

from fivetran_connector_sdk import Logging as log
from fivetran_connector_sdk import Operations as op

from connector_accel import metadata
from connector_accel._core import Source

# One source per configuration per process: schema() and update() run in the same process, and update() must see
# the very tables and flattened columns that schema() declared.
_SOURCES: dict = {}
PROGRESS_SECONDS = 30


def source_for(configuration: dict):
    key = tuple(sorted((str(k), str(v)) for k, v in (configuration or {}).items()))
    if key not in _SOURCES:
        _SOURCES[key] = Source(configuration or {})
    return _SOURCES[key]


def declaration(table: dict) -> dict:
    """A table as `schema()` declares it."""
    entry = {"table": table["table"], "schema": table["schema"], "columns": table["columns"]}
    if table["primary_key"]:
        entry["primary_key"] = table["primary_key"]
    return entry


def schema(configuration: dict) -> list:
    source = source_for(configuration)
    tables, _ = source.discover()
    return [declaration(t) for t in tables] + metadata.declarations(source)


def _log_all(pairs) -> None:
    for level, message in pairs:
        (log.warning if level == "WARNING" else log.info)(message)


def update(configuration: dict, state: dict):
    source = source_for(configuration)
    for warning in source.warnings:
        log.warning(warning)
    tables, warnings = source.discover()
    for warning in warnings:
        log.warning(warning)
    state = _open_pass(dict(state or {}))
    _preprocess(source, state)
    if source.source_metadata:
        metadata.emit_catalog(tables)
    log.info("sync plan (smallest first): " + ", ".join(
        f"{t['schema']}.{t['table']} ~{t['row_estimate'] or 0} rows" for t in tables) if tables else "no tables selected")
    for table in tables:
        TableSync(source, table, state).run()
    state["pass_open"] = False
    state["last_completed_at"] = datetime.now(timezone.utc).isoformat()
    op.checkpoint(state)


def _open_pass(state: dict) -> dict:
    """Starts a new pass unless the last one was interrupted; converts a version 1 state."""
    tables = state.setdefault("tables", {})
    if state.get("version") != 2:
        # Version 1 kept only the pass in progress: {"after": key} or {"done": true} per table.
        for name, entry in list(tables.items()):
            if entry.get("after"):
                tables[name] = {"phase": "full", "cursor": None, "plan": {"partitions": [
                    {"lo": None, "hi": None, "after": entry["after"]}]}}
            else:
                tables[name] = {"phase": "full", "cursor": None, "pass": 1}
        state["version"], state["pass"], state["pass_open"] = 2, 1 if tables else 0, bool(tables)
    if not state.get("pass_open"):
        state["pass"] = int(state.get("pass", 0)) + 1
        state["pass_open"] = True
    return state


def _preprocess(source: Source, state: dict) -> None:
    if state.get("preprocessed_pass") == state["pass"]:
        return
    values = {k: str(v) for k, v in state.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}
    changed = source.preprocess(values)
    _log_all(source.take_log())
    if changed is not None:
        log.info(f"preprocessing changed {changed} rows")
        state["preprocessed_pass"] = state["pass"]
        op.checkpoint(state)


def is_deleted(value) -> bool:
    """A soft-delete column's value marks a deleted row when set: true, non-zero, or any timestamp."""
    return value is not None and value is not False and value != 0 and value != ""


class TableSync:
    """One table in one pass: a resumable full load (partitioned) or an incremental read."""

    def __init__(self, source: Source, table: dict, state: dict):
        self.source, self.table, self.state = source, table, state
        self.schema, self.name = table["schema"], table["table"]
        self.qualified = f"{self.schema}.{self.name}"
        self.entry = state["tables"].setdefault(self.qualified, {})
        self.rows = self.deletes = self.since_checkpoint = 0  # rows read; of them, rows deleted
        self.started = self.last_progress = time.monotonic()

    def run(self) -> None:
        entry = self.entry
        if entry.get("pass") == self.state["pass"]:
            log.info(f"{self.qualified}: already synced in this pass, skipped")
            return
        cursor = self.table["cursor"]
        if cursor is None and "plan" not in entry:
            log.info(f"{self.qualified}: read in full every sync, because {self.table['cursor_reason']}")
        if entry.get("phase") == "incremental" and entry.get("cursor") == cursor and cursor is not None:
            phase = "incremental"
            self._incremental()
        else:
            phase = "full"
            self._full_load(cursor)
        upserted = self.rows - self.deletes
        if self.source.sync_validation:
            metadata.emit_validation(self.table, self.state["pass"], phase, upserted, self.deletes,
                                     time.monotonic() - self.started)
        op.checkpoint(self.state)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        log.info(f"{self.qualified}: {phase} done, {upserted:,} rows upserted, {self.deletes:,} deleted "
                 f"in {elapsed:.1f}s ({self.rows / elapsed:,.0f} rows/s)")

    def _full_load(self, cursor):
        entry = self.entry
        if entry.get("phase") != "full" or "plan" not in entry or entry.get("cursor") != cursor:
            # The watermark comes before the plan and the read, so changes made during the load are at or after it.
            pending = self.source.watermark(self.schema, self.name) if cursor else None
            plan = self.source.plan(self.schema, self.name)
            _log_all(self.source.take_log())
            entry.clear()
            entry.update({"phase": "full", "cursor": cursor, "plan": plan, "pending": _mark(pending)})
            log.info(f"{self.qualified}: plan tier={plan['tier']} ~{self.table['row_estimate'] or 0} rows, "
                     f"{len(plan['partitions'])} partitions, {plan['workers']} workers, batch {plan['batch_size']}, "
                     f"queue {plan['queue_depth']}, checkpoint every {plan['checkpoint_rows']:,} rows")
        else:
            log.info(f"{self.qualified}: resuming the full load where the last run stopped")
        plan = entry["plan"]
        parts = plan["partitions"]
        reader = self.source.read(self.schema, self.name, partitions=parts, batch_size=plan.get("batch_size"),
                                  workers=plan.get("workers"), queue_depth=plan.get("queue_depth"))
        every = plan.get("checkpoint_rows", 100_000)

        def position(r):
            if r.last_key is not None:
                parts[r.last_partition]["after"] = r.last_key

        self._emit(reader, position, every)
        pending = entry.get("pending")
        entry.clear()
        entry.update({"phase": "incremental" if cursor else "full", "cursor": cursor, "pass": self.state["pass"]})
        if cursor:
            entry["mark"] = pending or {"high": None, "guard": None}

    def _incremental(self):
        entry = self.entry
        if "pending" not in entry:
            mark = self.source.watermark(self.schema, self.name)
            _log_all(self.source.take_log())
            if mark and not mark["sees_all"]:
                log.warning(f"{self.qualified}: this login cannot see other sessions' transactions "
                            "(grant pg_read_all_stats); late commits are covered by the look-back window only")
            entry["pending"], entry["after"] = _mark(mark), None
            log.info(f"{self.qualified}: incremental read from {entry['mark'].get('high')} "
                     f"(oldest open writer then: {entry['mark'].get('guard')})")
        reader = self.source.read(self.schema, self.name, after=entry.get("after"), incremental=entry["mark"])

        def position(r):
            entry["after"] = r.last_key

        self._emit(reader, position, self.table["checkpoint_rows"])
        entry["mark"] = entry.pop("pending") or entry["mark"]
        entry.pop("after", None)
        entry["pass"] = self.state["pass"]

    def _emit(self, reader, position, every) -> None:
        """Hands every row over, then records the position; checkpoints only positions already handed over."""
        upsert, delete, schema_name, table_name = op.upsert, op.delete, self.schema, self.name
        soft, keys = self.table["soft_delete"], self.table["primary_key"]
        with reader:
            for batch in reader:
                if soft is None:
                    for row in batch:
                        upsert(table_name, row, schema=schema_name)
                else:
                    for row in batch:
                        if is_deleted(row.get(soft)):
                            delete(table_name, {k: row[k] for k in keys}, schema=schema_name)
                            self.deletes += 1
                        else:
                            upsert(table_name, row, schema=schema_name)
                self.rows += len(batch)
                self.since_checkpoint += len(batch)
                position(reader)
                for warning in reader.take_warnings():
                    log.warning(warning)
                _log_all(reader.take_log())
                if self.since_checkpoint >= every:
                    op.checkpoint(self.state)
                    self.since_checkpoint = 0
                    self._progress()
                elif time.monotonic() - self.last_progress >= PROGRESS_SECONDS:
                    self._progress()
            _log_all(reader.take_log())

    def _progress(self) -> None:
        now = time.monotonic()
        self.last_progress = now
        done, estimate = self.rows, self.table["row_estimate"] or 0
        rate = done / max(now - self.started, 1e-9)
        if estimate > done and rate > 0:
            eta = (estimate - done) / rate
            log.info(f"{self.qualified}: {done:,} rows ({100 * done / estimate:.0f}% of ~{estimate:,}), "
                     f"{rate:,.0f} rows/s, ETA {eta / 60:.1f} min")
        else:
            log.info(f"{self.qualified}: {done:,} rows, {rate:,.0f} rows/s")


def _mark(watermark):
    return None if watermark is None else {"high": watermark["high"], "guard": watermark["guard"]}
