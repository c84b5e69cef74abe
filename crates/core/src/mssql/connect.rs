//! Opening a tiberius session over TCP with SQL Server authentication, with the TLS settings the configuration
//! asks for. Certificates are verified (chain and host name) unless `trust_server_certificate` says otherwise, or
//! `encrypt=off` without a `cert`: Microsoft's drivers do not validate the certificate that encrypts only the login
//! (their Encrypt=false), and SQL Server's own self-signed one would otherwise refuse every such login.

use super::errors;
use crate::config::{Encrypt, MssqlConnection};
use crate::error::{Error, Result};
use std::sync::Arc;
use std::time::Duration;
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

pub type Session = Client<Compat<TcpStream>>;

fn config(conn: &MssqlConnection, application: &str) -> Config {
    let mut config = Config::new();
    config.host(&conn.host);
    config.port(conn.port);
    config.database(&conn.database);
    config.application_name(application);
    config.authentication(AuthMethod::sql_server(&conn.user, &conn.password));
    config.encryption(match conn.encrypt {
        Encrypt::On => EncryptionLevel::Required,
        Encrypt::Strict => EncryptionLevel::Strict,
        Encrypt::Off => EncryptionLevel::Off,
        Encrypt::Disable => EncryptionLevel::NotSupported,
    });
    // One bound for the whole login, `connect_timeout` (below): tiberius' own handshake bound (15 s) would fire
    // inside it with advice naming its Rust API.
    config.handshake_timeout(None);
    if conn.trust_server_certificate || conn.login_only_unverified() {
        config.trust_cert();
    } else if let Some(ca) = &conn.ca {
        if ca.starts_with("-----BEGIN") {
            config.trust_cert_ca_bundle(ca.as_bytes().to_vec());
        } else {
            config.trust_cert_ca(ca);
        }
    }
    if let Some(name) = &conn.cert_server {
        config.hostname_in_certificate(name);
    }
    config
}

/// A logged-in session, or an error naming host, port and database (never the password).
pub async fn connect_as(conn: &MssqlConnection, application: &str) -> Result<Session> {
    let target = conn.target();
    let timeout = Duration::from_secs(conn.connect_timeout_s);
    let attempt = async {
        let tcp = TcpStream::connect((conn.host.as_str(), conn.port))
            .await
            .map_err(|e| {
                errors::connect(
                    &target,
                    tiberius::error::Error::Io {
                        kind: e.kind(),
                        message: format!("{e}; check 'mssql_server' and 'mssql_port'"),
                    },
                )
            })?;
        tcp.set_nodelay(true).ok();
        // Probes after a minute of silence: a half-open connection is found by the OS, beside the read watchdog.
        let keepalive = socket2::TcpKeepalive::new().with_time(Duration::from_secs(60));
        socket2::SockRef::from(&tcp)
            .set_tcp_keepalive(&keepalive)
            .ok();
        // Boxed: tiberius' login future is ~17 KB, and every caller's future would carry it on the stack.
        Box::pin(Client::connect(
            config(conn, application),
            tcp.compat_write(),
        ))
        .await
        .map_err(|e| errors::connect(&target, e))
    };
    let outcome = tokio::time::timeout(timeout, attempt).await;
    if conn.encrypt == Encrypt::Strict {
        // A server without TDS 8.0 takes the TLS hello for a malformed pre-login: it hangs up or never answers.
        return outcome
            .unwrap_or_else(|_| Err(no_strict_answer(conn, "no answer")))
            .map_err(|e| match e {
                Error::Connect {
                    message,
                    number: None,
                    ..
                } if !message.contains("certificate") => no_strict_answer(conn, &message),
                other => other,
            });
    }
    outcome.map_err(|_| Error::Connect {
        message: format!(
            "cannot connect to {target}: no answer within {}s; check 'mssql_server' and 'mssql_port' or raise 'connect_timeout'",
            conn.connect_timeout_s
        ),
        sqlstate: None,
        number: None,
        transient: true,
    })?
}

/// `encrypt=strict` that failed before any server error: the server did not take part in a TDS 8.0 handshake.
fn no_strict_answer(conn: &MssqlConnection, what: &str) -> Error {
    Error::Connect {
        message: format!(
            "cannot connect to {}: the server did not complete a TDS 8.0 handshake (encrypt=strict) within {}s, \
             the bound 'connect_timeout' sets ({what}); strict needs SQL Server 2022 or later set to strict encryption: set 'encrypt' to on for other servers",
            conn.target(),
            conn.connect_timeout_s
        ),
        sqlstate: None,
        number: None,
        transient: false,
    }
}

pub async fn connect(conn: &MssqlConnection) -> Result<Session> {
    connect_as(conn, "connector_accel").await
}

/// tiberius cannot tell whether a session's connection has ended: a broken idle session fails its next statement
/// as transient, and the read that saw it clears the pool before retrying.
impl crate::pool::Pooled for Session {
    fn is_closed(&self) -> bool {
        false
    }
}

/// A pool of logged-in sessions on `conn`. SQL Server fixes `application_name` at login, so pooled sessions are
/// all `connector_accel`.
pub fn pool(conn: Arc<MssqlConnection>) -> Arc<crate::pool::Pool<Session>> {
    crate::pool::Pool::new(move || {
        let conn = conn.clone();
        Box::pin(async move { connect(&conn).await })
    })
}
