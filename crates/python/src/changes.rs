//! `ChangeReader`: a Python iterator over batches of change events from a source's log (logical replication),
//! read on the shared runtime; and the slot status as a dict.

use crate::convert::value_of;
use crate::exceptions::ToPy;
use crate::wait::wait;
use connector_accel_core::changes::{ChangeBatch, SlotStatus};
use connector_accel_core::error::{Error, Result};
use connector_accel_core::messages::Messages;
use connector_accel_core::model::Cell;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTzInfo};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::Receiver;

type Queue = Arc<tokio::sync::Mutex<Option<Receiver<Result<ChangeBatch>>>>>;

/// Iterates over batches of events in commit order. Each batch is a dict: `changes` (a list of
/// `(operation, schema, table, row, lsn)`, operation one of upsert / update / delete / truncate, `row` holding
/// only the columns the event carries, `lsn` the transaction's commit position), `committed` (the position a
/// checkpoint may name once this batch is handed over, or None), `resync` (tables the log cannot keep exact,
/// as `(schema, table, why)`) and `warnings`.
#[pyclass(frozen, module = "connector_accel._core")]
pub struct ChangeReader {
    queue: Queue,
    utc: Py<PyTzInfo>,
    log: Messages,
    events: Mutex<u64>,
}

impl ChangeReader {
    pub fn new(
        py: Python<'_>,
        receiver: Receiver<Result<ChangeBatch>>,
        log: Messages,
    ) -> PyResult<Self> {
        Ok(ChangeReader {
            queue: Arc::new(tokio::sync::Mutex::new(Some(receiver))),
            utc: PyTzInfo::utc(py)?.to_owned().unbind(),
            log,
            events: Mutex::new(0),
        })
    }

    fn deliver<'py>(&self, py: Python<'py>, batch: ChangeBatch) -> PyResult<Bound<'py, PyDict>> {
        let utc = self.utc.bind(py);
        let changes = PyList::empty(py);
        let mut names: Option<(String, String, Vec<Bound<'py, PyString>>)> = None;
        for c in &batch.changes {
            let same = names
                .as_ref()
                .is_some_and(|(s, t, _)| *s == c.table.schema && *t == c.table.name);
            if !same {
                let keys = c
                    .table
                    .columns
                    .iter()
                    .map(|col| PyString::intern(py, &col.name))
                    .collect();
                names = Some((c.table.schema.clone(), c.table.name.clone(), keys));
            }
            let keys = &names
                .as_ref()
                .map(|n| &n.2)
                .ok_or_else(|| Error::Internal("no keys".into()))
                .py()?;
            let row = PyDict::new(py);
            for (i, cell) in c.cells.iter().enumerate() {
                match cell {
                    None => {}
                    Some(Cell::Flat(pairs)) => {
                        for (k, v) in pairs {
                            row.set_item(&**k, value_of(py, v, utc)?)?;
                        }
                    }
                    Some(cell) => row.set_item(&keys[i], value_of(py, cell, utc)?)?,
                }
            }
            let lsn = c.lsn.to_string();
            changes.append((c.op.name(), &c.table.schema, &c.table.name, row, lsn))?;
        }
        *self.events.lock().unwrap_or_else(|p| p.into_inner()) += batch.changes.len() as u64;
        let out = PyDict::new(py);
        out.set_item("changes", changes)?;
        out.set_item("committed", batch.committed.map(|l| l.to_string()))?;
        out.set_item("resync", batch.resync)?;
        out.set_item("warnings", batch.warnings)?;
        Ok(out)
    }
}

#[pymethods]
impl ChangeReader {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let queue = self.queue.clone();
        let next = wait(py, async move {
            Ok::<_, Error>(match queue.lock().await.as_mut() {
                None => None,
                Some(r) => r.recv().await,
            })
        })?;
        match next.transpose().py()? {
            None => Ok(None),
            Some(batch) => self.deliver(py, batch).map(Some),
        }
    }

    /// Events handed out so far.
    #[getter]
    fn events(&self) -> u64 {
        *self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Messages of the read (level, text) since the last call.
    fn take_log(&self) -> Vec<(String, String)> {
        self.log.take_named()
    }

    /// Stops the read and frees its session.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let queue = self.queue.clone();
        wait(py, async move {
            queue.lock().await.take();
            Ok::<_, Error>(())
        })
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc: Option<&Bound<'_, PyAny>>,
        tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let _ = (exc_type, exc, tb);
        self.close(py)?;
        Ok(false)
    }
}

/// The slot status as a dict (positions as pg_lsn text).
pub fn status_dict<'py>(
    py: Python<'py>,
    s: &SlotStatus,
    tables: &[(String, String)],
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("slot", &s.slot)?;
    d.set_item("publication", &s.publication)?;
    d.set_item("created", s.created)?;
    d.set_item("gap", &s.gap)?;
    d.set_item("confirmed", s.confirmed.map(|l| l.to_string()))?;
    d.set_item("upto", s.upto.to_string())?;
    d.set_item("retained_bytes", s.retained_bytes)?;
    d.set_item("excluded", &s.excluded)?;
    let parts = PyDict::new(py);
    for (schema, table, oids) in &s.partitions {
        parts.set_item(format!("{schema}.{table}"), oids)?;
    }
    d.set_item("partitions", parts)?;
    d.set_item("tables", tables.to_vec())?;
    d.set_item("warnings", &s.warnings)?;
    Ok(d)
}
