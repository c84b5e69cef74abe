"""`update_method=auto`: logical replication where the server and the login allow it, else cursor, decided ONCE per
connection and kept in the state (`{"update_method": {"method", "why", "at"}}`).

The first sync whose state holds no decision tries exactly what `update_method=logical` does at its start (the
server decodes its log, the publication exists or this login creates it, the slot exists or this login creates it):
when that succeeds the connection is logical, and the slot it made holds every change from then on; when one of
those checks fails it is cursor, said in one warning with the reason and the fix. Nothing is left behind by a check
that failed (the publication made for a slot that could not be made is dropped again).

Later syncs keep the decision, whatever the server does meanwhile:
- logical stays logical: a server or login that no longer allows it fails the sync, loudly, as logical does; a
  silent switch to cursor would silently stop capturing deletes.
- cursor stays cursor until the user sets `update_method=logical`: the switch loads every table again in full (a
  load consistent with the new slot), which is the user's call, not a side effect of a DBA's change. Each such sync
  says so, and warns when the server has meanwhile become able to decode its log.

What is decided, recorded and said is the core's (`catchup.rs`'s `auto_*`, through `_core`), the same the Partner
SDK server uses, so that a connection keeps its decision and its lines under either door; this module calls the
source and logs.
"""
import json

from fivetran_connector_sdk import Logging as log

from connector_accel import _core
from connector_accel import state as st
from connector_accel._core import ConfigurationError

KEY = _core.AUTO_KEY


def method(source, state: dict) -> tuple[str, dict | None]:
    """The method this sync runs (`cursor` or `logical`) and, when the decision was made now by opening the slot,
    the slot's status (the catch-up goes on from it rather than opening it again)."""
    if source.update_method != "auto":
        return source.update_method, None
    recorded = json.dumps(state.get(KEY))
    has_position = st.replication_position(state, source.replication_slot) is not None
    step, logical, recheck, why = _core.auto_start(recorded, has_position, source.replication_slot, source.kind)
    if step == "kept":
        _say(*_core.auto_kept_line(recorded, recheck and _logical_possible(source)))
        return _name(logical), None
    if step == "decided":
        _decide(state, logical, why)
        return _name(logical), None
    try:
        status = source.open_replication(None)
    except ConfigurationError as e:
        refused = _core.auto_opened(e)
        if refused is None:  # not one of the checks: the sync fails with it, as logical's would
            raise
        _decide(state, False, refused)
        return "cursor", None
    _decide(state, True, _core.auto_opened())
    return "logical", status


def _name(logical: bool) -> str:
    return "logical" if logical else "cursor"


def _logical_possible(source) -> bool:
    """A kept cursor's check: whether the server now decodes its log (a refusal is the ordinary answer)."""
    try:
        source.check_logical()
    except ConfigurationError:
        return False
    return True


def _decide(state: dict, logical: bool, why: str) -> None:
    state[KEY] = _core.auto_record(logical, why)
    _say(*_core.auto_decided_line(logical, why))


def _say(warn: bool, line: str) -> None:
    if warn:
        log.warning(line)
    else:
        log.info(line)
