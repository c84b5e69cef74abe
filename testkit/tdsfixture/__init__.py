"""A SQL Server stand-in for the test suite (test fixture, not a product): a TDS 7.4 server whose queries really run
on PostgreSQL. See server.py for what it speaks and engine.py for how T-SQL is executed."""
from .certs import self_signed_context  # noqa: F401
from .engine import create_table, translate  # noqa: F401
from .server import TdsServer  # noqa: F401
