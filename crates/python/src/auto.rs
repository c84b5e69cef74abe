//! `update_method=auto`'s decision, record and lines (the core's `catchup::auto_*`, the ones the Partner SDK server
//! uses) for the SDK connector's `connector_accel/auto.py`, which only calls the source and logs. The recorded
//! decision crosses as JSON text (`json.dumps(state.get("update_method"))`), the record back as a dict.

use crate::convert::json;
use crate::exceptions::{to_py, ConfigurationError};
use connector_accel_core::catchup::{self, AutoStart};
use connector_accel_core::error::Error;
use pyo3::prelude::*;
use serde_json::Value;

/// The recorded decision's JSON text as a value ("null": none).
fn recorded(text: &str) -> PyResult<Value> {
    serde_json::from_str(text).map_err(|e| {
        to_py(Error::Conversion(format!(
            "update_method=auto: the state's recorded decision is not JSON: {e}"
        )))
    })
}

/// The first step, before the server is asked: (`"kept"`, logical, recheck, "") for a recorded decision (`recheck`:
/// say whether `check_logical` now succeeds), (`"decided"`, logical, false, why) for one made now without the
/// server, (`"open"`, false, false, "") to open the replication and decide by `auto_opened`.
#[pyfunction]
pub fn auto_start(
    recorded_json: &str,
    has_position: bool,
    slot: &str,
    kind: &str,
) -> PyResult<(&'static str, bool, bool, String)> {
    let value = recorded(recorded_json)?;
    Ok(
        match catchup::auto_start(Some(&value), has_position, slot, kind) {
            AutoStart::Kept { logical, recheck } => ("kept", logical, recheck, String::new()),
            AutoStart::Decided { logical, why } => ("decided", logical, false, why),
            AutoStart::Open => ("open", false, false, String::new()),
        },
    )
}

/// Why the decision is what opening the replication gave: `error` None (it opened: logical) or the
/// `ConfigurationError` it raised (one of the checks': cursor, said by its message). None: not a check's error, the
/// sync fails with it as logical's would.
#[pyfunction]
#[pyo3(signature = (error=None))]
pub fn auto_opened(error: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    let outcome = match error {
        None => Ok(()),
        Some(e) => match config_error(e)? {
            Some(err) => Err(err),
            None => return Ok(None),
        },
    };
    match catchup::auto_opened(outcome) {
        Ok((_, why)) => Ok(Some(why)),
        Err(_) => Ok(None),
    }
}

/// The core's error behind a Python exception: a `ConfigurationError` with its `key` and the message its text
/// carries after the core's own prefix (its `Display`); None for any other exception (no check's).
fn config_error(e: &Bound<'_, PyAny>) -> PyResult<Option<Error>> {
    if !e.is_instance_of::<ConfigurationError>() {
        return Ok(None);
    }
    // getattr(e, "key", None): one raised in Python may have none
    let key = e
        .getattr("key")
        .ok()
        .and_then(|k| k.extract::<String>().ok());
    let Some(key) = key else {
        return Ok(None);
    };
    let text = e.str()?.to_string();
    let prefix = Error::config(&key, "").to_string();
    let message = text.strip_prefix(&prefix).unwrap_or(&text);
    Ok(Some(Error::config(&key, message)))
}

/// The state's record of a decision made now: `{"method", "why", "at"}`.
#[pyfunction]
pub fn auto_record<'py>(py: Python<'py>, logical: bool, why: &str) -> PyResult<Bound<'py, PyAny>> {
    json(py, &catchup::auto_record(logical, why, chrono::Utc::now()))
}

/// The line of a decision made now: (whether a warning, the line).
#[pyfunction]
pub fn auto_decided_line(logical: bool, why: &str) -> (bool, String) {
    catchup::decided_line(logical, why)
}

/// The line of a kept decision (`recorded_json`, as `auto_start` took it): (whether a warning, the line).
/// `now_possible`: a kept cursor's `check_logical` succeeded.
#[pyfunction]
pub fn auto_kept_line(recorded_json: &str, now_possible: bool) -> PyResult<(bool, String)> {
    Ok(catchup::kept_line(&recorded(recorded_json)?, now_possible))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("AUTO_KEY", catchup::AUTO_KEY)?;
    m.add_function(wrap_pyfunction!(auto_start, m)?)?;
    m.add_function(wrap_pyfunction!(auto_opened, m)?)?;
    m.add_function(wrap_pyfunction!(auto_record, m)?)?;
    m.add_function(wrap_pyfunction!(auto_decided_line, m)?)?;
    m.add_function(wrap_pyfunction!(auto_kept_line, m)?)?;
    Ok(())
}
