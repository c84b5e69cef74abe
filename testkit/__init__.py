"""Test helpers (tests and benchmarks only, never shipped): an embedded PostgreSQL, the SDK's runner, and a TDS
test server backed by PostgreSQL (`testkit.tdsfixture`)."""
from testkit import embedded_pg
from testkit.embedded_pg import connection_config, conninfo, runner
from testkit.sync import ROOT, count_operations, free_port, run_sync, sync_alongside, warehouse, warehouse_contents

__all__ = ["ROOT", "connection_config", "conninfo", "count_operations", "embedded_pg", "free_port", "run_sync",
           "runner", "sync_alongside", "warehouse", "warehouse_contents"]
