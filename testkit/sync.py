"""Driving the connector as `fivetran debug` does: the Connector SDK's own in-process runner writing a real DuckDB
warehouse."""
import json
import socket
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _quiet_memory_tracker():
    """The SDK's debug runner starts a memory tracker per update() that never stops (its stop() is a no-op) and
    prints one "connector process memory usage" line at interpreter exit: in a test process with many in-process
    syncs, dozens of lines after pytest's summary. Here it still enforces the limit during each sync, then stops and
    reports nothing; `fivetran debug` itself (one sync per process) keeps the SDK's own tracker and its line."""
    from fivetran_connector_sdk_cli import connector as sdk_connector

    base = sdk_connector.DebugMemoryTracker
    if getattr(base, "in_process", False):
        return

    class InProcessTracker(base):
        in_process = True

        def start(self):
            self.atexit_registered = True  # the SDK's start() then registers no exit report
            super().start()

        def stop(self, timeout=3.0):
            self.active = False  # ends the sampling thread

    sdk_connector.DebugMemoryTracker = InProcessTracker


def run_sync(project: Path, configuration: dict, state: dict = None):
    """One sync through the Connector SDK's own in-process runner (what `fivetran debug` runs), into
    project/files/warehouse.db. Returns the final state."""
    from connector_accel import sdk
    from fivetran_connector_sdk import Connector

    sdk._SOURCES.clear()  # a new sync is a new process in production: discover afresh
    return run_sync_of(Connector(update=sdk.update, schema=sdk.schema), project, state, configuration)


def run_sync_of(connector, project: Path, state: dict | None = None, configuration: dict | None = None) -> dict:
    """One sync of an SDK `connector` through the SDK's in-process runner into project/files/warehouse.db; the
    final state."""
    from fivetran_connector_sdk import Logging
    from fivetran_connector_sdk_cli import core_adapter
    from fivetran_connector_sdk_common import constants

    _quiet_memory_tracker()
    constants.DEBUGGING = True  # as `fivetran debug` sets them before it runs a connector
    Logging.LOG_LEVEL = Logging.Level.INFO
    core_adapter.run(connector, str(project), configuration or {}, state or {})
    state_file = project / "files" / "state.json"
    return json.loads(state_file.read_text()) if state_file.exists() else {}


def count_operations(monkeypatch, table: str | None = None) -> dict:
    """Counts the calls of `op.upsert` and `op.delete` (of `table` only, when given) through `monkeypatch`, so
    they end with it: how many rows went through the SDK's public operations instead of the fast emit path."""
    from fivetran_connector_sdk import Operations

    calls = {"upsert": 0, "delete": 0}
    for name in calls:
        original = getattr(Operations, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            if table is None or (args[0] if args else kwargs.get("table")) == table:
                calls[_name] += 1
            return _original(*args, **kwargs)
        monkeypatch.setattr(Operations, name, staticmethod(counted))
    return calls


def sync_alongside(project: Path, configuration: dict, task, state: dict | None = None) -> dict:
    """One sync (as `run_sync`, from `state`) while `task(done)` runs in a thread, `done` being a threading.Event
    set when the sync ends: for faults injected during a read. Returns the final state."""
    import threading

    done = threading.Event()
    thread = threading.Thread(target=task, args=(done,))
    thread.start()
    try:
        return run_sync(project, configuration, state)
    finally:
        done.set()
        thread.join()


def warehouse(project: Path):
    return duckdb.connect(str(project / "files" / "warehouse.db"), read_only=True)


def warehouse_contents(project: Path, schema: str) -> dict:
    """Every table of `schema` in the warehouse: its column types and its rows in order, without the sync time
    (`_fivetran_synced`), so that two syncs of the same data compare equal."""
    db = warehouse(project)
    found = {}
    tables = [t for (t,) in db.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
                                       "ORDER BY 1", [schema]).fetchall()]
    for table in tables:
        types = db.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? "
                           "AND table_name = ? AND column_name <> '_fivetran_synced' ORDER BY 1", [schema, table]).fetchall()
        columns = ", ".join(f'"{c}"' for c, _ in types)
        rows = db.execute(f'SELECT {columns} FROM "{schema}"."{table}" ORDER BY ALL').fetchall()
        found[table] = (types, rows)
    return found

