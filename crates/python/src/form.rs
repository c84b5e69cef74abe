//! The setup form's fields (`connector_accel_core::form`, the one definition) as plain dicts, from which
//! `connector_accel.form` builds the Connector SDK's form.

use connector_accel_core::form::{fields, Kind};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// `source`'s fields: name, label, description, kind ("text", "dropdown", "toggle") and, by kind, required /
/// placeholder / secret or the options as (value, description) pairs.
#[pyfunction]
pub fn form_fields<'py>(py: Python<'py>, source: &str) -> PyResult<Bound<'py, PyList>> {
    let found = fields(source).ok_or_else(|| {
        PyValueError::new_err(format!("source: '{source}' is not postgres or sqlserver"))
    })?;
    let list = PyList::empty(py);
    for field in found {
        let d = PyDict::new(py);
        d.set_item("name", field.name)?;
        d.set_item("label", field.label)?;
        d.set_item("description", field.description)?;
        match field.kind {
            Kind::Text {
                required,
                placeholder,
                secret,
            } => {
                d.set_item("kind", "text")?;
                d.set_item("required", required)?;
                d.set_item("placeholder", placeholder)?;
                d.set_item("secret", secret)?;
            }
            Kind::Dropdown(options) => {
                d.set_item("kind", "dropdown")?;
                d.set_item("options", options.to_vec())?;
            }
            Kind::Toggle => d.set_item("kind", "toggle")?,
        }
        list.append(d)?;
    }
    Ok(list)
}
