from collections.abc import Awaitable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypedDict, final, overload

from typing_extensions import NotRequired

__version__: str

# The plain dicts that cross the boundary (JSON-friendly, so the connector's state can carry plans and marks).

class Decimal(TypedDict):
    type: Literal["DECIMAL"]
    precision: int
    scale: int

class TableInfo(TypedDict):
    """A discovered table, as `Source.discover()` lists it (smallest first)."""

    schema: str
    table: str
    tier: Literal["small", "medium", "large"]
    checkpoint_rows: int
    primary_key: list[str]
    row_estimate: int | None
    resumable: bool
    cursor: str | None
    cursor_reason: str | None
    soft_delete: str | None
    identity: str | None  # PostgreSQL's OID, SQL Server's object_id, Snowflake's creation time: another one means another table
    filtered: bool
    nullable: dict[str, bool]
    columns: dict[str, str | Decimal]  # Fivetran type names, flattened JSON columns included
    source_types: dict[str, str]

class Partition(TypedDict):
    """A key range: after `lo` (exclusive) up to `hi` (inclusive), keys as text; None is open. `after` is the
    position already emitted (resuming); `done` skips it."""

    lo: list[str] | None
    hi: list[str] | None
    after: NotRequired[list[str] | None]
    done: NotRequired[bool]

class TablePlan(TypedDict):
    tier: Literal["small", "medium", "large"]
    batch_size: int
    workers: int
    queue_depth: int
    checkpoint_rows: int
    partitions: list[Partition]

class Mark(TypedDict):
    """Where an incremental read starts: the cursor's last maximum, and the oldest open writer then (PostgreSQL)."""

    high: str | None
    guard: str | None

class Watermark(Mark):
    sees_all: bool
    future: int | None  # rows with a time cursor after the server's clock

class ConnectorAccelError(Exception):
    sqlstate: str | None
    number: int | None  # SQL Server's error number
    key: str | None

class ConfigurationError(ConnectorAccelError): ...
class SourceConnectionError(ConnectorAccelError): ...
class QueryError(ConnectorAccelError): ...
class ConversionError(ConnectorAccelError): ...
class ReaderClosedError(ConnectorAccelError): ...
class ReadInterruptedError(ConnectorAccelError): ...
class InternalError(ConnectorAccelError): ...

@final
class BatchReader:
    """Iterates over lists of row dicts, read and converted off the interpreter."""

    @property
    def last_key(self) -> list[str] | None: ...
    @property
    def last_partition(self) -> int | None: ...
    @property
    def rows_read(self) -> int: ...
    def take_warnings(self) -> list[str]: ...
    def take_log(self) -> list[tuple[str, str]]: ...
    def close(self) -> None: ...
    def next_records(self, encoder: RecordEncoder, checked: bool = False) -> Any: ...
    def __iter__(self) -> Iterator[list[dict[str, Any]]]: ...
    def __next__(self) -> list[dict[str, Any]]: ...
    def __aiter__(self) -> BatchReader: ...
    def __anext__(self) -> Awaitable[list[dict[str, Any]]]: ...
    def __enter__(self) -> BatchReader: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool: ...

@final
class Source:
    """A PostgreSQL, SQL Server or Snowflake source (SQL Server when the configuration has `mssql_server`, Snowflake
    when it names an account). Snapshots and queries are PostgreSQL-only, and preprocessing is not SQL Server's;
    asking another source for them raises ConfigurationError."""

    def __new__(cls, configuration: Mapping[str, Any]) -> Source: ...
    @property
    def kind(self) -> Literal["postgres", "sqlserver", "snowflake"]: ...
    @property
    def warnings(self) -> list[str]: ...
    @property
    def debug(self) -> bool: ...
    @property
    def emit(self) -> Literal["auto", "sdk"]: ...
    @property
    def delete_reconciliation_hours(self) -> float | None: ...
    @property
    def update_method(self) -> Literal["cursor", "logical", "auto"]: ...
    @property
    def replication_slot(self) -> str: ...
    @property
    def publication(self) -> str: ...
    @property
    def wal_retained_warn_mb(self) -> int: ...
    @property
    def sync_validation(self) -> bool: ...
    @property
    def source_metadata(self) -> bool: ...
    def take_log(self) -> list[tuple[str, str]]: ...
    def close(self) -> None: ...
    def discover(self) -> tuple[list[TableInfo], list[str]]: ...
    def plan(self, schema: str, table: str) -> TablePlan: ...
    def watermark(self, schema: str, table: str) -> Watermark | None: ...
    def preprocess(self, state: Mapping[str, str]) -> int | None: ...
    def read(
        self,
        schema: str,
        table: str,
        after: list[str] | None = None,
        partitions: Sequence[Partition] | None = None,
        incremental: Mark | None = None,
        batch_size: int | None = None,
        workers: int | None = None,
        queue_depth: int | None = None,
        snapshot: str | None = None,
        keys_only: bool = False,
    ) -> BatchReader: ...
    def read_arrow(
        self,
        schema: str,
        table: str,
        partitions: Sequence[Partition] | None = None,
        batch_size: int | None = None,
        snapshot: str | None = None,
    ) -> ArrowReader: ...
    def read_arrow_query(self, query: str, batch_size: int | None = None) -> ArrowReader: ...
    def export_snapshot(self) -> SnapshotHolder: ...
    def open_replication(self, after: str | None = None) -> SlotStatus: ...
    def check_logical(self) -> None: ...
    def read_changes(
        self, tables: Sequence[tuple[str, str]], upto: str, after: str | None = None, batch_size: int = 10000
    ) -> ChangeReader: ...

class SlotStatus(TypedDict):
    slot: str
    publication: str
    created: bool
    gap: str | None
    confirmed: str | None
    upto: str
    retained_bytes: int | None
    excluded: list[tuple[str, str, str]]
    partitions: dict[str, str]
    tables: list[tuple[str, str]]
    warnings: list[str]

class ChangeBatch(TypedDict):
    changes: list[tuple[Literal["upsert", "update", "delete", "truncate"], str, str, dict[str, Any], str]]
    committed: str | None
    resync: list[tuple[str, str, str]]
    warnings: list[str]

@final
class ChangeReader:
    """Batches of change events from the log, in commit order (see `Source.read_changes`)."""

    def __iter__(self) -> ChangeReader: ...
    def __next__(self) -> ChangeBatch: ...
    @property
    def events(self) -> int: ...
    def take_log(self) -> list[tuple[str, str]]: ...
    def close(self) -> None: ...
    def __enter__(self) -> ChangeReader: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool: ...

@final
class ArrowReader:
    """An Arrow stream: pass it to pyarrow.RecordBatchReader.from_stream, polars.from_arrow or duckdb."""

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any: ...
    def __aiter__(self) -> ArrowReader: ...
    def __anext__(self) -> Awaitable[ArrowBatch]: ...
    def take_log(self) -> list[tuple[str, str]]: ...
    @property
    def error(self) -> ConnectorAccelError | None: ...
    def close(self) -> None: ...

@final
class ArrowBatch:
    """One record batch: pass it to pyarrow.record_batch."""

    @property
    def num_rows(self) -> int: ...
    def __arrow_c_array__(self, requested_schema: Any = None) -> tuple[Any, Any]: ...

@final
class SnapshotHolder:
    @property
    def id(self) -> str: ...
    def close(self) -> None: ...
    def __enter__(self) -> SnapshotHolder: ...
    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool: ...

@final
class RecordEncoder:
    """One table's rows as the Connector SDK's `Record` objects (the fast emit path; see connector_accel.emit)."""

    def __new__(
        cls,
        table: str,
        schema: str | None,
        record: type,
        upsert: Any,
        delete: Any,
        declared: Mapping[str, int],
        soft_delete: str | None,
        keys: Sequence[str],
    ) -> RecordEncoder: ...

def _probe_cell(kind: str, value: Any, declared: int) -> tuple[Any, bytes | None]: ...

class FormField(TypedDict, total=False):
    name: str
    label: str
    description: str
    kind: Literal["text", "dropdown", "toggle"]
    required: bool
    placeholder: str | None
    secret: bool
    options: list[tuple[str, str]]

def form_fields(source: str) -> list[FormField]: ...

HAS_SERVER: bool

def serve(port: int = ..., source: str = "postgres") -> None: ...

# update_method=auto (the core's catchup::auto_*): the decision kept in state[AUTO_KEY], its record and its lines.
AUTO_KEY: str

class AutoDecision(TypedDict):
    method: Literal["cursor", "logical"]
    why: str
    at: str

def auto_start(
    recorded_json: str, has_position: bool, slot: str, kind: str
) -> tuple[Literal["kept", "decided", "open"], bool, bool, str]: ...
@overload
def auto_opened(error: None = None) -> str: ...
@overload
def auto_opened(error: BaseException) -> str | None: ...
def auto_record(logical: bool, why: str) -> AutoDecision: ...
def auto_decided_line(logical: bool, why: str) -> tuple[bool, str]: ...
def auto_kept_line(recorded_json: str, now_possible: bool) -> tuple[bool, str]: ...
