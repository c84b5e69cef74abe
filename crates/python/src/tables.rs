//! A discovered table as the plain dict `discover()` returns (and `schema()` declares from).

use connector_accel_core::model::{FivetranType, Table};
use connector_accel_core::plan::TablePlan;
use pyo3::prelude::*;
use pyo3::types::PyDict;

fn type_descriptor<'py>(py: Python<'py>, t: FivetranType) -> PyResult<Bound<'py, PyAny>> {
    Ok(match t {
        FivetranType::Decimal { precision, scale } => {
            let d = PyDict::new(py);
            d.set_item("type", "DECIMAL")?;
            d.set_item("precision", precision)?;
            d.set_item("scale", scale)?;
            d.into_any()
        }
        other => other.name().into_pyobject(py)?.into_any(),
    })
}

pub fn describe<'py>(
    py: Python<'py>,
    t: &Table,
    plan: &TablePlan,
    resumable: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("tier", plan.tier.name())?;
    d.set_item("checkpoint_rows", plan.checkpoint_rows)?;
    d.set_item("schema", &t.schema)?;
    d.set_item("table", &t.name)?;
    d.set_item("primary_key", &t.primary_key)?;
    d.set_item("row_estimate", t.row_estimate)?;
    d.set_item("resumable", resumable)?;
    match &t.cursor {
        Ok(c) => {
            d.set_item("cursor", &c.column)?;
            d.set_item("cursor_reason", py.None())?;
        }
        Err(reason) => {
            d.set_item("cursor", py.None())?;
            d.set_item("cursor_reason", reason)?;
        }
    }
    d.set_item("soft_delete", &t.soft_delete)?;
    d.set_item("identity", &t.identity)?;
    d.set_item("filtered", !t.filters.is_empty())?;
    let nullable = PyDict::new(py);
    for c in &t.columns {
        nullable.set_item(&c.name, c.nullable)?;
    }
    d.set_item("nullable", nullable)?;
    let columns = PyDict::new(py);
    let source_types = PyDict::new(py);
    for c in &t.columns {
        columns.set_item(&c.name, type_descriptor(py, c.fivetran_type)?)?;
        source_types.set_item(&c.name, &c.source_type)?;
    }
    for f in &t.flat_columns {
        columns.set_item(&f.name, type_descriptor(py, f.fivetran_type)?)?;
    }
    d.set_item("columns", columns)?;
    d.set_item("source_types", source_types)?;
    Ok(d)
}
