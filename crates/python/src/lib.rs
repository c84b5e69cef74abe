//! The Python binding of connector_accel's engine: the extension module `connector_accel._core`. The only crate,
//! with the Python package, that touches pyo3 types.

mod aio;
mod arrow;
mod auto;
mod changes;
mod convert;
mod exceptions;
mod form;
mod plans;
mod probe;
mod reader;
mod records;
mod serve;
mod source;
mod tables;
mod wait;

/// Rows become many small allocations (cells, strings) made on the fetchers' threads and freed on others; mimalloc
/// handles that pattern far better than the system allocator (a quarter of the Arrow path's time was in malloc/free).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    exceptions::register(m)?;
    m.add_class::<source::Source>()?;
    m.add_class::<reader::BatchReader>()?;
    m.add_class::<changes::ChangeReader>()?;
    m.add_class::<arrow::ArrowReader>()?;
    m.add_class::<arrow::SnapshotHolder>()?;
    m.add_class::<arrow::ArrowBatch>()?;
    m.add_class::<records::RecordEncoder>()?;
    m.add_function(wrap_pyfunction!(records::_probe_cell, m)?)?;
    m.add_function(wrap_pyfunction!(form::form_fields, m)?)?;
    m.add_function(wrap_pyfunction!(serve::serve, m)?)?;
    auto::register(m)?;
    // Whether `serve` works in this build (a first ./scripts/demo.sh leaves the server out).
    m.add("HAS_SERVER", cfg!(feature = "server"))?;
    Ok(())
}
