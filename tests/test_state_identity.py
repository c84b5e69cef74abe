"""The state's record of each table's identity and last delete reconciliation (connector_accel.state), without a
server: kept across loads, compared with what discovery finds, and absent from old states without harm."""
from datetime import datetime, timedelta, timezone

from connector_accel import state as st

TABLE = {"schema": "s", "table": "t", "identity": "16384", "source_types": {"id": "integer", "val": "text"},
         "primary_key": ["id"]}
NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


def test_the_identity_outlives_the_load_that_follows_it():
    state = st.open_pass({})
    entry = st.table_entry(state, "s.t")
    st.remember_identity(entry, TABLE)
    st.reconciled(entry, NOW)
    st.begin_full(entry, "updated_at", {"partitions": [{"lo": None, "hi": None}]}, None)
    assert entry["identity"]["id"] == "16384" and entry["reconciled_at"] == NOW.isoformat()
    st.finish_full(entry, state)
    assert entry["phase"] == "incremental" and entry["identity"]["columns"] == TABLE["source_types"]


def test_what_changed_is_named():
    entry = {"identity": st.identity_of(TABLE)}
    assert st.identity_change(entry, TABLE) == ""
    assert st.identity_change(entry, {**TABLE, "identity": "16391"}) == \
        "it was dropped and created again (id 16384, now 16391)"
    renamed = {**TABLE, "source_types": {"id": "integer", "label": "text", "n": "bigint"}}
    assert st.identity_change(entry, renamed) == "its columns changed (added label, n; removed val)"
    retyped = {**TABLE, "source_types": {"id": "bigint", "val": "text"}}
    assert st.identity_change(entry, retyped) == "its columns changed (retyped id (integer -> bigint))"
    assert "key ['id'] -> ['id', 'val']" in st.identity_change(entry, {**TABLE, "primary_key": ["id", "val"]})


def test_states_from_before_identities_load_and_are_not_judged():
    old = st.open_pass({"version": 2, "pass": 3, "pass_open": False,
                        "tables": {"s.t": {"phase": "incremental", "cursor": "u", "pass": 3, "mark": {}}}})
    entry = old["tables"]["s.t"]
    assert st.identity_change(entry, TABLE) == ""
    assert st.vanished(old, set()) == [], "an entry without an identity is not said gone by its key alone"
    assert st.reconciliation_due(entry, 24, NOW) and not st.reconciliation_due(entry, None, NOW)


def test_a_table_with_an_identity_that_discovery_misses_is_gone():
    state = {"tables": {"s.t": {"identity": st.identity_of(TABLE)}, "s.u": {}}}
    assert st.vanished(state, {("s", "t")}) == []
    assert [name for name, _ in st.vanished(state, {("s", "other")})] == ["s.t"]


def test_reconciliation_follows_its_schedule():
    entry = {}
    st.reconciled(entry, NOW)
    assert st.reconciliation_due(entry, 0, NOW)
    assert not st.reconciliation_due(entry, 24, NOW + timedelta(hours=23))
    assert st.reconciliation_due(entry, 24, NOW + timedelta(hours=24))
    assert st.reconciliation_due({"reconciled_at": "garbage"}, 24, NOW)


def test_only_a_table_this_state_never_loaded_starts_with_a_truncate():
    """As the server's state::starts_with_truncate and state::forget (state_tests.rs asserts the same of them)."""
    entry: dict = {}
    assert st.starts_with_truncate(entry), "a first load"
    st.begin_full(entry, None, {"partitions": [{"lo": None, "hi": None}]}, None, "s")
    assert not st.starts_with_truncate(entry), "a resumed load never truncates again"
    st.forget(entry)
    assert entry == {"reload": True}
    assert not st.starts_with_truncate(entry), "a forgotten table is held by the destination"
    st.begin_full(entry, None, {"partitions": []}, None, "s")
    assert "reload" not in entry
