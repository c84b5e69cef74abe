//! The one error type of the core. `py/exceptions.rs` maps each variant to a Python class.

/// Everything the core can fail with. Messages name what failed and what to do; they never carry a secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is missing or invalid; `key` is the configuration key to fix.
    #[error("configuration key '{key}': {message}")]
    Config { key: String, message: String },

    /// The source could not be reached or refused the login.
    #[error("{message}")]
    Connect {
        message: String,
        sqlstate: Option<String>,
    },

    /// A statement failed on the source.
    #[error("{message}")]
    Query {
        message: String,
        sqlstate: Option<String>,
    },

    /// A value could not be converted to what its column declares.
    #[error("{0}")]
    Conversion(String),

    /// The reader was closed while a caller still waited on it.
    #[error("the reader is closed")]
    Closed,
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

    /// A failed statement, described by `context` (what was being done) and the server's own words.
    pub fn query(context: &str, err: tokio_postgres::Error) -> Self {
        let (message, sqlstate) = describe(&err);
        Error::Query {
            message: format!("{context}: {message}"),
            sqlstate,
        }
    }

    /// A failed connection attempt to `target` (host and database, never the password).
    pub fn connect(target: &str, err: tokio_postgres::Error) -> Self {
        let (message, sqlstate) = describe(&err);
        let hint = match sqlstate.as_deref() {
            Some("28P01") | Some("28000") => {
                "; check 'user' and 'password' (and pg_hba.conf on the server)"
            }
            Some("3D000") => "; check 'database'",
            _ if message.contains("refused") || message.contains("timed out") => {
                "; check 'host' and 'port' and that the server accepts connections"
            }
            _ => "",
        };
        Error::Connect {
            message: format!("cannot connect to {target}: {message}{hint}"),
            sqlstate,
        }
    }
}

/// The server's message (with detail and hint) and SQLSTATE, or the client-side cause chain.
fn describe(err: &tokio_postgres::Error) -> (String, Option<String>) {
    if let Some(db) = err.as_db_error() {
        let mut message = db.message().to_string();
        if let Some(detail) = db.detail() {
            message.push_str(&format!(" ({detail})"));
        }
        if let Some(hint) = db.hint() {
            message.push_str(&format!("; hint: {hint}"));
        }
        return (message, Some(db.code().code().to_string()));
    }
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    (message, None)
}
