//! connector_accel's engine: PostgreSQL and SQL Server sources that discover, plan, read and convert tables, for
//! any front end (the Python binding `connector_accel._core`, the Partner SDK server). This crate knows neither
//! pyo3 nor tonic; `tests/test_architecture.py` checks that.

// The source-neutral core.
pub mod arrow_batch;
pub mod catalog;
pub mod catchup;
pub mod changes;
pub mod config;
pub mod connector;
pub mod encode;
pub mod engine;
pub mod error;
pub mod fetch;
pub mod filters;
pub mod flatten;
pub mod form;
pub mod incremental;
pub mod messages;
pub mod model;
pub mod monitor;
pub mod plan;
pub mod pool;
pub mod preprocess;
pub mod read;
pub mod retry;
pub mod runtime;
pub mod source;
pub mod sources;
pub mod statement;
mod tls;

// The sources, side by side behind `source::Source`; none imports another.
pub mod mssql;
pub mod postgres;
pub mod snowflake;
