//! The one error type of the core. The Python binding (`crates/python`, `exceptions.rs`) maps each variant to a Python class.

/// Everything the core can fail with. Messages name what failed and what to do; they never carry a secret.
/// Each driver maps its own errors into it (`postgres/errors.rs`, `mssql/errors.rs`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A configuration value is missing or invalid; `key` is the configuration key to fix.
    #[error("configuration key '{key}': {message}")]
    Config { key: String, message: String },

    /// The source could not be reached or refused the login.
    #[error("{message}")]
    Connect {
        message: String,
        sqlstate: Option<String>,
        /// SQL Server's error number (sys.messages), where the server sent one.
        number: Option<i32>,
        /// Worth retrying: the network or the server's state, not the request, was at fault.
        transient: bool,
    },

    /// A statement failed on the source.
    #[error("{message}")]
    Query {
        message: String,
        sqlstate: Option<String>,
        number: Option<i32>,
        transient: bool,
    },

    /// A value could not be converted to what its column declares.
    #[error("{0}")]
    Conversion(String),

    /// The reader was closed while a caller still waited on it.
    #[error("the reader is closed")]
    Closed,

    /// The user interrupted a wait (Ctrl-C); the interpreter raises KeyboardInterrupt as well.
    #[error("{0}")]
    Interrupted(String),

    /// A bug of ours (a panicked task, a column of another source): never the data's or the user's fault.
    #[error("internal error: {0}; please report it")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn config(key: &str, message: impl Into<String>) -> Self {
        Error::Config {
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// The SQLSTATE of a database error, where the server sent one.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Error::Connect { sqlstate, .. } | Error::Query { sqlstate, .. } => sqlstate.as_deref(),
            _ => None,
        }
    }

    /// SQL Server's error number, where the server sent one.
    pub fn number(&self) -> Option<i32> {
        match self {
            Error::Connect { number, .. } | Error::Query { number, .. } => *number,
            _ => None,
        }
    }

    /// Whether retrying (after a pause, on a new connection) can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Connect {
                transient: true,
                ..
            } | Error::Query {
                transient: true,
                ..
            }
        )
    }
}

/// Socket failures that a reconnect can get past: the connection broke, was refused or timed out.
pub fn io_transient(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        kind,
        ConnectionReset
            | ConnectionAborted
            | ConnectionRefused
            | BrokenPipe
            | TimedOut
            | UnexpectedEof
            | NotConnected
            | Interrupted
    )
}
