//! `ArrowReader`: an Arrow stream handed to Python only through the PyCapsule interface (`__arrow_c_stream__`), so
//! pyarrow, polars, duckdb and pandas take the batches without copies.

use crate::exceptions::{to_py, ToPy};
use arrow::ffi_stream::FFI_ArrowArrayStream;
use connector_accel_core::arrow_batch::Stream;
use connector_accel_core::error::Error;
use connector_accel_core::messages::Messages;
use connector_accel_core::monitor::Monitor;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use std::sync::Mutex;

/// Whether Ctrl-C was pressed, asked from the consumer's thread while it waits for a batch. The interrupt is
/// raised again, so Python sees KeyboardInterrupt once the consumer returns.
pub fn interrupted() -> bool {
    Python::attach(|py| match py.check_signals() {
        Ok(()) => false,
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) => {
            // SAFETY: PyErr_SetInterrupt only sets a flag the interpreter checks; the GIL is held here.
            #[allow(unsafe_code)]
            unsafe {
                pyo3::ffi::PyErr_SetInterrupt()
            };
            true
        }
        Err(e) => {
            e.restore(py);
            true
        }
    })
}

type Shared = std::sync::Arc<tokio::sync::Mutex<Option<Stream>>>;

#[pyclass(frozen, module = "connector_accel._core")]
pub struct ArrowReader {
    stream: Shared,
    failure: connector_accel_core::arrow_batch::Failure,
    log: Messages,
    _monitor: Option<Monitor>,
}

impl ArrowReader {
    pub fn new(stream: Stream, log: Messages, monitor: Option<Monitor>) -> Self {
        ArrowReader {
            failure: stream.failure(),
            stream: std::sync::Arc::new(tokio::sync::Mutex::new(Some(stream))),
            log,
            _monitor: monitor,
        }
    }
}

#[pymethods]
impl ArrowReader {
    /// The stream, once: a capsule named `arrow_array_stream`. A consumer that does not take it lets the capsule
    /// release it, which stops the read and closes its connections.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema; // the source's own types are the exact ones; casting is the consumer's choice
        let stream = self
            .stream
            .blocking_lock()
            .take()
            .ok_or(Error::Closed)
            .py()?;
        let ffi = FFI_ArrowArrayStream::new(Box::new(stream));
        PyCapsule::new_with_value(py, ffi, c"arrow_array_stream")
    }

    /// Retries, snapshot changes and resource adjustments (level, text) since the last call.
    fn take_log(&self) -> Vec<(String, String)> {
        self.log.take_named()
    }

    /// The error that ended the stream, as this package's exception (with `sqlstate` / `number`), or None. The
    /// Arrow consumer raises its own error class with the message only (the C stream interface carries no more).
    #[getter]
    fn error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        let failed = self
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        failed.map(|e| to_py(e).into_value(py).into_any())
    }

    /// Stops the read if the stream was never taken.
    fn close(&self) {
        self.stream.blocking_lock().take();
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// The next record batch, awaited on the shared runtime, as an object with `__arrow_c_array__`
    /// (`pyarrow.record_batch(batch)` takes it without a copy). Not to be mixed with `__arrow_c_stream__`.
    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream.clone();
        pyo3_async_runtimes::generic::future_into_py::<crate::aio::Shared, _, ArrowBatch>(
            py,
            async move {
                let mut guard = stream.lock().await;
                let next = match guard.as_mut() {
                    None => None,
                    Some(s) => s.next_async().await,
                };
                match next {
                    None => Err(pyo3::exceptions::PyStopAsyncIteration::new_err(())),
                    Some(batch) => Ok(ArrowBatch { batch: batch.py()? }),
                }
            },
        )
    }
}

/// An exported snapshot and the session that keeps it importable; `close()` (or dropping it) ends both.
#[pyclass(frozen, module = "connector_accel._core")]
pub struct SnapshotHolder {
    id: String,
    session: Mutex<Option<Box<dyn std::any::Any + Send + Sync>>>,
}

impl SnapshotHolder {
    pub fn new(snapshot: connector_accel_core::source::Snapshot) -> Self {
        SnapshotHolder {
            id: snapshot.id,
            session: Mutex::new(Some(snapshot.holder)),
        }
    }
}

#[pymethods]
impl SnapshotHolder {
    /// The id readers import (`SET TRANSACTION SNAPSHOT`).
    #[getter]
    fn id(&self) -> String {
        self.id.clone()
    }

    fn close(&self) {
        self.session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        _exc_type: Option<Bound<'_, PyAny>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> bool {
        self.close();
        false
    }
}

/// One record batch, handed over through the PyCapsule array interface (`__arrow_c_array__`).
#[pyclass(frozen, module = "connector_accel._core")]
pub struct ArrowBatch {
    batch: arrow::record_batch::RecordBatch,
}

#[pymethods]
impl ArrowBatch {
    #[getter]
    fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyCapsule>, Bound<'py, PyCapsule>)> {
        let _ = requested_schema;
        let data =
            arrow::array::Array::into_data(arrow::array::StructArray::from(self.batch.clone()));
        let (array, schema) = arrow::ffi::to_ffi(&data)
            .map_err(|e| to_py(Error::Conversion(format!("exporting a record batch: {e}"))))?;
        Ok((
            PyCapsule::new_with_value(py, schema, c"arrow_schema")?,
            PyCapsule::new_with_value(py, array, c"arrow_array")?,
        ))
    }
}
