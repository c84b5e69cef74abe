//! Opening a session: DSN or separate keys, TLS, and the session settings the decoders rely on.

use super::errors;
use super::tls;
use crate::config::{PgConnection as Connection, SslMode};
use crate::error::{Error, Result};
use std::time::Duration;
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres::{Client, Config};

/// Connects, without the session settings (`sessions::Session` sends them with the first statement). The
/// connection task runs on the shared runtime until the client is dropped. Sessions say what they do in
/// `application_name` (see `pg_stat_activity`); an idle one is plain `connector_accel`.
pub async fn connect_unprepared(conn: &Connection) -> Result<Client> {
    let (mut config, target) = pg_config(conn)?;
    config.application_name("connector_accel");
    let timeout = Duration::from_secs(conn.connect_timeout_s);
    let attempt = async {
        match tls::client_config(conn.sslmode, conn.sslrootcert.as_deref())? {
            None => {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| errors::connect(&target, e))?;
                tokio::spawn(connection);
                Ok(client)
            }
            Some(tls_config) => {
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config);
                let (client, connection) = config
                    .connect(tls)
                    .await
                    .map_err(|e| errors::connect(&target, e))?;
                tokio::spawn(connection);
                Ok(client)
            }
        }
    };
    tokio::time::timeout(timeout, attempt).await.map_err(|_| Error::Connect {
        message: format!(
            "cannot connect to {target}: no answer within {}s; check 'host' and 'port' or raise 'connect_timeout'",
            conn.connect_timeout_s
        ),
        sqlstate: None,
        number: None,
        transient: true,
    })?
}

/// The driver configuration and a description of the target for messages (never the password).
fn pg_config(conn: &Connection) -> Result<(Config, String)> {
    let mut config = match &conn.dsn {
        Some(dsn) => dsn_config(dsn)?,
        None => Config::new(),
    };
    // Probes after a minute of silence: a half-open connection is found by the OS, beside the read watchdog.
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(60));
    if let Some(host) = &conn.host {
        config.host(host);
    }
    if let Some(port) = conn.port {
        config.port(port);
    }
    if let Some(db) = &conn.database {
        config.dbname(db);
    }
    if let Some(user) = &conn.user {
        config.user(user);
    }
    if let Some(password) = &conn.password {
        config.password(password);
    }
    config.ssl_mode(match conn.sslmode {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Prefer => PgSslMode::Prefer,
        _ => PgSslMode::Require,
    });
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let target = format!(
        "{}:{port}/{}",
        hosts.join(","),
        config.get_dbname().or(config.get_user()).unwrap_or("")
    );
    Ok((config, target))
}

/// Parses a DSN. Its `sslmode` and `sslrootcert` were already taken out by the configuration (the driver knows
/// fewer modes than libpq); the parser's own message may quote the DSN, so it is not passed on.
fn dsn_config(dsn: &str) -> Result<Config> {
    dsn.parse::<Config>().map_err(|_| {
        Error::config(
            "dsn",
            "is not a valid connection string; use postgresql://user@host:port/database or host=… dbname=… user=…",
        )
    })
}
