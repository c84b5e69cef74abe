//! The Python exception hierarchy, one class per error variant, carrying the SQLSTATE where there is one.

use connector_accel_core::error::Error;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    connector_accel,
    ConnectorAccelError,
    PyException,
    "Base class of every connector_accel error."
);
create_exception!(
    connector_accel,
    ConfigurationError,
    ConnectorAccelError,
    "A configuration value is missing or invalid; `key` names it."
);
create_exception!(
    connector_accel,
    SourceConnectionError,
    ConnectorAccelError,
    "The source could not be reached or refused the login."
);
create_exception!(
    connector_accel,
    QueryError,
    ConnectorAccelError,
    "A statement failed on the source; `sqlstate` (PostgreSQL) or `number` (SQL Server) says why."
);
create_exception!(
    connector_accel,
    ConversionError,
    ConnectorAccelError,
    "A value could not be converted to its column's type."
);
create_exception!(
    connector_accel,
    ReaderClosedError,
    ConnectorAccelError,
    "The reader was closed."
);
create_exception!(
    connector_accel,
    ReadInterruptedError,
    ConnectorAccelError,
    "A wait was interrupted (Ctrl-C); KeyboardInterrupt is raised as well."
);
create_exception!(
    connector_accel,
    InternalError,
    ConnectorAccelError,
    "A bug in connector_accel, not in the data or the configuration; please report it."
);

/// The Python exception for a core error. A function, not `From`: the orphan rule forbids `From<Error> for PyErr`
/// outside the core, and the core knows no pyo3.
pub fn to_py(err: Error) -> PyErr {
    {
        let message = err.to_string();
        let sqlstate = err.sqlstate().map(str::to_string);
        let number = err.number();
        let key = match &err {
            Error::Config { key, .. } => Some(key.clone()),
            _ => None,
        };
        let py_err = match err {
            Error::Config { .. } => ConfigurationError::new_err(message),
            Error::Connect { .. } => SourceConnectionError::new_err(message),
            Error::Query { .. } => QueryError::new_err(message),
            Error::Conversion(_) => ConversionError::new_err(message),
            Error::Closed => ReaderClosedError::new_err(message),
            Error::Interrupted(_) => ReadInterruptedError::new_err(message),
            Error::Internal(_) => InternalError::new_err(message),
        };
        Python::attach(|py| {
            let value = py_err.value(py);
            // Setting attributes on a fresh exception instance cannot fail in practice; if it did, the error itself
            // still carries the message, which matters more than its attributes.
            let _ = value.setattr("sqlstate", sqlstate);
            let _ = value.setattr("key", key);
            let _ = value.setattr("number", number);
        });
        py_err
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ConnectorAccelError", py.get_type::<ConnectorAccelError>())?;
    m.add("ConfigurationError", py.get_type::<ConfigurationError>())?;
    m.add(
        "SourceConnectionError",
        py.get_type::<SourceConnectionError>(),
    )?;
    m.add("QueryError", py.get_type::<QueryError>())?;
    m.add("ConversionError", py.get_type::<ConversionError>())?;
    m.add("ReaderClosedError", py.get_type::<ReaderClosedError>())?;
    m.add(
        "ReadInterruptedError",
        py.get_type::<ReadInterruptedError>(),
    )?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    Ok(())
}

/// `?` on a core result where a `PyResult` is wanted: `result.py()?`.
pub trait ToPy<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> ToPy<T> for Result<T, Error> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
