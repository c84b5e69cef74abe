//! Where the PostgreSQL server is, who logs in, and how the connection is protected; seed key names unchanged.

use super::values::{at_least, Values};
use crate::error::{Error, Result};

/// How the client protects the connection, with libpq's meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// Where the server is and who logs in.
#[derive(Debug, Clone)]
pub struct PgConnection {
    pub dsn: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub database: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub sslmode: SslMode,
    /// A CA certificate: a file path or PEM text.
    pub sslrootcert: Option<String>,
    pub connect_timeout_s: u64,
}

/// The PostgreSQL server: a DSN or separate keys (the seeds' names), with libpq's TLS modes.
pub(crate) fn parse(v: &Values) -> Result<PgConnection> {
    let (dsn, dsn_mode, dsn_root) = match v.text("dsn") {
        Some(d) => {
            let (rest, mode, root) = split_tls_params(&d);
            (Some(rest), mode, root)
        }
        None => (None, None, None),
    };
    let host =
        match v.values.get("host") {
            Some(h) if h.trim().is_empty() => return Err(Error::config(
                "host",
                "is empty; set it to the server's host name, IP address or unix socket directory",
            )),
            Some(h) => Some(h.trim().to_string()),
            None => None,
        };
    if dsn.is_none() && host.is_none() {
        return Err(Error::config(
            "host",
            "is missing; set 'host' (with 'port', 'database', 'user', 'password') or 'dsn'",
        ));
    }
    let port = match v.text("port") {
        None => None,
        Some(p) => Some(p.parse::<u16>().ok().filter(|n| *n > 0).ok_or_else(|| {
            Error::config(
                "port",
                format!(
                    "'{p}' is not a port number; set it to a number from 1 to 65535, such as 5432"
                ),
            )
        })?),
    };
    if dsn.is_none() && v.text("user").is_none() {
        return Err(Error::config(
            "user",
            "is missing; set 'user' (or 'username') to the database login",
        ));
    }
    let sslmode = match v
        .text("sslmode")
        .or(dsn_mode)
        .map(|s| s.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("prefer") => SslMode::Prefer,
        Some("disable") => SslMode::Disable,
        Some("require") => SslMode::Require,
        Some("verify-ca") => SslMode::VerifyCa,
        Some("verify-full") => SslMode::VerifyFull,
        Some(other) => {
            return Err(Error::config(
                "sslmode",
                format!(
                "'{other}' is not a mode; use disable, prefer, require, verify-ca or verify-full"
            ),
            ))
        }
    };
    Ok(PgConnection {
        dsn,
        host,
        port,
        database: v.text("database"),
        user: v.text("user"),
        password: v.values.get("password").cloned(),
        sslmode,
        sslrootcert: v.text("sslrootcert").or(dsn_root),
        connect_timeout_s: at_least(
            "connect_timeout",
            v.number("connect_timeout", 30, "a whole number of seconds")?,
            1,
        )?,
    })
}

/// Takes `sslmode` and `sslrootcert` out of a DSN (URL or key=value form): returns the rest and the two values.
pub fn split_tls_params(dsn: &str) -> (String, Option<String>, Option<String>) {
    let wanted = |k: &str| k == "sslmode" || k == "sslrootcert";
    let mut mode = None;
    let mut root = None;
    let mut take = |k: &str, v: &str| {
        if k == "sslmode" {
            mode = Some(v.to_string())
        } else {
            root = Some(v.to_string())
        }
    };
    if dsn.starts_with("postgres://") || dsn.starts_with("postgresql://") {
        let Some((base, query)) = dsn.split_once('?') else {
            return (dsn.to_string(), None, None);
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                if wanted(k) {
                    take(k, v);
                    return false;
                }
                true
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return (rest, mode, root);
    }
    let kept: Vec<&str> = dsn
        .split_whitespace()
        .filter(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if wanted(k.trim()) {
                take(k.trim(), v.trim_matches('\''));
                return false;
            }
            true
        })
        .collect();
    (kept.join(" "), mode, root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_params_leave_the_dsn() {
        let (rest, mode, root) = split_tls_params(
            "postgresql://u@h:5/db?sslmode=verify-full&application_name=x&sslrootcert=/ca.pem",
        );
        assert_eq!(rest, "postgresql://u@h:5/db?application_name=x");
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root.as_deref(), Some("/ca.pem"));
        let (rest, mode, _) = split_tls_params("host=h dbname=d sslmode=verify-ca user=u");
        assert_eq!(rest, "host=h dbname=d user=u");
        assert_eq!(mode.as_deref(), Some("verify-ca"));
    }
}
