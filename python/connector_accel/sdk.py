"""`schema()` and `update()` for the Fivetran Connector SDK, on top of the Rust core.

Rust plans, reads (partitions in parallel on one snapshot), converts and flattens; this module declares the
tables, hands each ready row to `op.upsert` (or `op.delete` for a soft-deleted row) and checkpoints positions of
rows already handed over, so a rerun continues where it stopped.

Deletes the rows do not show are found by key: after every full read, and on the schedule
`delete_reconciliation_hours` sets for tables read by cursor, `op.truncate` and then one key-only `op.update` per key
the source holds, with no checkpoint between them, so that the runner applies them together: the destination's
rows whose key was not confirmed are the ones marked deleted, and a sync that dies before that checkpoint leaves
nothing of them behind (see TableSync._reconcile). A table this state never loaded sends its truncate before its
first row instead, and no key pass (`state.starts_with_truncate`).

The state's shape and every transition of it live in `connector_accel.state`.
"""
import time
from datetime import datetime, timezone

from fivetran_connector_sdk import Logging as log
from fivetran_connector_sdk import Operations as op

from connector_accel import auto, emit, logical, metadata, naming
from connector_accel import state as st
from connector_accel._core import Source

# One source per configuration per process: schema() and update() run in the same process, and update() must see
# the very tables and flattened columns that schema() declared.
_SOURCES: dict = {}
PROGRESS_SECONDS = 30


def _key(configuration: dict) -> tuple:
    return tuple(sorted((str(k), str(v)) for k, v in (configuration or {}).items()))


def source_for(configuration: dict):
    key = _key(configuration)
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
    naming.check(tables)
    return [declaration(t) for t in tables] + metadata.declarations(source)


def _warn_future(qualified: str, mark) -> None:
    if mark and mark.get("future"):
        log.warning(f"{qualified}: {mark['future']:,} rows have a cursor value after the server's clock; the mark stops "
                    "at the clock, so they are read again every sync until their time comes (check them for typos)")


def _log_all(pairs) -> None:
    for level, message in pairs:
        (log.warning if level == "WARNING" else log.info)(message)


def update(configuration: dict, state: dict):
    try:
        _sync(configuration, state)
    finally:
        # The next sync discovers afresh; until then a long-lived process keeps no session of this configuration.
        source = _SOURCES.pop(_key(configuration), None)
        if source is not None:
            source.close()


def _sync(configuration: dict, state: dict):
    source = source_for(configuration)
    for warning in source.warnings:
        log.warning(warning)
    tables, warnings = source.discover()
    for warning in warnings:
        log.warning(warning)
    state = st.open_pass(state)
    _preprocess(source, state)
    if source.source_metadata:
        metadata.emit_catalog(tables)
    log.info("sync plan (smallest first): " + ", ".join(
        f"{t['schema']}.{t['table']} ~{t['row_estimate'] or 0} rows" for t in tables) if tables else "no tables selected")
    _say_gone(tables, state)
    policy = emit.Policy(source.emit)
    catchup = None
    method, opened = auto.method(source, state)
    if method == "logical":
        catchup = logical.Catchup(source, tables, state)
        catchup.run(opened)
    for table in tables:
        TableSync(source, table, state, policy, catchup).run()
    st.close_pass(state, datetime.now(timezone.utc))
    op.checkpoint(state)


def _say_gone(tables: list, state: dict) -> None:
    """A table the state synced that discovery no longer finds: said by name, and its rows marked deleted (the source
    holds none of them now); its state goes, so that a table of that name found later is loaded afresh."""
    for name, known in st.vanished(state, {(t["schema"], t["table"]) for t in tables}):
        log.warning(f"{known['schema']}.{known['table']}: gone from the source (dropped or renamed) or no longer "
                    "selected; its rows in the destination are marked deleted (_fivetran_deleted). A renamed table "
                    "is loaded in full under its new name; select this one again to load it back")
        op.truncate(known["table"], schema=known["schema"])
        del state["tables"][name]


def _preprocess(source: Source, state: dict) -> None:
    if not st.preprocess_due(state):
        return
    changed = source.preprocess(st.preprocess_values(state))
    _log_all(source.take_log())
    if changed is not None:
        log.info(f"preprocessing changed {changed} rows")
        st.preprocessed(state)
        op.checkpoint(state)



class TableSync:
    """One table in one pass: a resumable full load (partitioned) or an incremental read."""

    def __init__(self, source: Source, table: dict, state: dict, policy: emit.Policy,
                 catchup: "logical.Catchup | None" = None):
        self.source, self.table, self.state, self.policy = source, table, state, policy
        self.catchup = catchup
        self.schema, self.name = table["schema"], table["table"]
        self.qualified = f"{self.schema}.{self.name}"
        self.entry = st.table_entry(state, st.table_key(self.schema, self.name))
        self.rows = self.deletes = self.since_checkpoint = 0  # rows read; of them, rows deleted
        self.resumed: int | None = 0  # rows an interrupted load had handed over (None: not known)
        self.keys: int | None = None  # keys confirmed by delete reconciliation, when it ran
        self.truncated_at: datetime | None = None  # when a load that starts with a truncate sent it
        self.started = self.last_progress = time.monotonic()

    def run(self) -> None:
        entry = self.entry
        if st.done_in_pass(entry, self.state):
            log.info(f"{self.qualified}: already synced in this pass, skipped")
            return
        fresh = st.starts_with_truncate(entry)
        changed = st.identity_change(entry, self.table)
        if changed:
            log.warning(f"{self.qualified}: {changed} since the last sync; it is read again in full, and its rows the "
                        "source no longer holds are marked deleted")
            st.forget(entry)
        if self.catchup is not None and self.catchup.reads_from_log(self.table, entry):
            entry["pass"] = self.state["pass"]
            st.remember_identity(entry, self.table)
            op.checkpoint(self.state)
            log.info(f"{self.qualified}: its changes came from the log (logical replication)")
            return
        replicated = self.catchup is not None and self.catchup.replicates(self.table)
        cursor = None if replicated else self.table["cursor"]
        if cursor is None and "plan" not in entry and not replicated:
            log.info(f"{self.qualified}: read in full every sync, because {self.table['cursor_reason']}")
        if st.reads_incrementally(entry, cursor):
            phase = "incremental"
            self._incremental()
        else:
            phase = "full"
            self._full_load(cursor, fresh)
        now = datetime.now(timezone.utc)
        hours = self.source.delete_reconciliation_hours
        if self.truncated_at is not None:
            st.reconciled(entry, self.truncated_at)
        elif phase == "full" or st.reconciliation_due(entry, hours, now):
            self._reconcile()
            st.reconciled(entry, now)
        if replicated and self.catchup is not None:
            self.catchup.finish_load(self.table, entry)
        st.remember_identity(entry, self.table)
        upserted = self.rows - self.deletes
        if self.source.sync_validation:
            metadata.emit_validation(self.table, self.state["pass"], phase, upserted, self.deletes,
                                     time.monotonic() - self.started)
        op.checkpoint(self.state)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        keyless = "" if self.table["primary_key"] else " (no primary key: identical rows land as one, by row hash)"
        checked = "" if self.keys is None else f", and rows not among its {self.keys:,} keys marked deleted"
        if self.truncated_at is not None:
            checked = ", after a truncate (the destination's rows of it not sent again are marked deleted)"
        log.info(f"{self.qualified}: {phase} done, {upserted:,} rows upserted{keyless}, {self.deletes:,} deleted"
                 f"{checked} in {elapsed:.1f}s ({self.rows / elapsed:,.0f} rows/s)")
        if self.keys is None and self.truncated_at is None and not replicated:
            self._say_deletes_missed(hours)

    def _say_deletes_missed(self, hours: float | None) -> None:
        """Once per sync: a table read by cursor whose deletes this sync did not look for."""
        if hours is None:
            log.warning(f"{self.qualified}: rows deleted in the source stay live in the destination (a read by cursor "
                        f"'{self.table['cursor']}' cannot see deletes); set delete_reconciliation_hours (e.g. 24) to "
                        "mark them deleted by a key-only scan")
        else:
            log.info(f"{self.qualified}: deletes since {self.entry.get('reconciled_at')} are marked at the next delete "
                     f"reconciliation (every {hours:g} h, delete_reconciliation_hours)")

    def _reconcile(self) -> None:
        """Marks deleted the destination's rows whose key the source no longer holds, by what the runner does with
        a truncate (the rows synced before it are marked deleted) and an update (the row it finds gets this sync's
        time and is live): `op.truncate`, then every key the source holds as a key-only `op.update`, read by a
        key-only scan (`Table::keys_only`; a table without a key sends whole rows, its key being their hash). No
        checkpoint comes between: the runner writes the truncate with those updates, in one transaction, at the
        table's closing checkpoint, and a sync that dies before it leaves them unwritten (the next sync does it
        again), so a live row is never marked deleted. A key inserted after the rows were read confirms nothing
        (an update finds no row), and its row comes with the next read."""
        plan = self.source.plan(self.schema, self.name)
        _log_all(self.source.take_log())
        started, self.keys = time.monotonic(), 0
        op.truncate(self.name, schema=self.schema)
        reader = self.source.read(self.schema, self.name, partitions=plan["partitions"], batch_size=plan["batch_size"],
                                  workers=plan["workers"], queue_depth=plan["queue_depth"], keys_only=True)
        self._emit(reader, None, 0, update=True)
        elapsed = max(time.monotonic() - started, 1e-9)
        log.info(f"{self.qualified}: delete reconciliation read {self.keys:,} keys in {elapsed:.1f}s "
                 f"({self.keys / elapsed:,.0f} keys/s); rows whose key is not among them are marked deleted")

    def _truncate_first(self) -> None:
        """A load that starts with a truncate (`state.starts_with_truncate`): `op.truncate` before the first row, so
        that the rows the destination held before and this load does not send end marked deleted, with no key pass."""
        op.truncate(self.name, schema=self.schema)
        self.truncated_at = datetime.now(timezone.utc)
        log.info(f"{self.qualified}: first load of this table by this state: a truncate before its first row marks "
                 "deleted whatever the destination held of it and this load does not send (no key pass after it)")

    def _full_load(self, cursor, fresh: bool = False):
        entry = self.entry
        shape = st.shape_of(self.table)
        if st.shape_changed(entry, shape):
            log.warning(f"{self.qualified}: its columns or primary key changed since the interrupted load began; "
                        "the table is loaded again from the start")
        if not st.full_load_planned(entry, cursor, shape):
            # The watermark comes before the plan and the read, so changes made during the load are at or after it.
            pending = self.source.watermark(self.schema, self.name) if cursor else None
            _warn_future(self.qualified, pending)
            plan = self.source.plan(self.schema, self.name)
            _log_all(self.source.take_log())
            st.begin_full(entry, cursor, plan, pending, shape)
            log.info(f"{self.qualified}: plan tier={plan['tier']} ~{self.table['row_estimate'] or 0} rows, "
                     f"{len(plan['partitions'])} partitions, {plan['workers']} workers, batch {plan['batch_size']}, "
                     f"queue {plan['queue_depth']}, checkpoint every {plan['checkpoint_rows']:,} rows")
            if fresh:
                self._truncate_first()
        else:
            self.resumed = st.resumed_rows(entry)
            done = "" if self.resumed is None else f", after the {self.resumed:,} rows it had loaded"
            log.info(f"{self.qualified}: resuming the full load where the last run stopped{done}")
        plan = entry["plan"]
        parts = plan["partitions"]
        reader = self.source.read(self.schema, self.name, partitions=parts, batch_size=plan.get("batch_size"),
                                  workers=plan.get("workers"), queue_depth=plan.get("queue_depth"))
        every = plan.get("checkpoint_rows", 100_000)

        def position(r, rows):
            st.record_partition(entry, r.last_partition, r.last_key, rows)

        self._emit(reader, position, every)
        st.finish_full(entry, self.state)

    def _incremental(self):
        entry = self.entry
        if "pending" not in entry:
            mark = self.source.watermark(self.schema, self.name)
            _log_all(self.source.take_log())
            _warn_future(self.qualified, mark)
            if mark and not mark["sees_all"]:
                log.warning(f"{self.qualified}: this login cannot see other sessions' transactions "
                            "(grant pg_read_all_stats); late commits are covered by the look-back window only")
            st.begin_incremental(entry, mark)
            log.info(f"{self.qualified}: incremental read from {entry['mark'].get('high')} "
                     f"(oldest open writer then: {entry['mark'].get('guard')})")
        reader = self.source.read(self.schema, self.name, after=entry.get("after"), incremental=entry["mark"])

        def position(r, rows):
            st.record_incremental(entry, r.last_key)

        self._emit(reader, position, self.table["checkpoint_rows"])
        st.finish_incremental(entry, self.state)

    def _emit(self, reader, position, every, update: bool = False) -> None:
        """Hands every batch over, then records the position; checkpoints only positions already handed over.
        `update` sends delete reconciliation's keys, counted apart, with no position and no checkpoint."""
        fast = emit.FastTable(self.policy, self.table, update) if self.policy.on else None
        with reader:
            while True:
                done = fast.next(reader) if fast is not None and self.policy.on else self._emit_dicts(reader, update)
                if done is None:
                    break
                rows, deletes = done
                if update:
                    self.keys = (self.keys or 0) + rows
                else:
                    self.rows += rows
                    self.deletes += deletes
                    self.since_checkpoint += rows
                    position(reader, rows)
                for warning in reader.take_warnings():
                    log.warning(warning)
                _log_all(reader.take_log())
                if not update and self.since_checkpoint >= every:
                    op.checkpoint(self.state)
                    self.since_checkpoint = 0
                    self._progress()
                elif time.monotonic() - self.last_progress >= PROGRESS_SECONDS:
                    self._progress()
            _log_all(reader.take_log())

    def _emit_dicts(self, reader, update: bool = False):
        """The next batch through the SDK's public operations; (rows, deletes), or None at the end."""
        with emit.gc_paused():
            batch = next(reader, None)
            if batch is None:
                return None
            upsert, schema_name, table_name = op.update if update else op.upsert, self.schema, self.name
            soft, keys = self.table["soft_delete"], self.table["primary_key"]
            if soft is None:
                for row in batch:
                    upsert(table_name, row, schema=schema_name)
                deletes = 0
            else:
                deletes = sum(emit.emit_row(table_name, schema_name, row, soft, keys, update) for row in batch)
            count = len(batch)
            del batch
        return count, deletes

    def _progress(self) -> None:
        """Rows so far against the estimate; after a resume, counted from the rows the interrupted load had handed
        over (or "since resume" when its state did not count them), the rate being this run's."""
        now = time.monotonic()
        self.last_progress = now
        rate = self.rows / max(now - self.started, 1e-9)
        if self.resumed is None:
            log.info(f"{self.qualified}: {self.rows:,} rows since resume, {rate:,.0f} rows/s")
            return
        done, estimate = self.resumed + self.rows, self.table["row_estimate"] or 0
        since = f", {self.rows:,} since resume" if self.resumed else ""
        if estimate > done and rate > 0:
            eta = (estimate - done) / rate
            log.info(f"{self.qualified}: {done:,} rows ({100 * done / estimate:.0f}% of ~{estimate:,}{since}), "
                     f"{rate:,.0f} rows/s, ETA {eta / 60:.1f} min")
        else:
            log.info(f"{self.qualified}: {done:,} rows{since}, {rate:,.0f} rows/s")

