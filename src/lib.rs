//! connector_accel's Rust core: PostgreSQL and SQL Server sources that discover, read and convert
//! tables for the Fivetran Connector SDK, exposed to Python as `connector_accel._core`.

// The source-neutral core.
pub mod arrow_batch;
pub mod catalog;
pub mod config;
pub mod encode;
pub mod engine;
pub mod error;
pub mod fetch;
pub mod filters;
pub mod flatten;
pub mod incremental;
pub mod messages;
pub mod model;
pub mod monitor;
pub mod plan;
pub mod pool;
pub mod read;
pub mod retry;
pub mod runtime;
pub mod source;
pub mod statement;

// The sources, side by side behind `source::Source`; neither imports the other.
pub mod mssql;
pub mod postgres;

mod py;

/// Rows become many small allocations (cells, strings) made on the fetchers' threads and freed on others; mimalloc
/// handles that pattern far better than the system allocator (a quarter of the Arrow path's time was in malloc/free).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    py::exceptions::register(m)?;
    m.add_class::<py::source::Source>()?;
    m.add_class::<py::reader::BatchReader>()?;
    m.add_class::<py::arrow::ArrowReader>()?;
    m.add_class::<py::arrow::SnapshotHolder>()?;
    m.add_class::<py::arrow::ArrowBatch>()?;
    m.add_class::<py::records::RecordEncoder>()?;
    m.add_function(wrap_pyfunction!(py::records::_probe_cell, m)?)?;
    Ok(())
}
