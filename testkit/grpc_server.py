"""The Partner SDK server as Fivetran runs it, for tests: `python -m connector_accel serve` in its own process on a
free loopback port, its JSON log lines collected, and a grpcio client over stubs generated from our .proto files."""
import json
import subprocess
import sys
import threading
import time

import grpc

from testkit import grpc_stubs
from testkit.sync import ROOT, free_port


def as_configuration(config: dict) -> dict[str, str]:
    """A connection configuration as the protocol carries it: `map<string, string>`, every value its text."""
    return {k: str(v) for k, v in config.items()}


class Server:
    def __init__(self, source: str = "postgres"):
        self.port = free_port()
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "connector_accel", "serve", "--port", str(self.port), "--source", source],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.stubs = grpc_stubs.load()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        grpc.channel_ready_future(self.channel).result(timeout=60)
        self.client = self.stubs.connector_sdk_grpc.SourceConnectorStub(self.channel)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def logs(self) -> list[dict]:
        """Every line the server printed, parsed: each must be one JSON object."""
        return [json.loads(line) for line in list(self.lines)]

    def update(self, configuration: dict, state: dict | None = None, selection=None) -> list:
        sdk = self.stubs.connector_sdk
        request = sdk.UpdateRequest(configuration=configuration)
        if state is not None:
            request.state_json = json.dumps(state)
        if selection is not None:
            request.selection.CopyFrom(selection)
        return list(self.client.Update(request, timeout=300))

    def kill(self) -> None:
        self.channel.close()
        self.process.kill()
        self.process.wait(timeout=30)
        self._close()

    def _close(self) -> None:
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def stop(self) -> None:
        self.channel.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self._close()


def wait_for(predicate, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition did not hold in time")
        time.sleep(0.05)
