//! connector_accel's Rust core: PostgreSQL and SQL Server sources that discover, read and convert
//! tables for the Fivetran Connector SDK, exposed to Python as `connector_accel._core`.

pub mod arrow_batch;
pub mod config;
pub mod engine;
pub mod error;
pub mod filters;
pub mod flatten;
pub mod incremental;
pub mod messages;
pub mod model;
pub mod monitor;
pub mod mssql;
pub mod plan;
pub mod postgres;
pub mod retry;
pub mod runtime;

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
    m.add_class::<py::source::PostgresSource>()?;
    m.add_class::<py::mssql::MssqlSource>()?;
    m.add_class::<py::reader::BatchReader>()?;
    m.add_class::<py::arrow::ArrowReader>()?;
    m.add_class::<py::arrow::SnapshotHolder>()?;
    m.add_class::<py::arrow::ArrowBatch>()?;
    Ok(())
}
