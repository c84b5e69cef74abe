//! Plans, partitions and watermarks as the plain dicts Python keeps in the connector's state (JSON-friendly, so a
//! checkpoint can carry them and a rerun can hand them back).

use crate::exceptions::to_py;
use connector_accel_core::error::Error;
use connector_accel_core::model::Table;
use connector_accel_core::plan::{Partition, TablePlan};
use connector_accel_core::read::{PartRead, Span};
use connector_accel_core::source::Watermark;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

pub fn plan_dict<'py>(
    py: Python<'py>,
    plan: &TablePlan,
    parts: &[Partition],
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("tier", plan.tier.name())?;
    d.set_item("batch_size", plan.batch_size)?;
    d.set_item("workers", plan.workers.min(parts.len()).max(1))?;
    d.set_item("queue_depth", plan.queue_depth)?;
    d.set_item("checkpoint_rows", plan.checkpoint_rows)?;
    let list = PyList::empty(py);
    for p in parts {
        let part = PyDict::new(py);
        part.set_item("lo", &p.lo)?;
        part.set_item("hi", &p.hi)?;
        list.append(part)?;
    }
    d.set_item("partitions", list)?;
    Ok(d)
}

pub fn watermark_dict<'py>(py: Python<'py>, m: &Watermark) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("high", &m.high)?;
    d.set_item("guard", &m.guard)?;
    d.set_item("sees_all", m.sees_all)?;
    d.set_item("future", m.future)?;
    d.set_item("zone", &m.zone)?;
    Ok(d)
}

fn state_error(message: String) -> PyErr {
    to_py(Error::config("state", format!("{message}; the saved state is not one this version wrote (reset the connector's state to start over)")))
}

fn keys(d: &Bound<'_, PyDict>, name: &str) -> PyResult<Option<Vec<String>>> {
    match d.get_item(name)? {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => v
            .extract()
            .map(Some)
            .map_err(|_| state_error(format!("partition '{name}' is not a list of text"))),
    }
}

/// Partitions as `plan()` returned them, with `after` where a previous run stopped; `index` is their position.
/// States written before 0.2 also carry `"nulls": false`, which is ignored: primary keys are never NULL.
pub fn parts_from(list: &Bound<'_, PyList>) -> PyResult<Vec<PartRead>> {
    let mut parts = Vec::new();
    for (index, item) in list.iter().enumerate() {
        let d = item
            .cast::<PyDict>()
            .map_err(|_| state_error("a partition is not a dict".into()))?;
        if d.get_item("done")?
            .map(|v| v.is_truthy())
            .transpose()?
            .unwrap_or(false)
        {
            continue;
        }
        parts.push(PartRead {
            index,
            range: Partition {
                lo: keys(d, "lo")?,
                hi: keys(d, "hi")?,
            },
            after: keys(d, "after")?,
        });
    }
    Ok(parts)
}

/// The partitions given, or the whole table as one range resumed after `after`.
pub fn parts_or_whole(
    partitions: Option<Bound<'_, PyList>>,
    after: Option<Vec<String>>,
) -> PyResult<Vec<PartRead>> {
    match partitions {
        Some(list) => parts_from(&list),
        None => Ok(vec![PartRead {
            index: 0,
            range: Partition::default(),
            after,
        }]),
    }
}

/// The window of an incremental read, from a watermark dict, for a table that has a cursor.
pub fn span_from(table: &Table, mark: &Bound<'_, PyDict>, lookback_seconds: f64) -> PyResult<Span> {
    let cursor = table.cursor.clone().map_err(|reason| {
        to_py(Error::config(
            "cursor_columns",
            format!("table {} has no cursor ({reason})", table.qualified()),
        ))
    })?;
    let text = |name: &str| -> PyResult<Option<String>> {
        match mark.get_item(name)? {
            Some(v) if !v.is_none() => v
                .extract()
                .map(Some)
                .map_err(|_| state_error(format!("'{name}' is not text"))),
            _ => Ok(None),
        }
    };
    Ok(Span::Since {
        cursor,
        high: text("high")?,
        guard: text("guard")?,
        lookback_seconds,
    })
}
