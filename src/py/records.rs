//! Batches as the Connector SDK's own `Record` objects, encoded here (`crate::encode`) instead of by the SDK's
//! per-row Python: the fast emit path. A row whose cells `encode` declines is handed back as the dict the SDK's
//! public operations take, so nothing is ever guessed.

use super::convert::{value_of, Context};
use crate::encode::{encode, is_deleted, Declared};
use crate::model::Cell;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use std::collections::HashMap;

/// What turns one table's rows into SDK records: the table and schema names, the SDK's `Record` class and
/// `RecordType` values, each column's declared type as the SDK looks it up, the soft-delete column and the key.
#[pyclass(frozen, module = "connector_accel._core")]
pub struct RecordEncoder {
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
    ) -> Self {
        RecordEncoder {
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
        }
    }
}

/// One row as the dict path would build it: (key, cell) in insertion order, flattened columns expanded. A key
/// seen twice keeps its first place and takes the later value, as a Python dict does.
fn entries<'c>(names: &'c [String], row: &'c [Cell]) -> Vec<(&'c str, &'c Cell)> {
    let mut out: Vec<(&str, &Cell)> = Vec::with_capacity(row.len());
    let push = |key: &'c str, cell: &'c Cell, out: &mut Vec<(&'c str, &'c Cell)>| match out
        .iter_mut()
        .find(|(k, _)| *k == key)
    {
        Some(slot) => slot.1 = cell,
        None => out.push((key, cell)),
    };
    for (name, cell) in names.iter().zip(row) {
        match cell {
            Cell::Flat(pairs) => pairs.iter().for_each(|(k, c)| push(k, c, &mut out)),
            _ => push(name, cell, &mut out),
        }
    }
    out
}

impl RecordEncoder {
    fn declared(&self, key: &str) -> Declared {
        self.declared
            .get(key)
            .copied()
            .unwrap_or(Declared::Inferred)
    }

    /// The SDK record of one row (a DELETE of its key when its soft-delete value says so), or None when a cell
    /// must be encoded by the SDK itself. Also says whether it is a delete.
    fn record<'py>(
        &self,
        py: Python<'py>,
        keys: &mut KeyCache<'py>,
        row: &[(&str, &Cell)],
        buf: &mut Vec<u8>,
    ) -> PyResult<Option<(Bound<'py, PyAny>, bool)>> {
        let value = |key: &str| row.iter().find(|(k, _)| *k == key).map(|(_, c)| *c);
        let deleted = self
            .soft_delete
            .as_deref()
            .is_some_and(|s| is_deleted(value(s)));
        let data = PyDict::new(py);
        if deleted {
            for key in &self.keys {
                let Some(cell) = value(key) else {
                    return Ok(None); // the SDK path raises KeyError; let it
                };
                if !encode(cell, self.declared(key), buf) {
                    return Ok(None);
                }
                data.set_item(keys.get(py, key), PyBytes::new(py, buf))?;
            }
        } else {
            for (key, cell) in row {
                if !encode(cell, self.declared(key), buf) {
                    return Ok(None);
                }
                data.set_item(keys.get(py, key), PyBytes::new(py, buf))?;
            }
        }
        let kind = if deleted { &self.delete } else { &self.upsert };
        let args = (
            self.table.bind(py),
            kind.bind(py),
            data,
            self.schema.bind(py),
        );
        Ok(Some((self.record.bind(py).call1(args)?, deleted)))
    }
}

/// Interned key strings, made once per reader and reused for every row.
pub struct KeyCache<'py> {
    made: HashMap<String, Bound<'py, PyString>>,
}

impl<'py> KeyCache<'py> {
    fn get(&mut self, py: Python<'py>, key: &str) -> Bound<'py, PyString> {
        if let Some(k) = self.made.get(key) {
            return k.clone();
        }
        let k = PyString::intern(py, key);
        self.made.insert(key.to_string(), k.clone());
        k
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
    let mut keys = KeyCache {
        made: HashMap::new(),
    };
    let mut buf = Vec::with_capacity(64);
    let (records, fallback, pairs) = (PyList::empty(py), PyList::empty(py), PyList::empty(py));
    let mut deletes = 0usize;
    for row in rows {
        let found = encoder.record(py, &mut keys, &entries(names, row), &mut buf)?;
        if checked {
            let record = found.map_or_else(|| py.None().into_bound(py), |(r, _)| r);
            pairs.append((dict_of(py, row, ctx)?, record))?;
            continue;
        }
        match found {
            Some((record, deleted)) => {
                deletes += usize::from(deleted);
                records.append(record)?;
            }
            None => fallback.append(dict_of(py, row, ctx)?)?,
        }
    }
    if checked {
        return Ok(pairs.into_any());
    }
    Ok((records, fallback, deletes).into_pyobject(py)?.into_any())
}

/// One row as the dict the SDK's public operations take (the dict path's own conversion).
fn dict_of<'py>(
    py: Python<'py>,
    row: &[Cell],
    ctx: &mut Context<'_, 'py>,
) -> PyResult<Bound<'py, PyDict>> {
    let list = super::convert::batch(py, std::slice::from_ref(&row.to_vec()), ctx)?;
    Ok(list.get_item(0)?.cast_into::<PyDict>()?)
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
    let cell = super::probe::cell(kind, &value)?;
    let utc = pyo3::types::PyTzInfo::utc(py)?;
    let python = value_of(py, &cell, &utc)?;
    let mut out = Vec::new();
    let encoded =
        encode(&cell, Declared::from_sdk(declared), &mut out).then(|| PyBytes::new(py, &out));
    Ok((python, encoded))
}
