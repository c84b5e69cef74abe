//! `BatchReader`: a Python iterator of ready dict batches over a table read running on the shared runtime.

use crate::aio::Shared;
use crate::convert::{batch as batch_list, Context};
use crate::exceptions::ToPy;
use crate::records::{self, RecordEncoder};
use crate::wait::wait;
use connector_accel_core::error::{Error, Result};
use connector_accel_core::messages::Messages;
use connector_accel_core::monitor::Monitor;
use connector_accel_core::read::Batch;
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTzInfo};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::Receiver;

type Queue = Arc<tokio::sync::Mutex<Option<Receiver<Result<Batch>>>>>;

/// Iterates over lists of row dicts. `last_key` is the primary key of the last row handed out, as text, for a
/// checkpoint; `take_warnings()` returns what the read noticed since the last call.
#[pyclass(frozen, module = "connector_accel._core")]
pub struct BatchReader {
    queue: Queue,
    names: Vec<String>,
    keys: Vec<Py<PyString>>,
    flat_keys: Mutex<HashMap<Arc<str>, Py<PyString>>>,
    utc: Py<PyTzInfo>,
    last_key: Mutex<Option<Vec<String>>>,
    warnings: Mutex<Vec<String>>,
    rows: AtomicU64,
    last_partition: Mutex<Option<usize>>,
    log: Messages,
    /// Samples resources for this read; stops when the reader goes.
    _monitor: Option<Monitor>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl BatchReader {
    pub fn new(
        py: Python<'_>,
        receiver: Receiver<Result<Batch>>,
        columns: &[String],
        log: Messages,
        monitor: Option<Monitor>,
    ) -> PyResult<Self> {
        Ok(BatchReader {
            queue: Arc::new(tokio::sync::Mutex::new(Some(receiver))),
            names: columns.to_vec(),
            keys: columns
                .iter()
                .map(|c| PyString::intern(py, c).unbind())
                .collect(),
            flat_keys: Mutex::new(HashMap::new()),
            utc: PyTzInfo::utc(py)?.to_owned().unbind(),
            last_key: Mutex::new(None),
            warnings: Mutex::new(Vec::new()),
            rows: AtomicU64::new(0),
            last_partition: Mutex::new(None),
            log,
            _monitor: monitor,
        })
    }
}

async fn receive(queue: &Queue) -> Option<Result<Batch>> {
    match queue.lock().await.as_mut() {
        None => None,
        Some(receiver) => receiver.recv().await,
    }
}

/// What a received batch becomes on the Python side.
enum Shape<'e> {
    Dicts,
    Records {
        encoder: &'e RecordEncoder,
        checked: bool,
    },
}

impl BatchReader {
    /// A received batch as Python objects of `shape`; records its position and warnings.
    fn deliver<'py>(
        &self,
        py: Python<'py>,
        batch: Batch,
        shape: Shape<'_>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Batch {
            partition,
            rows,
            last_key,
            warnings,
            ..
        } = batch;
        let keys: Vec<Bound<'py, PyString>> =
            self.keys.iter().map(|k| k.bind(py).clone()).collect();
        let utc = self.utc.bind(py);
        let mut flat_keys = lock(&self.flat_keys);
        let mut ctx = Context {
            keys: &keys,
            flat_keys: &mut flat_keys,
            utc,
        };
        let out = match shape {
            Shape::Dicts => batch_list(py, &rows, &mut ctx)?.into_any(),
            Shape::Records { encoder, checked } => {
                records::batch(py, encoder, &self.names, &rows, &mut ctx, checked)?
            }
        };
        drop(flat_keys);
        self.rows.fetch_add(rows.len() as u64, Ordering::Relaxed);
        *lock(&self.last_key) = last_key;
        *lock(&self.last_partition) = Some(partition);
        lock(&self.warnings).extend(warnings);
        // Freed here, outside the interpreter's allocator, while Python goes on with the batch.
        py.detach(move || drop(rows));
        Ok(out)
    }

    fn receive_blocking(&self, py: Python<'_>) -> PyResult<Option<Batch>> {
        let queue = self.queue.clone();
        let next = wait(py, async move { Ok::<_, Error>(receive(&queue).await) })?;
        next.transpose().py()
    }
}

#[pymethods]
impl BatchReader {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.receive_blocking(py)? {
            None => Ok(None),
            Some(batch) => self.deliver(py, batch, Shape::Dicts).map(Some),
        }
    }

    /// The next batch as the Connector SDK's `Record` objects (the fast emit path): `(records, rows as dicts that
    /// the SDK must encode itself, deletes among the records)`; with `checked`, a list of `(dict, record or None)`
    /// per row instead, to compare with the SDK's own encoding. None at the end.
    #[pyo3(signature = (encoder, checked=false))]
    fn next_records<'py>(
        &self,
        py: Python<'py>,
        encoder: &RecordEncoder,
        checked: bool,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.receive_blocking(py)? {
            None => Ok(None),
            Some(batch) => self
                .deliver(py, batch, Shape::Records { encoder, checked })
                .map(Some),
        }
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// The next batch, awaited on the shared runtime without blocking the event loop.
    fn __anext__<'py>(slf: Py<Self>, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let queue = slf.get().queue.clone();
        pyo3_async_runtimes::generic::future_into_py::<Shared, _, Py<PyAny>>(py, async move {
            let next = receive(&queue).await;
            Python::attach(|py| match next {
                None => Err(PyStopAsyncIteration::new_err(())),
                Some(result) => Ok(slf.get().deliver(py, result.py()?, Shape::Dicts)?.unbind()),
            })
        })
    }

    /// The primary key of the last row handed out, as text values (None for a table without a key).
    #[getter]
    fn last_key(&self) -> Option<Vec<String>> {
        lock(&self.last_key).clone()
    }

    /// The partition (its index in the plan) the last batch came from.
    #[getter]
    fn last_partition(&self) -> Option<usize> {
        *lock(&self.last_partition)
    }

    /// Retries, snapshot changes and resource adjustments (level, text) since the last call.
    fn take_log(&self) -> Vec<(String, String)> {
        self.log.take_named()
    }

    /// Rows handed out so far.
    #[getter]
    fn rows_read(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    /// Warnings since the last call (values that could not arrive as themselves), each once per column.
    fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.warnings))
    }

    /// Stops the read and releases its connection; later iteration ends at once.
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
        _exc_type: Option<Bound<'_, PyAny>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
}
