//! The Snowflake source: our own client of Snowflake's HTTP protocol (login, sessions, statements, Arrow results
//! in chunks), catalog discovery, types, statements and partitioned reads. Plans, retries, limits, batches and
//! state are the shared engine's; only what Snowflake does differently is here.

pub mod client;
pub mod decode;
pub mod describe;
pub mod discover;
pub mod errors;
pub mod http;
pub mod jwt;
pub mod pace;
mod preprocess;
pub mod read;
pub mod result;
mod source;
pub mod sql;
pub mod types;

pub use source::SnowflakeSource;
