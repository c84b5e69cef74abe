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
"""
from datetime import datetime, timezone

from fivetran_connector_sdk import Logging as log

from connector_accel import state as st
from connector_accel._core import ConfigurationError

KEY = "update_method"
# The configuration keys of the checks logical makes at the start of a sync: their failure means "not possible here".
CHECKS = {"update_method", "publication", "replication_slot"}


def method(source, state: dict) -> tuple[str, dict | None]:
    """The method this sync runs (`cursor` or `logical`) and, when the decision was made now by opening the slot,
    the slot's status (the catch-up goes on from it rather than opening it again)."""
    if source.update_method != "auto":
        return source.update_method, None
    recorded = state.get(KEY)
    if isinstance(recorded, dict) and recorded.get("method") in ("cursor", "logical"):
        _say_kept(source, recorded)
        return recorded["method"], None
    slot = source.replication_slot
    if st.replication_position(state, slot) is not None:
        _decide(state, "logical", f"this connection already reads slot {slot} (its state holds a log position)")
        return "logical", None
    if source.kind != "postgres":
        _decide(state, "cursor", f"logical replication is PostgreSQL's only; this source is {source.kind}")
        return "cursor", None
    try:
        status = source.open_replication(None)
    except ConfigurationError as e:
        key = getattr(e, "key", None)
        if key not in CHECKS:
            raise
        _decide(state, "cursor", str(e).removeprefix(f"configuration key '{key}': "))
        return "cursor", None
    _decide(state, "logical", "wal_level is logical and this login may use the publication and the slot")
    return "logical", status


def _decide(state: dict, chosen: str, why: str) -> None:
    state[KEY] = {"method": chosen, "why": why, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if chosen == "logical":
        log.info("update_method=auto: logical for this connection (recorded in the state: later syncs keep it, and "
                 f"one whose server no longer allows it fails rather than switching to cursor), because {why}")
    else:
        log.warning("update_method=auto: cursor for this connection (recorded in the state: later syncs keep it); "
                    "rows deleted in the source are seen only by delete_reconciliation_hours. To capture deletes, "
                    "key changes and truncates from the log, make logical possible and set update_method=logical "
                    f"(every table is then loaded again once). Not logical because {why}")


def _say_kept(source, recorded: dict) -> None:
    text = f"update_method=auto: {recorded['method']}, as decided on {recorded.get('at')} (because {recorded.get('why')})"
    if recorded["method"] == "logical":
        log.info(text)
        return
    if source.kind == "postgres":
        try:
            source.check_logical()
        except ConfigurationError:
            pass
        else:
            log.warning(f"{text}; the server now decodes its log (wal_level = logical): set update_method=logical "
                        "to capture deletes, key changes and truncates (every table is loaded again once; the sync "
                        "says what a DBA must still grant, if anything). auto keeps cursor until you do")
            return
    log.info(text)
