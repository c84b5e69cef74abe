"""How rows reach the Connector SDK.

The public path is `op.upsert` / `op.delete` per row, which encodes every value in Python (`encode_row_data`).
The fast path builds the SDK's own `Record` objects in Rust, already encoded, and hands them to the SDK's sink
under its producer lock, exactly as those operations do once they have encoded a row. It relies on SDK internals,
so it guards itself three ways:

1. it runs only when every name it uses exists in the installed SDK and means what it meant in the SDK it was
   built against (3.x; the cell prefixes are compared by value), else the sync uses the public path and says so
   once;
2. each table's first batch is also encoded by the SDK's own `encode_row_data` / `make_record`, and compared byte
   for byte (and key order); a difference logs one warning naming the table, column, declared type and both
   encodings, and the rest of the sync uses the public path;
3. any row whose values the Rust encoder does not reproduce with certainty is handed to the public path.

`emit=sdk` in the configuration turns the fast path off.
"""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fivetran_connector_sdk import Logging as log
from fivetran_connector_sdk import Operations as op

from connector_accel._core import RecordEncoder

# The SDK's cell prefixes this encoder writes (fivetran_connector_sdk_core.constants.CELL_*).
CELL_PREFIXES = {"CELL_NULL": 0, "CELL_SCALAR": 1, "CELL_JSON": 2, "CELL_BINARY": 3, "CELL_FLOAT": 4, "CELL_DOUBLE": 5}


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic collector paused while one batch is built, handed over and released. A batch is thousands of
    new dicts and records, none in a cycle; with the collector on, every 700 of them start a collection that walks
    the whole live batch (a fifth of the time). Pausing only while building would just defer that work: the batch
    must be gone before the collector runs again. The collector is left as it was."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def is_deleted(value) -> bool:
    """A soft-delete column's value marks a deleted row when set: true, non-zero, or any timestamp."""
    return value is not None and value is not False and value != 0 and value != ""


def emit_row(table: str, schema: str, row: dict, soft: str | None, keys: list, update: bool = False) -> int:
    """One row through the SDK's public operations; 1 when it was a delete. `update` sends it as `op.update` (a
    key confirmed by delete reconciliation) instead of `op.upsert`; a soft-deleted row is then left out, since the
    truncate before those updates marks it deleted already."""
    if soft is not None and is_deleted(row.get(soft)):
        if not update:
            op.delete(table, {k: row[k] for k in keys}, schema=schema)
        return 1
    (op.update if update else op.upsert)(table, row, schema=schema)
    return 0


class Internals:
    """The SDK internals the fast path uses, found and checked once per process."""

    def __init__(self):
        from fivetran_connector_sdk_cli import operations, records, runtime, type_coercion, wire
        from fivetran_connector_sdk_common import helpers
        from fivetran_connector_sdk_core import constants, model

        self.runtime, self.operations, self.wire, self.helpers = runtime, operations, wire, helpers
        self.encode_row_data, self.make_record = type_coercion.encode_row_data, records.make_record
        self.Record, self.RecordType, self.DataType = model.Record, model.RecordType, model.DataType
        for name, value in CELL_PREFIXES.items():
            if getattr(constants, name) != value:
                raise LookupError(f"constants.{name} is {getattr(constants, name)!r}, not {value}")
        for owner, name in [(runtime, "producer_lock"), (runtime, "current"), (operations, "_get_columns"),
                            (helpers, "_validate_table_name"), (helpers, "_validate_schema"), (wire, "text"),
                            (wire, "optional_text"), (self.RecordType, "UPSERT"), (self.RecordType, "UPDATE"),
                            (self.RecordType, "DELETE")]:
            getattr(owner, name)
        # Records are made as the dataclass __init__ makes them (fields set on a new instance): only while that is
        # all it does.
        if list(self.Record.__dataclass_fields__) != ["table", "type", "row_data", "schema"]:
            raise LookupError(f"Record has fields {list(self.Record.__dataclass_fields__)}")
        params = self.Record.__dataclass_params__
        if not (params.init and params.frozen) or hasattr(self.Record, "__post_init__") or hasattr(self.Record, "__slots__"):
            raise LookupError("Record is no longer a plain frozen dataclass")


_INTERNALS: Any = None


def internals() -> tuple[Internals | None, str]:
    """The checked internals, or None and why the fast path cannot run with this SDK."""
    global _INTERNALS
    if _INTERNALS is None:
        import fivetran_connector_sdk

        version = getattr(fivetran_connector_sdk, "__version__", "?")
        try:
            if not str(version).startswith("3."):
                raise LookupError(f"version {version}")
            _INTERNALS = Internals()
        except (ImportError, AttributeError, LookupError) as e:
            _INTERNALS = f"fivetran-connector-sdk {version} is not the 3.x the fast emit path was verified against ({e})"
    if isinstance(_INTERNALS, str):
        return None, _INTERNALS
    return _INTERNALS, ""


class Policy:
    """The fast path's state for one sync: on, or off with the reason (said once)."""

    def __init__(self, mode: str):
        self.off_reason = "" if mode == "auto" else "emit=sdk"
        if not self.off_reason:
            found, why = internals()
            if found is None:
                self.off_reason = why
        # Said once per sync, whichever path runs: Fivetran's production SDK lacks the internals, so a sync there
        # runs on op.upsert, and the log must not leave anyone to guess which figure applies.
        if self.on:
            log.info("emit path: fast (records encoded in Rust and handed to the open-source SDK's sink; each "
                     "table's first batch is checked against the SDK's own encoding)")
        else:
            log.info(f"emit path: op.upsert (the SDK's public operations): {self.off_reason}")

    @property
    def on(self) -> bool:
        return not self.off_reason

    def turn_off(self, reason: str) -> None:
        self.off_reason = reason


class FastTable:
    """One table's emission through records encoded in Rust, verified on its first batch. With `update`, rows go
    as UPDATE records (what `op.update` makes): delete reconciliation's key-only confirmations."""

    def __init__(self, policy: Policy, table: dict, update: bool = False):
        sdk, _ = internals()
        assert sdk is not None
        self.sdk, self.policy, self.update = sdk, policy, update
        self.kind = sdk.RecordType.UPDATE if update else sdk.RecordType.UPSERT
        self.schema, self.name = table["schema"], table["table"]
        self.soft, self.keys = table["soft_delete"], table["primary_key"]
        # What op.upsert checks on every call, checked once for the table.
        sdk.helpers._validate_table_name(self.name)
        sdk.helpers._validate_schema(self.schema)
        self.columns = sdk.operations._get_columns(self.schema, self.name)
        self.encoder = RecordEncoder(sdk.wire.text(self.name), sdk.wire.optional_text(self.schema), sdk.Record,
                                     self.kind, sdk.RecordType.DELETE,
                                     {k: int(v) for k, v in self.columns.items()}, self.soft, list(self.keys))
        self.verified = False

    def next(self, reader) -> tuple[int, int] | None:
        """Emits the reader's next batch; (rows, deletes), or None at the end."""
        if not self.verified:
            with gc_paused():
                return self._first(reader)
        with gc_paused():
            got = reader.next_records(self.encoder)
            if got is None:
                return None
            records, fallback, deletes = got
            self._hand_over(records)
            for row in fallback:
                deletes += emit_row(self.name, self.schema, row, self.soft, self.keys, self.update)
            count = len(records) + len(fallback)
            del records, fallback, got
        return count, deletes

    def _hand_over(self, records: list) -> None:
        if self.update:  # soft-deleted keys: the truncate before these updates marks them deleted already
            records = [r for r in records if r.type is not self.sdk.RecordType.DELETE]
        runtime = self.sdk.runtime
        with runtime.producer_lock:
            record = runtime.current().record
            for r in records:
                record(r)

    def _first(self, reader) -> tuple[int, int] | None:
        pairs = reader.next_records(self.encoder, checked=True)
        if pairs is None:
            return None
        self.verified = True
        difference = next(filter(None, (self._compare(row, ours) for row, ours in pairs if ours is not None)), None)
        deletes = 0
        if difference:
            log.warning(f"{self.schema}.{self.name}: {difference}; the rest of this sync goes through the SDK's "
                        "operations (emit=sdk does so always)")
            self.policy.turn_off(difference)
            for row, _ in pairs:
                deletes += emit_row(self.name, self.schema, row, self.soft, self.keys, self.update)
            return len(pairs), deletes
        self._hand_over([ours for _, ours in pairs if ours is not None])
        deletes = sum(1 for _, ours in pairs if ours is not None and ours.type == self.sdk.RecordType.DELETE)
        for row, ours in pairs:
            if ours is None:
                deletes += emit_row(self.name, self.schema, row, self.soft, self.keys, self.update)
        return len(pairs), deletes

    def _compare(self, row: dict, ours) -> str:
        """'' when our record is the SDK's own for `row`, else what differs."""
        sdk = self.sdk
        try:
            if self.soft is not None and is_deleted(row.get(self.soft)):
                data = sdk.encode_row_data(self.columns, {k: row[k] for k in self.keys})
                theirs = sdk.make_record(self.name, sdk.RecordType.DELETE, data, self.schema)
            else:
                theirs = sdk.make_record(self.name, self.kind, sdk.encode_row_data(self.columns, row), self.schema)
        except Exception as e:  # the SDK refuses a row we encoded: that is a difference too
            return f"the SDK refuses a row the fast emit path encoded ({type(e).__name__}: {e})"
        if type(theirs) is type(ours) and vars(theirs) == vars(ours) and list(vars(theirs)) == list(vars(ours)) \
                and list(theirs.row_data) == list(ours.row_data):
            return ""
        for column in dict.fromkeys([*theirs.row_data, *ours.row_data]):
            if theirs.row_data.get(column) != ours.row_data.get(column):
                declared = self.columns.get(column)
                declared = "undeclared" if declared is None else getattr(declared, "name", declared)
                return (f"column {column} ({declared}): the fast emit path encoded "
                        f"{ours.row_data.get(column)!r}, the SDK {theirs.row_data.get(column)!r}")
        return f"the record differs from the SDK's ({ours!r} vs {theirs!r})"
