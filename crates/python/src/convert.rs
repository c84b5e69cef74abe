//! Cells -> Python objects, and batches -> lists of dicts with each key object made once per reader.

use chrono::{Datelike, NaiveDateTime, Timelike};
use connector_accel_core::flatten::double_holds;
use connector_accel_core::model::Cell;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyBytes, PyDate, PyDateTime, PyDict, PyFloat, PyList, PyString, PyTzInfo,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// What converting one batch needs: the column keys, the flattened keys seen so far, and the UTC zone.
pub struct Context<'a, 'py> {
    pub keys: &'a [Bound<'py, PyString>],
    pub flat_keys: &'a mut HashMap<Arc<str>, Py<PyString>>,
    pub utc: &'a Bound<'py, PyTzInfo>,
}

/// Rows as a list of dicts. A flattened column contributes its flattened keys instead of its own.
pub fn batch<'py>(
    py: Python<'py>,
    rows: &[Vec<Cell>],
    ctx: &mut Context<'_, 'py>,
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for row in rows {
        list.append(row_dict(py, row, ctx)?)?;
    }
    Ok(list)
}

/// One row as a dict. A flattened column contributes its flattened keys instead of its own.
pub fn row_dict<'py>(
    py: Python<'py>,
    row: &[Cell],
    ctx: &mut Context<'_, 'py>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (i, cell) in row.iter().enumerate() {
        if let Cell::Flat(pairs) = cell {
            for (name, value) in pairs {
                let key = ctx
                    .flat_keys
                    .entry(name.clone())
                    .or_insert_with(|| PyString::intern(py, name).unbind())
                    .bind(py);
                dict.set_item(key, value_of(py, value, ctx.utc)?)?;
            }
        } else {
            dict.set_item(&ctx.keys[i], value_of(py, cell, ctx.utc)?)?;
        }
    }
    Ok(dict)
}

/// One cell as the Python value the Connector SDK accepts for its declared type.
pub fn value_of<'py>(
    py: Python<'py>,
    cell: &Cell,
    utc: &Bound<'py, PyTzInfo>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(match cell {
        Cell::Null => py.None().into_bound(py),
        Cell::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Cell::Int(i) => i.into_pyobject(py)?.into_any(),
        Cell::Float(f) => PyFloat::new(py, f64::from(*f)).into_any(),
        Cell::Double(f) => PyFloat::new(py, *f).into_any(),
        Cell::Text(s) | Cell::Decimal(s) => PyString::new(py, s).into_any(),
        Cell::Bytes(b) => PyBytes::new(py, b).into_any(),
        Cell::Date(d) => PyDate::new(py, d.year(), d.month() as u8, d.day() as u8)?.into_any(),
        Cell::Timestamp(t) => datetime(py, t, None)?,
        Cell::TimestampUtc(t) => datetime(py, t, Some(utc))?,
        Cell::Json(v) => json(py, v)?,
        Cell::Flat(pairs) => {
            let dict = PyDict::new(py);
            for (k, v) in pairs {
                dict.set_item(&**k, value_of(py, v, utc)?)?;
            }
            dict.into_any()
        }
    })
}

fn datetime<'py>(
    py: Python<'py>,
    t: &NaiveDateTime,
    tz: Option<&Bound<'py, PyTzInfo>>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(PyDateTime::new(
        py,
        t.year(),
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        t.nanosecond() / 1000,
        tz,
    )?
    .into_any())
}

/// JSON as Python values, as `json.loads` gives them, except that a number a double would round is its own text (a
/// str), so that json.dumps writes it exactly; integers of any size stay exact.
pub fn json<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            let text = n.to_string();
            if text.contains(['.', 'e', 'E']) {
                if double_holds(&text) {
                    PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
                } else {
                    // json.dumps writes a float by its repr: a number a double would round goes as its own text.
                    PyString::new(py, &text).into_any()
                }
            } else if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else {
                py.import("builtins")?.getattr("int")?.call1((text,))?
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, json(py, v)?)?;
            }
            dict.into_any()
        }
    })
}
