//! Rows -> the bytes of one table's `Record`s: upserts, or deletes (key columns only) where the soft-delete column
//! marks the row deleted, as the SDK connector decides (`encode::is_deleted`); in a key pass, key-only updates.
//! Written straight into a reused buffer (`crate::wire`): the fields every record of the table shares and each
//! column's map key are encoded once per table read.

use crate::batch::Batcher;
use crate::proto::RecordType;
use crate::values::view;
use crate::wire::{map_key, put_bytes, put_entry, Encoded};
use connector_accel_core::encode::is_deleted;
use connector_accel_core::model::{Cell, FivetranType, Table};
use connector_accel_core::read::{RowSink, RowWriter};
use serde_json::Value;
use std::sync::Arc;

/// What a row became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Made {
    Row,
    /// A delete record (key columns only): the row is soft-deleted.
    Delete,
    /// Nothing: a key pass leaves a soft-deleted row out (its truncate marked it deleted already).
    Skipped,
}

/// Turns one table's rows into records; made once per table read (cloned for each batch of its fetchers).
#[derive(Clone)]
pub struct RecordMaker {
    /// Fields 1-3 of each row's record (an upsert, or a key pass's update), and of a delete's.
    head: Vec<u8>,
    delete_head: Vec<u8>,
    /// Each column's encoded map key and declared type, in row order.
    columns: Vec<(Vec<u8>, FivetranType)>,
    /// The flattened columns' names, encoded map keys and declared types: a few, found by name once per place
    /// (`seen`).
    flat: Vec<(String, Vec<u8>, FivetranType)>,
    soft_delete: Option<usize>,
    keys: Vec<usize>,
    key_pass: bool,
    /// Columns (own or flattened) Fivetran's selection leaves out: never written; `skip` marks the own ones.
    excluded: std::collections::HashSet<String>,
    skip: Vec<bool>,
    /// By place in a flattened cell: the name last met there and its index in `flat` (see `flattened`).
    seen: Vec<(Arc<str>, usize)>,
}

/// Record fields 1 (schema_name, optional: written whenever set), 2 (table_name) and 3 (type), as prost skips a
/// proto3 field that holds its default.
pub fn head(schema: Option<&str>, table: &str, kind: RecordType) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(schema) = schema {
        put_bytes(1, schema.as_bytes(), &mut out);
    }
    if !table.is_empty() {
        put_bytes(2, table.as_bytes(), &mut out);
    }
    if kind != RecordType::Upsert {
        prost::encoding::int32::encode(3, &(kind as i32), &mut out);
    }
    out
}

impl RecordMaker {
    /// Upserts (and deletes) of `table`'s rows; with `key_pass`, the key-only updates of delete reconciliation,
    /// read from `table.keys_only()`.
    pub fn new(table: &Table, key_pass: bool) -> RecordMaker {
        let position = |name: &str| table.columns.iter().position(|c| c.name == name);
        let kind = if key_pass {
            RecordType::Update
        } else {
            RecordType::Upsert
        };
        RecordMaker {
            head: head(Some(&table.schema), &table.name, kind),
            delete_head: head(Some(&table.schema), &table.name, RecordType::Delete),
            columns: table
                .columns
                .iter()
                .map(|c| (map_key(&c.name), c.fivetran_type))
                .collect(),
            flat: table
                .flat_columns
                .iter()
                .map(|f| (f.name.clone(), map_key(&f.name), f.fivetran_type))
                .collect(),
            soft_delete: table.soft_delete.as_deref().and_then(position),
            keys: table
                .primary_key
                .iter()
                .filter_map(|k| position(k))
                .collect(),
            key_pass,
            excluded: Default::default(),
            skip: vec![false; table.columns.len()],
            seen: Vec::new(),
        }
    }

    /// Leaves the `excluded` columns of `table` (own or flattened) out of every record
    /// (`selection::excluded_columns`).
    pub fn excluding(
        mut self,
        table: &Table,
        excluded: std::collections::HashSet<String>,
    ) -> RecordMaker {
        self.skip = table
            .columns
            .iter()
            .map(|c| excluded.contains(&c.name))
            .collect();
        self.excluded = excluded;
        self
    }

    /// Writes the record of one row into `out` (cleared first); what the row became.
    pub fn write(&mut self, row: &[Cell], out: &mut Vec<u8>) -> Made {
        out.clear();
        let deleted = self.soft_delete.is_some_and(|i| is_deleted(row.get(i)));
        if deleted && self.key_pass {
            return Made::Skipped;
        }
        if deleted {
            out.extend_from_slice(&self.delete_head);
            for &k in &self.keys {
                let (key, declared) = &self.columns[k];
                put_entry(key, &view(&row[k], *declared), out);
            }
            return Made::Delete;
        }
        out.extend_from_slice(&self.head);
        for ((cell, (key, declared)), skip) in row.iter().zip(&self.columns).zip(&self.skip) {
            if *skip {
                continue;
            }
            match cell {
                Cell::Flat(pairs) => {
                    flattened(&self.flat, &self.excluded, &mut self.seen, pairs, out)
                }
                _ => put_entry(key, &view(cell, *declared), out),
            }
        }
        Made::Row
    }
}

/// The entries of a flattened cell's leaves (see `RecordMaker::seen`).
fn flattened(
    flat: &[(String, Vec<u8>, FivetranType)],
    excluded: &std::collections::HashSet<String>,
    seen: &mut Vec<(Arc<str>, usize)>,
    pairs: &[(Arc<str>, Cell)],
    out: &mut Vec<u8>,
) {
    for (at, (name, cell)) in pairs.iter().enumerate() {
        if !excluded.is_empty() && excluded.contains(&**name) {
            continue;
        }
        // Objects of a column mostly share a shape: the flattener's name in this place last time is the
        // same `Arc`, so its declared column is known without comparing names.
        let known = match seen.get(at) {
            Some((last, i)) if Arc::ptr_eq(last, name) => Some(*i),
            _ => {
                let found = flat.iter().position(|f| f.0 == **name);
                if let Some(i) = found {
                    let entry = (name.clone(), i);
                    match seen.get_mut(at) {
                        Some(place) => *place = entry,
                        None => seen.resize(at + 1, entry),
                    }
                }
                found
            }
        };
        match known.map(|i| &flat[i]) {
            Some((_, key, t)) => put_entry(key, &view(cell, *t), out),
            None => put_entry(&map_key(name), &view(cell, FivetranType::Json), out),
        }
    }
}

/// A read's records written in its fetchers (`RowWriter`), each batch of rows into the responses that carry it:
/// the same records and batches `Out` makes of cells, cut where the batch ends (`Written`).
pub struct Writer(pub RecordMaker);

/// One batch of rows as responses: `Records` batches (the last one flushed where the rows end, so that what the
/// sync sends after them, a checkpoint naming these rows, follows them) and the records too big for one.
#[derive(Debug, Default)]
pub struct Written {
    pub responses: Vec<Encoded>,
    /// Rows sent as deletes (soft-deleted).
    pub deletes: u64,
}

struct Sink {
    maker: RecordMaker,
    record: Vec<u8>,
    batcher: Batcher,
    written: Written,
}

impl RowWriter for Writer {
    fn sink(&self) -> Box<dyn RowSink> {
        Box::new(Sink {
            maker: self.0.clone(),
            record: Vec::new(),
            batcher: Batcher::default(),
            written: Written::default(),
        })
    }
}

impl RowSink for Sink {
    fn row(&mut self, cells: &[Cell]) {
        match self.maker.write(cells, &mut self.record) {
            Made::Row => {}
            Made::Delete => self.written.deletes += 1,
            Made::Skipped => return,
        }
        let sent = self.batcher.push(&self.record);
        self.written.responses.extend(sent);
    }

    fn finish(mut self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self.written.responses.extend(self.batcher.flush());
        Box::new(self.written)
    }
}

/// A truncate of the table: a `Record` of type TRUNCATE and no data.
pub fn truncate(table: &Table) -> Vec<u8> {
    head(Some(&table.schema), &table.name, RecordType::Truncate)
}

/// A cell as a JSON value, for the rare flattened cell sent whole.
pub fn json_of(cell: &Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Bool(b) => Value::Bool(*b),
        Cell::Int(i) => Value::from(*i),
        Cell::Float(f) => Value::from(f64::from(*f)),
        Cell::Double(d) => Value::from(*d),
        Cell::Text(s) | Cell::Decimal(s) => Value::String(s.clone()),
        Cell::Json(v) => v.clone(),
        Cell::Flat(pairs) => Value::Object(
            pairs
                .iter()
                .map(|(k, c)| (k.to_string(), json_of(c)))
                .collect(),
        ),
        // Flattening makes only the scalar cells above; these keep their own text form, never a debug dump.
        Cell::Bytes(b) => Value::String(b.iter().map(|x| format!("{x:02x}")).collect()),
        Cell::Date(d) => Value::String(d.to_string()),
        Cell::Timestamp(t) | Cell::TimestampUtc(t) => Value::String(t.to_string()),
    }
}
