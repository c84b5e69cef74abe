//! The PostgreSQL source: connect (with TLS), discover the catalog, read tables as bounded streams of batches.

pub mod connect;
pub mod decode;
pub mod describe;
pub mod discover;
pub mod errors;
pub mod jumps;
pub mod locks;
pub mod parallel;
pub mod planning;
pub mod preprocess;
pub mod read;
pub mod replication;
pub mod sessions;
mod source;
pub mod sql;
mod tls;
pub mod types;

pub use source::PgSource;
