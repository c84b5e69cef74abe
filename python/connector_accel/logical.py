"""Change data capture for `update_method=logical`: each sync catches up on the log and exits.

At the start of a sync `Source.open_replication` makes the publication and the slot ready (created before any
load reads, so every load's snapshot is no older than the slot) and moves the slot to the position the state we
were handed back names: that state is durable, so the slot never lets go of a change no checkpoint covered. The
catch-up then reads the slot's changes up to the log position taken then, in commit order, and emits them:
insert/update -> `op.upsert`, an update that left an unchanged TOASTed value out -> `op.update` with the columns
it carries, delete -> `op.delete`, truncate -> `op.truncate`. The position goes into the state at transaction
boundaries; a sync killed at any point re-emits at most what followed its last checkpoint (upserts and deletes
applied again in order converge).

Tables loaded in full in this sync (new ones, and after a gap or a schema change) are read after the catch-up:
changes between the slot's position and a load's snapshot are in both, and the next sync replays them on top of
the load in commit order, which converges.
"""
from fivetran_connector_sdk import Logging as log
from fivetran_connector_sdk import Operations as op

from connector_accel import emit
from connector_accel import state as st

MB = 1024 * 1024


class Catchup:
    """One sync's catch-up on the log, and what it decided about each table."""

    def __init__(self, source, tables: list, state: dict):
        self.source, self.state = source, state
        self.by_name = {(t["schema"], t["table"]): t for t in tables}
        self.slot = source.replication_slot
        self.replicated: set = set()  # (schema, table) the log carries
        self.partitions: dict = {}
        self.events = 0

    def run(self, opened: dict | None = None) -> None:
        """The catch-up; `opened`: the slot's status when `update_method=auto` opened it to decide (no position
        in the state then, so the same call as here)."""
        after = st.replication_position(self.state, self.slot)
        status = opened if opened is not None else self.source.open_replication(after)
        _log_all(self.source.take_log())
        self._say(status)
        self.replicated = {tuple(t) for t in status["tables"]}
        self.partitions = status["partitions"]
        self._forget_unreadable(status)
        if status["gap"] is not None or after is None:
            after = None
        reader = self.source.read_changes(sorted(self.replicated), status["upto"], after=after)
        self._emit(reader)
        self._retained(status)

    def _say(self, status: dict) -> None:
        made = " (created now: it holds every change from here on)" if status["created"] else ""
        log.info(f"logical replication: slot {status['slot']}{made}, publication {status['publication']}; "
                 f"reading changes up to {status['upto']}")
        for schema, table, why in status["excluded"]:
            log.warning(f"{schema}.{table}: not replicated from the log: {why}. It is synced as update_method=cursor "
                        "syncs it (by its cursor, or in full every sync)")
        for warning in status["warnings"]:
            log.warning(warning)

    def _forget_unreadable(self, status: dict) -> None:
        """Tables whose destination the log cannot bring up to date: after a gap in the slot, all of them; a table
        whose partitions changed (ATTACH/DETACH PARTITION moves rows without a change in the log)."""
        for key in self.replicated:
            name = st.table_key(*key)
            entry = self.state["tables"].get(name)
            if not entry or not st.reads_from_log(entry, self.slot):
                continue
            qualified = f"{key[0]}.{key[1]}"
            if status["gap"] is not None:
                log.warning(f"{qualified}: {status['gap']}; the table is loaded again in full (re-snapshot) and "
                            "its rows the source no longer holds are marked deleted")
                st.forget(entry)
            elif entry.get("partitions", "") != self.partitions.get(qualified, entry.get("partitions", "")):
                log.warning(f"{qualified}: its partitions changed (ATTACH or DETACH PARTITION moves rows without a "
                            "change in the log); the table is loaded again in full")
                st.forget(entry)

    def _emit(self, reader) -> None:
        every, since = 10_000, 0
        with reader:
            for batch in reader:
                _log_all(reader.take_log())  # a retry's lines as it happens, not at the end
                for warning in batch["warnings"]:
                    log.warning(warning)
                for schema, table, why in batch["resync"]:
                    self._resync(schema, table, why)
                for kind, schema, table, row, _lsn in batch["changes"]:
                    self._apply(kind, schema, table, row)
                since += len(batch["changes"])
                self.events += len(batch["changes"])
                if batch["committed"] is not None:
                    st.record_replication(self.state, self.slot, batch["committed"])
                    if since >= every:
                        op.checkpoint(self.state)
                        since = 0
            _log_all(reader.take_log())
        op.checkpoint(self.state)
        log.info(f"logical replication: {self.events:,} change events applied, up to "
                 f"{st.replication_position(self.state, self.slot)}")

    def _apply(self, kind: str, schema: str, table: str, row: dict) -> None:
        if kind == "upsert":
            found = self.by_name.get((schema, table))
            soft, keys = (found["soft_delete"], found["primary_key"]) if found else (None, [])
            emit.emit_row(table, schema, row, soft, keys)
        elif kind == "update":
            op.update(table, row, schema=schema)
        elif kind == "delete":
            op.delete(table, row, schema=schema)
        elif kind == "truncate":
            op.truncate(table, schema=schema)

    def _resync(self, schema: str, table: str, why: str) -> None:
        log.warning(f"{schema}.{table}: {why}; the table is loaded again in full after the catch-up")
        entry = self.state["tables"].get(st.table_key(schema, table))
        if entry is not None:
            st.forget(entry)

    def _retained(self, status: dict) -> None:
        retained = status["retained_bytes"]
        if retained is None:
            return
        limit = self.source.wal_retained_warn_mb
        text = (f"slot {status['slot']} retains {retained / MB:,.1f} MB of WAL on the server; this sync's position "
                "is acknowledged at the start of the next sync, once its checkpoint is durable")
        if retained > limit * MB:
            log.warning(f"{text}: above wal_retained_warn_mb={limit}. Sync more often, or drop the slot "
                        f"(SELECT pg_drop_replication_slot('{status['slot']}');) if this connection is gone")
        else:
            log.info(text)

    def replicates(self, table: dict) -> bool:
        return (table["schema"], table["table"]) in self.replicated

    def reads_from_log(self, table: dict, entry: dict) -> bool:
        """Whether `table` takes its changes from the log this sync (no read of its own)."""
        return (table["schema"], table["table"]) in self.replicated and st.reads_from_log(entry, self.slot)

    def finish_load(self, table: dict, entry: dict) -> None:
        """A replicated table's full load is done: its changes come from the log from now on."""
        if (table["schema"], table["table"]) in self.replicated:
            st.finish_logical(entry, self.slot, self.partitions.get(f"{table['schema']}.{table['table']}", ""))


def _log_all(pairs) -> None:
    for level, message in pairs:
        (log.warning if level == "WARNING" else log.info)(message)
