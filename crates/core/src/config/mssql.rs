//! Where the SQL Server is, who logs in, and how the connection is protected; seed 003/004 key names unchanged.

use super::values::Values;
use crate::error::{Error, Result};

/// How much of the connection TLS protects (tiberius' levels; `strict` is TDS 8.0, TLS before the pre-login).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encrypt {
    /// Everything, and the connection fails when the server cannot (the default).
    On,
    Strict,
    /// Only the login packet (SQL Server's own meaning of `Encrypt=false`).
    Off,
    /// Nothing, not even the password: only for servers without TLS on a trusted network.
    Disable,
}

#[derive(Debug, Clone)]
pub struct MssqlConnection {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: String,
    pub encrypt: Encrypt,
    /// Accept any certificate (no chain or host name check); a warning says so on every sync.
    pub trust_server_certificate: bool,
    /// A CA certificate: a file path or PEM text (seed 003's `cert`).
    pub ca: Option<String>,
    /// The host name the certificate must carry, when it differs from `host` (seed 003's `mssql_cert_server`).
    pub cert_server: Option<String>,
    pub connect_timeout_s: u64,
}

impl MssqlConnection {
    /// `host:port/database`, for messages (never the password).
    pub fn target(&self) -> String {
        format!("{}:{}/{}", self.host, self.port, self.database)
    }

    /// `encrypt=off` without a CA to verify against: the login is encrypted with whatever certificate the server
    /// shows, as Microsoft's drivers do under Encrypt=false ("Encryption only occurs for LOGIN packets. Certificate
    /// isn't validated."), so that SQL Server's self-signed default certificate does not refuse the login.
    pub fn login_only_unverified(&self) -> bool {
        self.encrypt == Encrypt::Off && self.ca.is_none() && !self.trust_server_certificate
    }
}

fn required(v: &Values, key: &'static str, what: &str) -> Result<String> {
    v.text(key)
        .ok_or_else(|| Error::config(v.key(key), format!("is missing; set it to {what}")))
}

/// The SQL Server connection (the configuration has `mssql_server`).
pub(crate) fn parse(v: &Values) -> Result<MssqlConnection> {
    let host = required(v, "mssql_server", "the SQL Server host name or IP address")?;
    let port = match v.text("mssql_port") {
        None => 1433,
        Some(p) => p.parse::<u16>().ok().filter(|n| *n > 0).ok_or_else(|| {
            Error::config(
                v.key("mssql_port"),
                format!(
                    "'{p}' is not a port number; set it to a number from 1 to 65535, such as 1433"
                ),
            )
        })?,
    };
    let encrypt = match v.text("encrypt").map(|e| e.to_ascii_lowercase()).as_deref() {
        None | Some("on" | "true" | "yes" | "mandatory" | "required") => Encrypt::On,
        Some("strict") => Encrypt::Strict,
        Some("off" | "false" | "no" | "optional") => Encrypt::Off,
        Some("disable" | "disabled" | "none") => Encrypt::Disable,
        Some(other) => {
            return Err(Error::config(
                "encrypt",
                format!("'{other}' is not a level; use on, strict, off (login only) or disable"),
            ))
        }
    };
    let trust = v.flag("trust_server_certificate", false)?;
    let ca = v.text("sslrootcert");
    if trust && ca.is_some() {
        return Err(Error::config(
            "trust_server_certificate",
            format!(
                "is true while '{}' gives a CA to verify against; keep one of them",
                v.key("sslrootcert")
            ),
        ));
    }
    if let Some(path) = ca.as_deref().filter(|c| !c.starts_with("-----BEGIN")) {
        if !std::path::Path::new(path).is_file() {
            return Err(Error::config(
                v.key("sslrootcert"),
                "is neither PEM text nor a readable file; give the CA certificate's path or its PEM text",
            ));
        }
    }
    Ok(MssqlConnection {
        host,
        port,
        database: required(v, "mssql_database", "the database to sync")?,
        user: required(v, "mssql_user", "the SQL Server login")?,
        password: v.values.get("mssql_password").cloned().unwrap_or_default(),
        encrypt,
        trust_server_certificate: trust,
        ca,
        cert_server: v.text("mssql_cert_server"),
        connect_timeout_s: v.whole("connect_timeout", 30, 1, super::MAX_CONNECT_TIMEOUT)?,
    })
}
