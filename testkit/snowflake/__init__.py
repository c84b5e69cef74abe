"""The Snowflake peers for tests: fakesnow's server behind our protocol wrapper (server.py), run by the Python of
their own venv (requirements.txt says why it is apart; scripts/snowflake-peers.sh makes it)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
ACCOUNT, USER, PASSWORD, DATABASE = "TESTACCOUNT", "TESTER", "secret", "SHOP"


def peer_python() -> str:
    """The interpreter that has fakesnow and snowflake-connector-python."""
    given = os.environ.get("CONNECTOR_ACCEL_SNOWFLAKE_PYTHON")
    path = Path(given) if given else ROOT / ".venv-snowflake" / "bin" / "python"
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run scripts/snowflake-peers.sh (makes the Snowflake peers' venv)")
    return str(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One wrapped fakesnow server on a loopback port; `options` are server.py's flags."""

    def __init__(self, *options: str):
        self.port = free_port()
        python = peer_python()  # first: a missing peers' venv must not leave the log file open behind its error
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [python, "-m", "testkit.snowflake.server", "--port", str(self.port), "--account", ACCOUNT,
             "--user", USER, "--password", PASSWORD, *options],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the fakesnow server did not start: {self.output()}") from None
                time.sleep(0.1)

    def output(self) -> str:
        """What the server printed (its errors)."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def sql(self, *statements: str, database: str = DATABASE, schema: str | None = "PUBLIC") -> list:
        """Runs setup statements on the emulated database; the rows of the last one, as text."""
        body = json.dumps({"database": database, "schema": schema, "sql": list(statements)}).encode()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/testkit/sql", body, timeout=120) as r:
                return json.loads(r.read())["rows"]
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{e}: {e.read().decode(errors='replace')[:2000]}") from None

    def counts(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/testkit/counts", timeout=10) as r:
            return json.loads(r.read())

    def configuration(self, **extra: str) -> dict:
        """A seed-000-style configuration for this server (plain http is accepted for loopback only)."""
        return {"snowflake_user": USER, "snowflake_password": PASSWORD, "snowflake_account": ACCOUNT,
                "snowflake_warehouse": "WH", "snowflake_database": DATABASE, "snowflake_schema": "PUBLIC",
                "host": "127.0.0.1", "port": str(self.port), "protocol": "http", **extra}

    @classmethod
    def shop(cls, *options: str) -> Server:
        """A server holding the empty database SHOP with its schema PUBLIC, which the configuration names."""
        server = cls(*options)
        try:
            server.sql("CREATE DATABASE IF NOT EXISTS SHOP", database=None, schema=None)
            server.sql("CREATE SCHEMA IF NOT EXISTS SHOP.PUBLIC", schema=None)
        except Exception:
            server.stop()
            raise
        return server

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
