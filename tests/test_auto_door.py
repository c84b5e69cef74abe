"""`connector_accel/auto.py`, the SDK connector's door to the core's `update_method=auto` (`catchup.rs`): which of
the source's refusals decide cursor and which fail the sync. The servers' outcomes are in tests/test_logical_auto.py;
here a stand-in source raises what `Source.open_replication` raises, to reach the refusals no test server gives."""
import pytest
from connector_accel import auto
from connector_accel._core import ConfigurationError
from fivetran_connector_sdk import Logging


class Refusing:
    """A PostgreSQL source with update_method=auto whose open_replication raises `error`."""

    kind, update_method, replication_slot = "postgres", "auto", "s"

    def __init__(self, error: Exception):
        self.error = error

    def open_replication(self, after):
        raise self.error


def refusal(key: str | None, message: str) -> ConfigurationError:
    e = ConfigurationError(f"configuration key '{key}': {message}")
    e.key = key  # type: ignore[attr-defined]  # as the binding's exceptions carry it
    return e


@pytest.fixture(autouse=True)
def logging(monkeypatch):
    monkeypatch.setattr(Logging, "LOG_LEVEL", Logging.Level.INFO)  # as the SDK's runner sets it


def test_a_refused_check_is_cursor_said_by_its_message(capfd):
    state: dict = {}
    assert auto.method(Refusing(refusal("publication", "creating it needs CREATE")), state) == ("cursor", None)
    assert state["update_method"]["method"] == "cursor"
    assert state["update_method"]["why"] == "creating it needs CREATE"
    said = capfd.readouterr().out  # one line, as JSON or as the runner's debug text (once a runner ran in-process)
    assert said.count("\n") == 1 and "WARNING" in said and "Not logical because creating it needs CREATE" in said


@pytest.mark.parametrize("error", [refusal("host", "no such host"), ConfigurationError("no key"), OSError("gone")])
def test_an_error_that_is_no_check_fails_the_sync_and_decides_nothing(error):
    state: dict = {}
    with pytest.raises(type(error)) as raised:
        auto.method(Refusing(error), state)
    assert raised.value is error and state == {}
