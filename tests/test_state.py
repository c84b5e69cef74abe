"""The sync state's transitions (connector_accel.state), without a server: passes, full loads, incremental reads,
resume positions and the version 1 conversion."""
from datetime import datetime, timezone

from connector_accel import state as st


def test_a_new_pass_opens_only_after_the_last_one_closed():
    state = st.open_pass({})
    assert (state["version"], state["pass"], state["pass_open"]) == (2, 1, True)
    again = st.open_pass(state)  # interrupted: the same pass goes on
    assert again["pass"] == 1
    st.close_pass(again, datetime(2026, 1, 2, tzinfo=timezone.utc))
    assert again["last_completed_at"] == "2026-01-02T00:00:00+00:00"
    assert st.open_pass(again)["pass"] == 2


def test_open_pass_leaves_the_callers_state_alone():
    given = {"version": 2, "pass": 4, "pass_open": False, "tables": {}}
    st.open_pass(given)
    assert given["pass"] == 4 and given["pass_open"] is False


def test_version_1_states_are_converted():
    state = st.open_pass({"tables": {"s.a": {"after": ["42"]}, "s.b": {"done": True}}})
    assert state["version"] == 2 and state["pass"] == 1 and state["pass_open"]
    a, b = state["tables"]["s.a"], state["tables"]["s.b"]
    assert a == {"phase": "full", "cursor": None, "plan": {"partitions": [{"lo": None, "hi": None, "after": ["42"]}]}}
    assert st.full_load_planned(a, None)
    assert st.done_in_pass(b, state), "a table version 1 had finished is not read again in the resumed pass"


def test_a_full_load_records_positions_and_hands_over_to_incremental():
    state = st.open_pass({})
    entry = st.table_entry(state, "s.t")
    plan = {"partitions": [{"lo": None, "hi": ["10"]}, {"lo": ["10"], "hi": None}]}
    st.begin_full(entry, "updated_at", plan, {"high": "2026-01-01", "guard": "2025-12-31", "sees_all": True})
    assert entry["pending"] == {"high": "2026-01-01", "guard": "2025-12-31"}
    st.record_partition(entry, 1, ["17"])
    st.record_partition(entry, 0, None)  # a batch without a key does not move the position
    assert plan["partitions"] == [{"lo": None, "hi": ["10"]}, {"lo": ["10"], "hi": None, "after": ["17"]}]
    assert st.full_load_planned(entry, "updated_at")
    assert not st.full_load_planned(entry, "created_at"), "a changed cursor needs a new plan"
    st.finish_full(entry, state)
    assert entry == {"phase": "incremental", "cursor": "updated_at", "pass": 1,
                     "mark": {"high": "2026-01-01", "guard": "2025-12-31"}}
    assert st.reads_incrementally(entry, "updated_at")
    assert not st.reads_incrementally(entry, None)


def test_a_table_without_cursor_stays_full():
    state = st.open_pass({})
    entry = st.table_entry(state, "s.t")
    st.begin_full(entry, None, {"partitions": [{}]}, None)
    st.finish_full(entry, state)
    assert entry == {"phase": "full", "cursor": None, "pass": 1}
    assert not st.full_load_planned(entry, None)


def test_an_incremental_read_moves_the_mark_only_when_it_finishes():
    state = st.open_pass({})
    entry = {"phase": "incremental", "cursor": "c", "mark": {"high": "1", "guard": None}}
    assert st.begin_incremental(entry, {"high": "5", "guard": None, "sees_all": True})
    assert not st.begin_incremental(entry, {"high": "9", "guard": None}), "a resumed read keeps its watermark"
    st.record_incremental(entry, ["3", "7"])
    assert entry["mark"] == {"high": "1", "guard": None} and entry["after"] == ["3", "7"]
    st.finish_incremental(entry, state)
    assert entry == {"phase": "incremental", "cursor": "c", "mark": {"high": "5", "guard": None}, "pass": 1}


def test_an_empty_table_keeps_its_mark():
    entry = {"phase": "incremental", "cursor": "c", "mark": {"high": "1", "guard": None}}
    st.begin_incremental(entry, None)
    st.finish_incremental(entry, {"pass": 3})
    assert entry["mark"] == {"high": "1", "guard": None}


def test_preprocessing_runs_once_per_pass_with_scalar_values():
    state = st.open_pass({"since": "2026", "count": 3, "flag": True, "tables": {}})
    assert st.preprocess_due(state)
    values = st.preprocess_values(state)
    assert values["since"] == "2026" and values["count"] == "3" and "flag" not in values and "tables" not in values
    st.preprocessed(state)
    assert not st.preprocess_due(state)


def test_a_load_planned_for_another_shape_is_not_resumed():
    table = {"source_types": {"id": "bigint", "v": "text"}, "primary_key": ["id"]}
    shape = st.shape_of(table)
    assert shape == st.shape_of({"primary_key": ["id"], "source_types": {"v": "text", "id": "bigint"}})
    entry: dict = {}
    st.begin_full(entry, None, {"partitions": [{"lo": None, "hi": None, "after": ["9"]}]}, None, shape)
    assert st.full_load_planned(entry, None, shape) and not st.shape_changed(entry, shape)
    added = st.shape_of({**table, "source_types": {**table["source_types"], "c": "text"}})
    assert not st.full_load_planned(entry, None, added) and st.shape_changed(entry, added)
    rekeyed = st.shape_of({**table, "primary_key": ["v"]})
    assert st.shape_changed(entry, rekeyed)
    old = {"phase": "full", "cursor": None, "plan": {"partitions": []}}  # written before shapes were recorded
    assert st.full_load_planned(old, None, shape) and not st.shape_changed(old, shape)
