//! Batches as the Connector SDK's own `Record` objects, encoded here (`connector_accel_core::encode`) instead of by the SDK's
//! per-row Python: the fast emit path. A row whose cells `encode` declines is handed back as the dict the SDK's
//! public operations take, so nothing is ever guessed.

use crate::convert::{row_dict, value_of, Context};
use connector_accel_core::encode::{encode, is_deleted, Declared, Scratch};
use connector_accel_core::model::Cell;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use std::collections::HashMap;
use std::sync::Arc;

/// What turns one table's rows into SDK records: the table and schema names, the SDK's `Record` class and
/// `RecordType` values, each column's declared type as the SDK looks it up, the soft-delete column and the key.
#[pyclass(frozen, module = "connector_accel._core")]
pub struct RecordEncoder {
    /// `object.__new__`: a record is made as its dataclass `__init__` makes it (the four fields set on a new
    /// instance), without running that Python function per row. `emit.py` checks the class allows it.
    new_object: Py<PyAny>,
    table: Py<PyString>,
    schema: Py<PyAny>,
    record: Py<PyAny>,
    upsert: Py<PyAny>,
    delete: Py<PyAny>,
    declared: HashMap<String, Declared>,
    soft_delete: Option<String>,
    keys: Vec<String>,
}

#[pymethods]
impl RecordEncoder {
    /// `declared` maps column names to the SDK's `DataType` numbers (`operations._get_columns`).
    #[new]
    #[pyo3(signature = (table, schema, record, upsert, delete, declared, soft_delete, keys))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        table: Bound<'_, PyString>,
        schema: Bound<'_, PyAny>,
        record: Bound<'_, PyAny>,
        upsert: Bound<'_, PyAny>,
        delete: Bound<'_, PyAny>,
        declared: HashMap<String, i64>,
        soft_delete: Option<String>,
        keys: Vec<String>,
    ) -> PyResult<Self> {
        let py = table.py();
        let new_object = py
            .import("builtins")?
            .getattr("object")?
            .getattr("__new__")?;
        Ok(RecordEncoder {
            new_object: new_object.unbind(),
            table: table.unbind(),
            schema: schema.unbind(),
            record: record.unbind(),
            upsert: upsert.unbind(),
            delete: delete.unbind(),
            declared: declared
                .into_iter()
                .map(|(k, v)| (k, Declared::from_sdk(v)))
                .collect(),
            soft_delete,
            keys,
        })
    }
}

/// A batch's encoding context: each column's key object and declared type, found once per batch.
struct Columns<'a, 'py> {
    names: &'a [String],
    keys: &'a [Bound<'py, PyString>],
    declared: Vec<Declared>,
}

impl RecordEncoder {
    fn declared(&self, key: &str) -> Declared {
        self.declared
            .get(key)
            .copied()
            .unwrap_or(Declared::Inferred)
    }

    /// The value the dict path's row would hold at `key`: a key set twice keeps the later value, as a dict does.
    fn value_at<'r>(names: &[String], row: &'r [Cell], key: &str) -> Option<&'r Cell> {
        let mut found = None;
        for (name, cell) in names.iter().zip(row) {
            match cell {
                Cell::Flat(pairs) => {
                    if let Some((_, c)) = pairs.iter().rev().find(|(k, _)| &**k == key) {
                        found = Some(c);
                    }
                }
                _ if name == key => found = Some(cell),
                _ => {}
            }
        }
        found
    }

    /// The SDK record of one row (a DELETE of its key when its soft-delete value says so), or None when a cell
    /// must be encoded by the SDK itself; and whether it is a delete. Cells are set in the dict path's order into a
    /// dict, so a key set twice behaves as it does there.
    fn record<'py>(
        &self,
        py: Python<'py>,
        columns: &Columns<'_, 'py>,
        flat_keys: &mut HashMap<Arc<str>, Py<PyString>>,
        row: &[Cell],
        scratch: &mut Scratch,
    ) -> PyResult<Option<(Bound<'py, PyAny>, bool)>> {
        let deleted = self
            .soft_delete
            .as_deref()
            .is_some_and(|s| is_deleted(Self::value_at(columns.names, row, s)));
        let data = PyDict::new(py);
        if deleted {
            for key in &self.keys {
                let Some(cell) = Self::value_at(columns.names, row, key) else {
                    return Ok(None); // the SDK path raises KeyError; let it
                };
                if !encode(cell, self.declared(key), scratch) {
                    return Ok(None);
                }
                data.set_item(PyString::intern(py, key), PyBytes::new(py, &scratch.out))?;
            }
        } else {
            for (i, cell) in row.iter().enumerate() {
                if let Cell::Flat(pairs) = cell {
                    for (name, value) in pairs {
                        if !encode(value, self.declared(name), scratch) {
                            return Ok(None);
                        }
                        let key = flat_keys
                            .entry(name.clone())
                            .or_insert_with(|| PyString::intern(py, name).unbind());
                        data.set_item(key.bind(py), PyBytes::new(py, &scratch.out))?;
                    }
                } else {
                    if !encode(cell, columns.declared[i], scratch) {
                        return Ok(None);
                    }
                    data.set_item(&columns.keys[i], PyBytes::new(py, &scratch.out))?;
                }
            }
        }
        let kind = if deleted { &self.delete } else { &self.upsert };
        Ok(Some((self.make(py, kind.bind(py), data)?, deleted)))
    }

    /// `Record(table, type, row_data, schema)`: a new instance with the dataclass's four fields in its `__dict__`,
    /// in field order, which is all the frozen dataclass's `__init__` does.
    fn make<'py>(
        &self,
        py: Python<'py>,
        kind: &Bound<'py, PyAny>,
        data: Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let record = self.new_object.bind(py).call1((self.record.bind(py),))?;
        let fields = record.getattr(intern!(py, "__dict__"))?;
        fields.set_item(intern!(py, "table"), self.table.bind(py))?;
        fields.set_item(intern!(py, "type"), kind)?;
        fields.set_item(intern!(py, "row_data"), data)?;
        fields.set_item(intern!(py, "schema"), self.schema.bind(py))?;
        Ok(record)
    }
}

/// A batch as SDK records: `(records, rows the SDK must encode itself (as dicts), deletes among the records)`;
/// with `checked`, instead a list of `(dict, record or None)` for every row, to compare with the SDK's encoding.
pub fn batch<'py>(
    py: Python<'py>,
    encoder: &RecordEncoder,
    names: &[String],
    rows: &[Vec<Cell>],
    ctx: &mut Context<'_, 'py>,
    checked: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let columns = Columns {
        names,
        keys: ctx.keys,
        declared: names.iter().map(|n| encoder.declared(n)).collect(),
    };
    let mut scratch = Scratch::default();
    let (records, fallback, pairs) = (PyList::empty(py), PyList::empty(py), PyList::empty(py));
    let mut deletes = 0usize;
    for row in rows {
        let found = encoder.record(py, &columns, ctx.flat_keys, row, &mut scratch)?;
        if checked {
            let record = found.map_or_else(|| py.None().into_bound(py), |(r, _)| r);
            pairs.append((row_dict(py, row, ctx)?, record))?;
            continue;
        }
        match found {
            Some((record, deleted)) => {
                deletes += usize::from(deleted);
                records.append(record)?;
            }
            None => fallback.append(row_dict(py, row, ctx)?)?,
        }
    }
    if checked {
        return Ok(pairs.into_any());
    }
    Ok((records, fallback, deletes).into_pyobject(py)?.into_any())
}

/// Test hook: a cell of `kind` made from `value`, as (the Python value the dict path hands the SDK, our encoding
/// of it under the SDK `DataType` number `declared`, or None where the SDK must encode it).
#[pyfunction]
pub fn _probe_cell<'py>(
    py: Python<'py>,
    kind: &str,
    value: Bound<'py, PyAny>,
    declared: i64,
) -> PyResult<(Bound<'py, PyAny>, Option<Bound<'py, PyBytes>>)> {
    let cell = crate::probe::cell(kind, &value)?;
    let utc = pyo3::types::PyTzInfo::utc(py)?;
    let python = value_of(py, &cell, &utc)?;
    let mut scratch = Scratch::default();
    let encoded = encode(&cell, Declared::from_sdk(declared), &mut scratch)
        .then(|| PyBytes::new(py, &scratch.out));
    Ok((python, encoded))
}
