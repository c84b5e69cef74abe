//! The state's transitions, and its agreement with `connector_accel/state.py` where both compute a value.

use super::*;
use connector_accel_core::fetch::{Fetch, PgFetch};
use connector_accel_core::model::{Column, FivetranType};

fn table() -> Table {
    let column = |name: &str, source_type: &str| Column {
        name: name.into(),
        source_type: source_type.into(),
        fivetran_type: FivetranType::String,
        fetch: Fetch::Postgres(PgFetch::Text),
        flattened: false,
        nullable: true,
    };
    Table::new(
        "public".into(),
        "t".into(),
        vec![
            column("id", "integer"),
            column("näme", "text"),
            column("a", "numeric(12,2)"),
        ],
        vec!["id".into()],
    )
}

#[test]
fn the_shape_is_the_one_python_computes() {
    // state.shape_of for the same columns and key (printed by Python's json.dumps(sort_keys=True) + sha256).
    assert_eq!(shape_of(&table()), "124668d262fb524c");
}

#[test]
fn a_first_state_opens_pass_one_and_a_closed_pass_opens_the_next() {
    let mut state = open_pass(None).expect("an empty state");
    assert_eq!((pass(&state), state["pass_open"].clone()), (1, json!(true)));
    close_pass(&mut state, chrono::Utc::now());
    let again = open_pass(Some(&Value::Object(state).to_string())).expect("our own state");
    assert_eq!(pass(&again), 2);
    let interrupted =
        open_pass(Some(&Value::Object(again.clone()).to_string())).expect("an open pass");
    assert_eq!(
        pass(&interrupted),
        2,
        "an interrupted pass is resumed, not restarted"
    );
    assert!(open_pass(Some("[1, 2]")).is_err());
}

#[test]
fn version_1_positions_become_one_partition_to_resume() {
    let state = open_pass(Some(
        r#"{"tables": {"public.a": {"after": ["7"]}, "public.b": {"done": true}}}"#,
    ))
    .expect("a version 1 state");
    let a = &state["tables"]["public.a"];
    assert_eq!(a["plan"]["partitions"][0]["after"], json!(["7"]));
    assert_eq!(state["tables"]["public.b"]["pass"], json!(1));
    assert_eq!(pass(&state), 1);
}

#[test]
fn a_full_load_resumes_per_partition_then_reads_incrementally_from_its_watermark() {
    let mut state = open_pass(None).expect("an empty state");
    let plan = json!({"partitions": [{"lo": null, "hi": ["5"]}, {"lo": ["5"], "hi": null}]});
    let mark = Watermark {
        high: Some("2024-01-01".into()),
        sees_all: true,
        ..Watermark::default()
    };
    let shape = shape_of(&table());
    let e = entry(&mut state, "public.t");
    begin_full(e, Some("updated_at"), plan, Some(&mark), &shape);
    record_partition(e, 1, Some(&["9".to_string()]), 3);
    assert!(full_load_planned(e, Some("updated_at"), &shape));
    assert!(!full_load_planned(e, Some("other"), &shape));
    assert!(shape_changed(e, "another shape"));
    let parts = parts_of(e).expect("the plan's partitions");
    assert_eq!(parts[1].after, Some(vec!["9".to_string()]));
    assert_eq!(parts[0].range.hi, Some(vec!["5".to_string()]));
    finish_full(e, 1);
    assert!(reads_incrementally(e, Some("updated_at")));
    assert_eq!(e["mark"], json!({"high": "2024-01-01", "guard": null}));
    assert!(done_in_pass(e, 1));
    assert!(begin_incremental(e, None));
    assert!(
        !begin_incremental(e, None),
        "a read under way keeps its watermark"
    );
    finish_incremental(e, 2);
    assert_eq!(
        e["mark"],
        json!({"high": "2024-01-01", "guard": null}),
        "an empty table keeps the old mark"
    );
}

#[test]
fn dotted_names_have_keys_of_their_own_as_python_makes_them() {
    assert_eq!(table_key("public", "t"), "public.t");
    // state.table_key('a', 'b.c') and state.table_key('a.b', 'c'), as Python prints them.
    assert_eq!(table_key("a", "b.c"), r#""a"."b.c""#);
    assert_eq!(table_key("a.b", "c"), r#""a.b"."c""#);
    assert_eq!(table_key("q", "x\"y"), r#""q"."x""y""#);
}

#[test]
fn the_identity_is_the_one_python_keeps() {
    // state.identity_of of the same table gives this object (checked with Python).
    let mut t = table();
    t.identity = Some("16384".into());
    assert_eq!(
        crate::identity::identity_of(&t).to_string(),
        r#"{"schema":"public","table":"t","id":"16384","columns":{"id":"integer","näme":"text","a":"numeric(12,2)"},"key":["id"]}"#
    );
}

#[test]
fn identity_changes_are_said_as_python_says_them_and_a_load_keeps_the_identity() {
    let mut entry = Map::new();
    let mut t = table();
    t.identity = Some("16384".into());
    crate::identity::remember_identity(&mut entry, &t);
    assert_eq!(crate::identity::identity_change(&entry, &t), "");
    t.columns[2].source_type = "numeric(14,2)".into();
    t.columns.remove(1);
    t.primary_key = vec!["id".into(), "a".into()];
    assert_eq!(
        crate::identity::identity_change(&entry, &t),
        "its columns changed (removed näme; retyped a (numeric(12,2) -> numeric(14,2)); key ['id'] -> ['id', 'a'])"
    );
    t.identity = Some("20000".into());
    assert_eq!(
        crate::identity::identity_change(&entry, &t),
        "it was dropped and created again (id 16384, now 20000)"
    );
    crate::identity::reconciled(&mut entry, chrono::Utc::now());
    begin_full(&mut entry, None, json!({"partitions": []}), None, "s");
    finish_full(&mut entry, 3);
    assert!(
        entry.contains_key("identity") && entry.contains_key("reconciled_at"),
        "{entry:?}"
    );
}

#[test]
fn reconciliation_is_due_as_its_hours_say() {
    let now = chrono::Utc::now();
    let mut entry = Map::new();
    assert!(!crate::identity::reconciliation_due(&entry, None, now));
    assert!(crate::identity::reconciliation_due(&entry, Some(24.0), now));
    crate::identity::reconciled(&mut entry, now - chrono::Duration::hours(2));
    assert!(!crate::identity::reconciliation_due(
        &entry,
        Some(24.0),
        now
    ));
    assert!(crate::identity::reconciliation_due(&entry, Some(1.0), now));
    assert!(crate::identity::reconciliation_due(&entry, Some(0.0), now));
}

#[test]
fn the_logical_fields_are_the_ones_python_keeps() {
    // What state.py writes for the same steps: begin_full, finish_full, finish_logical('slot_a', '16400,16410'),
    // record_replication('slot_a', '0/16B3748') (printed by Python's json.dumps).
    let python = r#"{"version": 2, "pass": 1, "pass_open": true, "replication": {"slot": "slot_a", "lsn": "0/16B3748"},
        "tables": {"public.t": {"partitions": "16400,16410", "pass": 1, "phase": "logical", "slot": "slot_a"}}}"#;
    let given = open_pass(Some(python)).expect("the SDK connector's state");
    assert_eq!(
        replication_position(&given, "slot_a").as_deref(),
        Some("0/16B3748")
    );
    assert_eq!(
        replication_position(&given, "another"),
        None,
        "another slot's position is not ours"
    );
    let e = &given["tables"]["public.t"];
    let e = e.as_object().expect("an entry");
    assert!(reads_from_log(e, "slot_a") && !reads_from_log(e, "another"));
    assert_eq!(partitions(e), "16400,16410");

    let mut state = open_pass(None).expect("an empty state");
    let e = entry(&mut state, "public.t");
    begin_full(
        e,
        None,
        json!({"partitions": [{"lo": null, "hi": null}]}),
        None,
        "abc",
    );
    finish_full(e, 1);
    finish_logical(e, "slot_a", "16400,16410");
    record_replication(&mut state, "slot_a", "0/16B3748");
    let ours = Value::Object(state.clone());
    let theirs: Value = serde_json::from_str(python).expect("JSON");
    assert_eq!(ours["tables"], theirs["tables"]);
    assert_eq!(ours["replication"], theirs["replication"]);
    // and a round trip through the text Fivetran keeps changes nothing
    let again = open_pass(Some(&ours.to_string())).expect("our own state");
    assert_eq!(again["tables"], theirs["tables"]);

    let e = entry(&mut state, "public.t");
    crate::identity::remember_identity(e, &table());
    leave_log(e);
    assert!(!reads_from_log(e, "slot_a") && e.contains_key("identity"));
    assert!(!done_in_pass(e, 1), "loaded again when it comes back");
}

#[test]
fn only_a_table_this_state_never_loaded_starts_with_a_truncate() {
    // as state.starts_with_truncate and state.forget (test_state_identity.py asserts the same of them)
    let mut entry = Map::new();
    assert!(starts_with_truncate(&entry), "a first load");
    begin_full(
        &mut entry,
        None,
        json!({"partitions": [{"lo": null, "hi": null}]}),
        None,
        "s",
    );
    assert!(
        !starts_with_truncate(&entry),
        "a resumed load never truncates again"
    );
    forget(&mut entry);
    assert_eq!(Value::Object(entry.clone()), json!({"reload": true}));
    assert!(
        !starts_with_truncate(&entry),
        "a forgotten table is held by the destination"
    );
    begin_full(&mut entry, None, json!({"partitions": []}), None, "s");
    assert!(!entry.contains_key("reload"), "{entry:?}");
}
