//! Rows -> `Record`s of one table: upserts, or deletes (key columns only) where the soft-delete column marks the row
//! deleted, as the SDK connector decides (`encode::is_deleted`).

use crate::proto::{Record, RecordType, ValueType};
use crate::values::value;
use connector_accel_core::encode::is_deleted;
use connector_accel_core::model::{Cell, FivetranType, Table};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Turns one table's rows into records; made once per table read.
pub struct RecordMaker {
    schema: Option<String>,
    table: String,
    /// Each column's name and declared type, in row order.
    columns: Vec<(String, FivetranType)>,
    flat: HashMap<Arc<str>, FivetranType>,
    soft_delete: Option<usize>,
    keys: Vec<usize>,
}

impl RecordMaker {
    pub fn new(table: &Table) -> RecordMaker {
        let position = |name: &str| table.columns.iter().position(|c| c.name == name);
        RecordMaker {
            schema: Some(table.schema.clone()),
            table: table.name.clone(),
            columns: table
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.fivetran_type))
                .collect(),
            flat: table
                .flat_columns
                .iter()
                .map(|f| (Arc::from(f.name.as_str()), f.fivetran_type))
                .collect(),
            soft_delete: table.soft_delete.as_deref().and_then(position),
            keys: table
                .primary_key
                .iter()
                .filter_map(|k| position(k))
                .collect(),
        }
    }

    /// The record for one row, and whether it is a delete.
    pub fn record(&self, row: &[Cell]) -> (Record, bool) {
        let deleted = self.soft_delete.is_some_and(|i| is_deleted(row.get(i)));
        let mut data: HashMap<String, ValueType> = HashMap::with_capacity(row.len());
        if deleted {
            for &k in &self.keys {
                let (name, declared) = &self.columns[k];
                data.insert(name.clone(), value(&row[k], *declared));
            }
        } else {
            for (cell, (name, declared)) in row.iter().zip(&self.columns) {
                self.put(&mut data, name, cell, *declared);
            }
        }
        let kind = if deleted {
            RecordType::Delete
        } else {
            RecordType::Upsert
        };
        let record = Record {
            schema_name: self.schema.clone(),
            table_name: self.table.clone(),
            r#type: kind.into(),
            data,
        };
        (record, deleted)
    }

    fn put(
        &self,
        data: &mut HashMap<String, ValueType>,
        name: &str,
        cell: &Cell,
        declared: FivetranType,
    ) {
        match cell {
            Cell::Flat(pairs) => {
                for (flat_name, flat_cell) in pairs {
                    let t = self
                        .flat
                        .get(flat_name)
                        .copied()
                        .unwrap_or(FivetranType::Json);
                    data.insert(flat_name.to_string(), value(flat_cell, t));
                }
            }
            _ => {
                data.insert(name.to_string(), value(cell, declared));
            }
        }
    }
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
