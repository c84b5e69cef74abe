//! Where the PostgreSQL server is, who logs in, and how the connection is protected; seed key names unchanged.

use super::values::Values;
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
    /// How long a statement waits for a table lock (`lock_timeout`) before it fails and is retried.
    pub lock_timeout_s: f64,
}

/// The PostgreSQL server: a DSN or separate keys (the seeds' names), with libpq's TLS modes.
pub(crate) fn parse(v: &Values) -> Result<PgConnection> {
    let (dsn, mut from_dsn) = match v.text("dsn") {
        Some(d) => {
            let (rest, found) = split_dsn(&d);
            (Some(rest), found)
        }
        None => (None, Default::default()),
    };
    let (dsn_mode, dsn_root) = (from_dsn.remove("sslmode"), from_dsn.remove("sslrootcert"));
    let connect_timeout_s = match (
        v.text("connect_timeout"),
        from_dsn.remove("connect_timeout"),
    ) {
        (None, Some(t)) => t
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=super::MAX_CONNECT_TIMEOUT).contains(n))
            .ok_or_else(|| {
                Error::config(
                    "dsn",
                    format!(
                        "its connect_timeout '{t}' is not a whole number of seconds from 1 to {}",
                        super::MAX_CONNECT_TIMEOUT
                    ),
                )
            })?,
        _ => v.whole("connect_timeout", 30, 1, super::MAX_CONNECT_TIMEOUT)?,
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
        connect_timeout_s,
        lock_timeout_s: v.seconds("lock_timeout_seconds", 60.0, 0.1, super::MAX_READ_TIMEOUT)?,
    })
}

/// The DSN parameters the connector applies itself: libpq's TLS modes (the driver knows fewer) and the
/// connection time limit (which bounds the whole connect and session set-up, not just the TCP connect).
const TAKEN: [&str; 3] = ["sslmode", "sslrootcert", "connect_timeout"];

/// Takes `sslmode`, `sslrootcert` and `connect_timeout` out of a DSN (URL or key=value form): returns the rest
/// and the values found, by name.
pub fn split_dsn(dsn: &str) -> (String, std::collections::BTreeMap<&'static str, String>) {
    let mut found = std::collections::BTreeMap::new();
    let mut take = |k: &str, v: &str| match TAKEN.iter().find(|t| **t == k) {
        Some(name) => {
            found.insert(*name, v.to_string());
            false
        }
        None => true,
    };
    if dsn.starts_with("postgres://") || dsn.starts_with("postgresql://") {
        let Some((base, query)) = dsn.split_once('?') else {
            return (dsn.to_string(), found);
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                take(k, v)
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return (rest, found);
    }
    let kept: Vec<&str> = dsn
        .split_whitespace()
        .filter(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            take(k.trim(), v.trim_matches('\''))
        })
        .collect();
    (kept.join(" "), found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_params_and_the_time_limit_leave_the_dsn() {
        let (rest, found) = split_dsn(
            "postgresql://u@h:5/db?sslmode=verify-full&application_name=x&sslrootcert=/ca.pem&connect_timeout=3",
        );
        assert_eq!(rest, "postgresql://u@h:5/db?application_name=x");
        assert_eq!(found["sslmode"], "verify-full");
        assert_eq!(found["sslrootcert"], "/ca.pem");
        assert_eq!(found["connect_timeout"], "3");
        let (rest, found) =
            split_dsn("host=h dbname=d sslmode=verify-ca connect_timeout='4' user=u");
        assert_eq!(rest, "host=h dbname=d user=u");
        assert_eq!(found["sslmode"], "verify-ca");
        assert_eq!(found["connect_timeout"], "4");
    }
}
