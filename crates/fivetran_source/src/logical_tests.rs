//! Change events -> records, decoded as Fivetran decodes them.

use super::*;
use crate::proto::Record;
use crate::wire::tests::column;
use connector_accel_core::model::FlatColumn;
use prost::Message;

fn table() -> Arc<Table> {
    let mut t = Table::new(
        "s".into(),
        "t".into(),
        vec![
            column("id", FivetranType::Long),
            column("big", FivetranType::String),
            column("doc", FivetranType::Json),
            column("note", FivetranType::String),
            column("gone", FivetranType::Boolean),
        ],
        vec!["id".into()],
    );
    t.soft_delete = Some("gone".into());
    t.flat_columns = vec![FlatColumn {
        name: "doc_n".into(),
        fivetran_type: FivetranType::Long,
    }];
    Arc::new(t)
}

fn change(op: Op, cells: Vec<Option<Cell>>) -> Change {
    Change {
        op,
        table: table(),
        cells,
        lsn: Lsn(1),
    }
}

/// (type, sorted column names) of the record `writer` makes of `change`.
fn written(writer: &mut Writer, change: Change) -> (i32, Vec<String>, Record) {
    let mut out = Vec::new();
    writer.write(change, &mut out);
    let r = Record::decode(out.as_slice()).expect("prost decodes our record");
    assert_eq!(
        (r.schema_name.as_deref(), r.table_name.as_str()),
        (Some("s"), "t")
    );
    let mut names: Vec<String> = r.data.keys().cloned().collect();
    names.sort();
    (r.r#type, names, r)
}

fn flat() -> Cell {
    Cell::Flat(vec![(Arc::from("doc_n"), Cell::Json(serde_json::json!(5)))])
}

#[test]
fn a_partial_update_carries_only_its_columns_and_never_a_null_for_the_others() {
    let mut w = Writer::new(&table(), HashSet::new());
    // the TOASTed `big` was left unchanged by the update: not in the record at all
    let (kind, names, r) = written(
        &mut w,
        change(
            Op::Update,
            vec![
                Some(Cell::Int(7)),
                None,
                Some(flat()),
                Some(Cell::Text("n".into())),
                Some(Cell::Bool(false)),
            ],
        ),
    );
    assert_eq!(kind, RecordType::Update as i32);
    assert_eq!(names, ["doc_n", "gone", "id", "note"]);
    assert_eq!(
        r.data["doc_n"],
        crate::values::value(&Cell::Json(serde_json::json!(5)), FivetranType::Long)
    );
}

#[test]
fn upserts_go_the_full_loads_way_deletes_carry_their_key_and_truncates_nothing() {
    let mut w = Writer::new(&table(), HashSet::new());
    let row = |gone: bool| {
        vec![
            Some(Cell::Int(7)),
            Some(Cell::Text("b".into())),
            Some(flat()),
            Some(Cell::Null),
            Some(Cell::Bool(gone)),
        ]
    };
    let (kind, names, _) = written(&mut w, change(Op::Upsert, row(false)));
    assert_eq!(kind, RecordType::Upsert as i32);
    assert_eq!(names, ["big", "doc_n", "gone", "id", "note"]);
    // the soft-delete column set: a delete of the key, as a full load sends it
    let (kind, names, _) = written(&mut w, change(Op::Upsert, row(true)));
    assert_eq!(
        (kind, names),
        (RecordType::Delete as i32, vec!["id".to_string()])
    );
    let key_only = vec![Some(Cell::Int(7)), None, None, None, None];
    let (kind, names, _) = written(&mut w, change(Op::Delete, key_only));
    assert_eq!(
        (kind, names),
        (RecordType::Delete as i32, vec!["id".to_string()])
    );
    let (kind, names, _) = written(&mut w, change(Op::Truncate, vec![None; 5]));
    assert_eq!((kind, names.len()), (RecordType::Truncate as i32, 0));
}

#[test]
fn columns_the_selection_leaves_out_stay_out_of_every_change() {
    let excluded: HashSet<String> = ["note".to_string(), "doc_n".to_string()].into();
    let mut w = Writer::new(&table(), excluded);
    let cells = vec![
        Some(Cell::Int(7)),
        None,
        Some(flat()),
        Some(Cell::Text("n".into())),
        None,
    ];
    let (_, names, _) = written(&mut w, change(Op::Update, cells.clone()));
    assert_eq!(names, ["id"]);
    let (_, names, _) = written(&mut w, change(Op::Delete, cells));
    assert_eq!(names, ["id"]);
}
