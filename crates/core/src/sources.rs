//! The one place that knows every source: a configuration's connection picks its implementation of
//! `source::Source`. Front ends call `open` and drive the result through the trait alone.

use crate::config::Connection;
use crate::source::Source;
use std::sync::Arc;

/// The source a configuration names.
pub fn open(connection: &Connection) -> Arc<dyn Source> {
    match connection {
        Connection::Postgres(c) => Arc::new(crate::postgres::PgSource::new(c.clone())),
        Connection::Mssql(c) => Arc::new(crate::mssql::MssqlSource::new(c.clone())),
        Connection::Snowflake(c) => Arc::new(crate::snowflake::SnowflakeSource::new(c.clone())),
    }
}
