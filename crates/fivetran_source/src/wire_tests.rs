//! Our bytes against prost's: each value alone (one map entry, so prost's own bytes are comparable byte for byte)
//! and whole rows decoded by prost (a map's entries come in the map's order, so those compare as messages).

use crate::proto::{Record, RecordType, UpdateResponse};
use crate::records::{head, Made, RecordMaker};
use crate::values::{value, view};
use chrono::NaiveDate;
use connector_accel_core::fetch::{Fetch, PgFetch};
use connector_accel_core::model::{Cell, Column, FivetranType, Table};
use prost::Message;
use std::collections::HashMap;
use std::sync::Arc;

fn cells() -> Vec<(Cell, FivetranType)> {
    let at = NaiveDate::from_ymd_opt(1969, 12, 31)
        .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 123_456_700))
        .expect("a valid time");
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");
    let json: serde_json::Value =
        serde_json::from_str(r#"{"a": 1.50, "b": [true, null]}"#).expect("valid JSON");
    let decimal = FivetranType::Decimal {
        precision: 38,
        scale: 10,
    };
    vec![
        (Cell::Null, FivetranType::String),
        (Cell::Bool(false), FivetranType::Boolean),
        (Cell::Bool(true), FivetranType::Boolean),
        (Cell::Int(-1), FivetranType::Short),
        (Cell::Int(0), FivetranType::Int),
        (Cell::Int(i64::from(i32::MIN)), FivetranType::Int),
        (Cell::Int(i64::MIN), FivetranType::Long),
        (Cell::Int(1 << 40), FivetranType::Int),
        (Cell::Int(12), decimal),
        (Cell::Int(-7), FivetranType::String),
        (Cell::Float(-0.0), FivetranType::Float),
        (Cell::Float(1.5), FivetranType::Double),
        (Cell::Double(f64::NAN), FivetranType::Double),
        (Cell::Decimal("-1234567890.0123456789".into()), decimal),
        (Cell::Text(String::new()), FivetranType::String),
        (Cell::Text("é ☃ \u{0}".into()), FivetranType::String),
        (Cell::Text("<a/>".into()), FivetranType::Xml),
        (Cell::Text("{}".into()), FivetranType::Json),
        (Cell::Bytes(vec![]), FivetranType::Binary),
        (Cell::Bytes(vec![0, 255, 7]), FivetranType::Binary),
        (Cell::Date(epoch), FivetranType::NaiveDate),
        (Cell::Timestamp(at), FivetranType::NaiveDatetime),
        (
            Cell::TimestampUtc(epoch.and_time(chrono::NaiveTime::MIN)),
            FivetranType::UtcDatetime,
        ),
        (Cell::Json(json.clone()), FivetranType::Json),
        (Cell::Json(serde_json::Value::Null), FivetranType::Json),
        (Cell::Json(json["a"].clone()), decimal),
        (Cell::Json(json["b"].clone()), FivetranType::String),
        (Cell::Text("x".repeat(300)), FivetranType::String),
    ]
}

#[test]
fn every_value_is_the_bytes_prost_writes() {
    for name in ["c", "", "a longer name é"] {
        for (cell, declared) in cells() {
            let mut ours = head(Some("s"), "t", RecordType::Upsert);
            crate::wire::put_entry(
                &crate::wire::map_key(name),
                &view(&cell, declared),
                &mut ours,
            );
            let theirs = Record {
                schema_name: Some("s".into()),
                table_name: "t".into(),
                r#type: RecordType::Upsert.into(),
                data: [(name.to_string(), value(&cell, declared))].into(),
            };
            assert_eq!(
                ours,
                theirs.encode_to_vec(),
                "{cell:?} as {declared:?}, key {name:?}"
            );
        }
    }
}

#[test]
fn record_heads_are_the_bytes_prost_writes() {
    for kind in [
        RecordType::Upsert,
        RecordType::Update,
        RecordType::Delete,
        RecordType::Truncate,
    ] {
        for (schema, table) in [(Some("s"), "t"), (Some(""), ""), (None, "t")] {
            let theirs = Record {
                schema_name: schema.map(str::to_string),
                table_name: table.into(),
                r#type: kind.into(),
                data: HashMap::new(),
            };
            assert_eq!(
                head(schema, table, kind),
                theirs.encode_to_vec(),
                "{kind:?} {schema:?} {table:?}"
            );
        }
    }
}

/// A text column declared `t` (the record tests' columns, also `logical_tests.rs`'s).
pub(crate) fn column(name: &str, t: FivetranType) -> Column {
    Column {
        name: name.into(),
        source_type: "text".into(),
        fivetran_type: t,
        fetch: Fetch::Postgres(PgFetch::Text),
        flattened: false,
        nullable: true,
    }
}

/// The record prost would send for `row`: every column's value in a map, flattened cells as their own columns.
fn reference(table: &Table, row: &[Cell]) -> HashMap<String, crate::proto::ValueType> {
    let mut data = HashMap::new();
    for (cell, c) in row.iter().zip(&table.columns) {
        match cell {
            Cell::Flat(pairs) => {
                for (name, cell) in pairs {
                    let t = table
                        .flat_columns
                        .iter()
                        .find(|f| *f.name == **name)
                        .map_or(FivetranType::Json, |f| f.fivetran_type);
                    data.insert(name.to_string(), value(cell, t));
                }
            }
            _ => {
                data.insert(c.name.clone(), value(cell, c.fivetran_type));
            }
        }
    }
    data
}

#[test]
fn rows_decode_as_the_records_prost_would_send() {
    let types = cells();
    let mut columns: Vec<Column> = types
        .iter()
        .enumerate()
        .map(|(i, (_, t))| column(&format!("c{i}"), *t))
        .collect();
    columns.push(column("doc", FivetranType::Json));
    columns.push(column("gone", FivetranType::Boolean));
    let mut table = Table::new(
        "s".into(),
        "t".into(),
        columns,
        vec!["c4".into(), "c13".into()],
    );
    table.soft_delete = Some("gone".into());
    table.flat_columns = vec![connector_accel_core::model::FlatColumn {
        name: "doc_n".into(),
        fivetran_type: FivetranType::Long,
    }];
    let flat = Cell::Flat(vec![
        (Arc::from("doc_n"), Cell::Json(serde_json::json!(5))),
        (Arc::from("doc_x"), Cell::Text("y".into())),
    ]);
    let mut row: Vec<Cell> = types.into_iter().map(|(c, _)| c).collect();
    row.push(flat);
    row.push(Cell::Bool(false));
    let mut maker = RecordMaker::new(&table, false);
    let mut ours = Vec::new();
    assert_eq!(maker.write(&row, &mut ours), Made::Row);
    let decoded = Record::decode(ours.as_slice()).expect("prost decodes our record");
    let expected = Record {
        schema_name: Some("s".into()),
        table_name: "t".into(),
        r#type: RecordType::Upsert.into(),
        data: reference(&table, &row),
    };
    // Compared value by value as bytes (a NaN is not equal to itself as a message).
    let bytes = |r: &Record| -> std::collections::BTreeMap<String, Vec<u8>> {
        r.data
            .iter()
            .map(|(k, v)| (k.clone(), v.encode_to_vec()))
            .collect()
    };
    assert_eq!(bytes(&decoded), bytes(&expected));
    assert_eq!(
        (&decoded.schema_name, &decoded.table_name, decoded.r#type),
        (&expected.schema_name, &expected.table_name, expected.r#type)
    );
    assert_eq!(ours.len(), expected.encoded_len());

    *row.last_mut().expect("a soft-delete cell") = Cell::Bool(true);
    assert_eq!(maker.write(&row, &mut ours), Made::Delete);
    let deleted = Record::decode(ours.as_slice()).expect("prost decodes a delete");
    assert_eq!(deleted.r#type, RecordType::Delete as i32);
    let mut keys: Vec<&String> = deleted.data.keys().collect();
    keys.sort();
    assert_eq!(keys, ["c13", "c4"]);
    assert_eq!(
        deleted.data["c13"],
        value(&row[13], table.columns[13].fivetran_type)
    );
    assert_eq!(
        RecordMaker::new(&table, true).write(&row, &mut ours),
        Made::Skipped
    );
}

/// One maker over rows whose flattened cells change shape (leaves swapped, a name in a new `Arc`, an undeclared
/// leaf): each record is prost's for its own row, whatever the maker remembered from the rows before.
#[test]
fn flattened_leaves_keep_their_columns_when_the_shape_changes() {
    let mut table = Table::new(
        "s".into(),
        "t".into(),
        vec![
            column("id", FivetranType::Long),
            column("doc", FivetranType::Json),
        ],
        vec!["id".into()],
    );
    let declared = |name: &str, t| connector_accel_core::model::FlatColumn {
        name: name.into(),
        fivetran_type: t,
    };
    table.flat_columns = vec![
        declared("doc_n", FivetranType::Int),
        declared("doc_s", FivetranType::Xml),
    ];
    let (n, s): (Arc<str>, Arc<str>) = (Arc::from("doc_n"), Arc::from("doc_s"));
    let leaves = [
        vec![
            (n.clone(), Cell::Int(1)),
            (s.clone(), Cell::Text("<a/>".into())),
        ],
        vec![
            (s.clone(), Cell::Text("<b/>".into())),
            (n.clone(), Cell::Int(2)),
        ],
        vec![(Arc::from("doc_n"), Cell::Int(3))],
        vec![
            (Arc::from("doc_z"), Cell::Text("z".into())),
            (n.clone(), Cell::Int(4)),
        ],
        vec![
            (n.clone(), Cell::Int(5)),
            (s.clone(), Cell::Text("<c/>".into())),
        ],
    ];
    let mut maker = RecordMaker::new(&table, false);
    let mut ours = Vec::new();
    for (i, flat) in leaves.into_iter().enumerate() {
        let row = vec![Cell::Int(i as i64), Cell::Flat(flat)];
        maker.write(&row, &mut ours);
        let decoded = Record::decode(ours.as_slice()).expect("prost decodes our record");
        assert_eq!(decoded.data, reference(&table, &row), "row {i}");
    }
}

#[test]
fn a_batch_and_a_lone_record_are_the_responses_prost_writes() {
    let record = Record {
        table_name: "t".into(),
        data: [("c".to_string(), value(&Cell::Int(3), FivetranType::Int))].into(),
        ..Record::default()
    };
    let bytes = record.encode_to_vec();
    let mut batcher = crate::batch::Batcher::default();
    assert!(batcher.push(&bytes).is_empty() && batcher.push(&bytes).is_empty());
    let batch = batcher.flush().expect("a batch");
    use crate::proto::update_response::Operation;
    let theirs = UpdateResponse {
        operation: Some(Operation::Records(crate::proto::Records {
            records: vec![record.clone(), record.clone()],
        })),
    };
    assert_eq!(batch.0.as_ref(), theirs.encode_to_vec().as_slice());
    let alone = crate::wire::Encoded::record(&bytes);
    let theirs = UpdateResponse {
        operation: Some(Operation::Record(record)),
    };
    assert_eq!(alone.0.as_ref(), theirs.encode_to_vec().as_slice());
    let mut merged = crate::wire::Encoded::default();
    merged.merge(alone.0.clone()).expect("merges");
    assert_eq!(merged, alone);
}

/// Not a test: CPU per row of the encoder on bench.wide-like rows (`cargo test --release -- --ignored --nocapture
/// encoder_cost`).
#[test]
#[ignore]
fn encoder_cost() {
    let names = [
        "id",
        "qty",
        "name",
        "price",
        "score",
        "active",
        "created_at",
        "local_ts",
        "day",
        "attrs",
    ];
    let types = [
        FivetranType::Long,
        FivetranType::Int,
        FivetranType::String,
        FivetranType::Decimal {
            precision: 12,
            scale: 2,
        },
        FivetranType::Double,
        FivetranType::Boolean,
        FivetranType::UtcDatetime,
        FivetranType::NaiveDatetime,
        FivetranType::NaiveDate,
        FivetranType::Json,
    ];
    let columns = names.iter().zip(types).map(|(n, t)| column(n, t)).collect();
    let table = Table::new("bench".into(), "wide".into(), columns, vec!["id".into()]);
    let at = NaiveDate::from_ymd_opt(2021, 1, 1)
        .and_then(|d| d.and_hms_opt(1, 2, 3))
        .expect("a time");
    let flat: Vec<(Arc<str>, Cell)> = vec![
        (Arc::from("attrs_color"), Cell::Text("c1".into())),
        (Arc::from("attrs_size"), Cell::Int(7)),
        (Arc::from("attrs_ok"), Cell::Bool(true)),
    ];
    let rows: Vec<Vec<Cell>> = (0..200_000i64)
        .map(|i| {
            vec![
                Cell::Int(i),
                Cell::Int(i % 1000),
                Cell::Text(format!("name-{i:032}")),
                Cell::Decimal("123.45".into()),
                Cell::Double(i as f64 * 0.001),
                Cell::Bool(i % 3 == 0),
                Cell::TimestampUtc(at),
                Cell::Timestamp(at),
                Cell::Date(at.date()),
                Cell::Flat(flat.clone()),
            ]
        })
        .collect();
    let mut maker = RecordMaker::new(&table, false);
    let mut batcher = crate::batch::Batcher::default();
    let mut record = Vec::new();
    let started = std::time::Instant::now();
    let mut bytes = 0;
    for _ in 0..5 {
        for row in &rows {
            maker.write(row, &mut record);
            for e in batcher.push(&record) {
                bytes += e.0.len();
            }
        }
    }
    let encode = started.elapsed().as_secs_f64() / 5.0;
    let started = std::time::Instant::now();
    drop(rows);
    println!(
        "encode {:.2} us/row ({bytes} bytes), drop {:.2} us/row",
        encode * 5.0,
        started.elapsed().as_secs_f64() * 5.0
    );
}
