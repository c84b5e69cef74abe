//! tokio-postgres errors as the core's one error type: the SQLSTATE decides what is retried.

use crate::error::{io_transient, Error};

/// A failed statement, described by `context` (what was being done) and the server's own words.
pub fn query(context: &str, err: tokio_postgres::Error) -> Error {
    let transient = transient(&err);
    let (message, sqlstate) = describe(&err);
    Error::Query {
        message: format!("{context}: {message}"),
        sqlstate,
        number: None,
        transient,
    }
}

/// A failed connection attempt to `target` (host and database, never the password).
pub fn connect(target: &str, err: tokio_postgres::Error) -> Error {
    let transient = transient(&err);
    let (message, sqlstate) = describe(&err);
    let hint = match sqlstate.as_deref() {
        Some("28P01") | Some("28000") => {
            "; check 'user' and 'password' (and pg_hba.conf on the server)"
        }
        Some("3D000") => "; check 'database'",
        // sslmode require / verify-ca / verify-full insist on TLS; libpq's own words name no key.
        _ if message.contains("does not support TLS") => {
            "; sslmode require, verify-ca and verify-full need TLS: turn on ssl on the server, or set 'sslmode' to \
             prefer or disable to connect unencrypted"
        }
        _ if message.contains("refused") || message.contains("timed out") => {
            "; check 'host' and 'port' and that the server accepts connections"
        }
        _ => "",
    };
    Error::Connect {
        message: format!("cannot connect to {target}: {message}{hint}"),
        sqlstate,
        number: None,
        transient,
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

/// SQLSTATEs that describe the moment rather than the request: connection failures (class 08), serialization
/// failure and deadlock, administrator or crash shutdowns, too many connections, and cancellation by timeout.
pub fn transient_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "53300" | "57014" | "55P03"
        )
}

/// Server errors are transient by SQLSTATE; client-side ones when the connection broke (closed, reset, timed
/// out). A TLS or certificate failure is not: it fails the same way every time.
fn transient(err: &tokio_postgres::Error) -> bool {
    if let Some(db) = err.as_db_error() {
        return transient_sqlstate(db.code().code());
    }
    if err.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return io_transient(io.kind());
        }
        source = cause.source();
    }
    // With no server error and no I/O cause: an unexpected end of the stream, which is the connection going away.
    err.to_string().contains("closed") || err.to_string().contains("unexpected EOF")
}

#[cfg(test)]
mod tests {
    use super::transient_sqlstate;

    #[test]
    fn sqlstates_are_classified() {
        for code in [
            "08006", "08001", "40001", "40P01", "57P01", "57P02", "57P03", "53300",
        ] {
            assert!(transient_sqlstate(code), "{code} should be retried");
        }
        for code in [
            "28P01", "28000", "42P01", "42501", "42703", "22P02", "3D000",
        ] {
            assert!(!transient_sqlstate(code), "{code} should fail at once");
        }
    }
}
