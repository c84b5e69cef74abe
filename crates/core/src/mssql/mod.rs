//! The SQL Server source (tiberius): connection and TLS, catalog discovery, types, statements and partitioned reads.
//! Plans, retries, limits, batches and state are the shared engine's; only what SQL Server does differently is here.

pub mod connect;
pub mod decode;
pub mod discover;
pub mod errors;
mod estimate;
pub mod read;
mod source;
pub mod sql;
pub mod types;

pub use source::MssqlSource;
