//! Typed configuration: every value arrives as a string (that is how Fivetran passes it). Parses, validates and
//! accepts the seed connectors' key names as aliases, so a seed's configuration.json works unchanged.

use crate::error::{Error, Result};
use std::collections::BTreeMap;

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
pub struct Connection {
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

/// Which tables are synced.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub schemas: Vec<String>,
    pub tables: Vec<String>,
    pub exclude_tables: Vec<String>,
}

/// JSON flattening: object columns become `column<sep>key<sep>subkey` columns.
#[derive(Debug, Clone)]
pub struct Flatten {
    pub enabled: bool,
    pub separator: String,
    pub depth: usize,
    pub sample_rows: i64,
}

/// The whole configuration of a PostgreSQL source.
#[derive(Debug, Clone)]
pub struct Config {
    pub connection: Connection,
    pub selection: Selection,
    pub flatten: Flatten,
    pub batch_size: usize,
    pub checkpoint_rows: u64,
    pub max_retries: u32,
    pub retry_sleep_seconds: f64,
    pub debug: bool,
}

/// Keys and their aliases: the first name is ours, the rest come from the seed connectors.
const ALIASES: &[(&str, &[&str])] = &[
    ("dsn", &["connection_string"]),
    ("host", &[]),
    ("port", &[]),
    ("database", &["dbname"]),
    ("user", &["username"]),
    ("password", &[]),
    ("sslmode", &["ssl_mode"]),
    ("sslrootcert", &["ssl_ca", "cert"]),
    ("connect_timeout", &[]),
    ("schemas", &["schema"]),
    ("tables", &[]),
    ("exclude_tables", &[]),
    ("flatten_json", &[]),
    ("flatten_separator", &[]),
    ("flatten_depth", &[]),
    ("flatten_sample_rows", &[]),
    ("batch_size", &["custom_batch_size"]),
    ("checkpoint_rows", &["checkpoint_interval"]),
    ("max_retries", &[]),
    ("retry_sleep_seconds", &[]),
    ("debug", &[]),
];

/// Keys the seeds document that the parallel engine (a later stage) acts on: accepted and validated, not warned about.
const ENGINE_KEYS: &[&str] = &[
    "custom_threads",
    "custom_queue_size",
    "threads",
    "max_queue_size",
    "region",
    "table_filters",
];

/// Configuration values by our own key names, with the unknown keys set aside.
struct Values {
    values: BTreeMap<&'static str, String>,
    warnings: Vec<String>,
}

impl Values {
    fn new(raw: &BTreeMap<String, String>) -> Result<Self> {
        let mut values = BTreeMap::new();
        let mut warnings = Vec::new();
        for (key, value) in raw {
            let found = ALIASES
                .iter()
                .find(|(name, aliases)| name == key || aliases.contains(&key.as_str()));
            match found {
                Some((name, _)) => {
                    if values.insert(*name, value.clone()).is_some() {
                        return Err(Error::config(
                            name,
                            format!("given twice (as '{key}' and an alias); keep one of them"),
                        ));
                    }
                }
                None if ENGINE_KEYS.contains(&key.as_str()) => {}
                None => warnings.push(format!(
                    "unknown configuration key '{key}' is ignored; see README for the keys"
                )),
            }
        }
        Ok(Values { values, warnings })
    }

    /// A trimmed, non-empty value.
    fn text(&self, key: &'static str) -> Option<String> {
        self.values
            .get(key)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn number<T: std::str::FromStr>(&self, key: &'static str, default: T, what: &str) -> Result<T> {
        match self.text(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| Error::config(key, format!("'{v}' is not {what}; set it to {what}"))),
        }
    }

    fn flag(&self, key: &'static str, default: bool) -> Result<bool> {
        match self.text(key).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(v) => Err(Error::config(
                key,
                format!("'{v}' is not a boolean; set it to true or false"),
            )),
        }
    }

    fn list(&self, key: &'static str) -> Vec<String> {
        self.text(key)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn at_least<T: PartialOrd + std::fmt::Display>(key: &str, value: T, min: T) -> Result<T> {
    if value < min {
        return Err(Error::config(
            key,
            format!("{value} is too small; set it to at least {min}"),
        ));
    }
    Ok(value)
}

impl Config {
    /// Parses the configuration; returns it with warnings for the keys that are ignored.
    pub fn parse(raw: &BTreeMap<String, String>) -> Result<(Config, Vec<String>)> {
        let v = Values::new(raw)?;
        validate_engine_keys(raw)?;
        let config = Config {
            connection: connection(&v)?,
            selection: Selection {
                schemas: v.list("schemas"),
                tables: v.list("tables"),
                exclude_tables: v.list("exclude_tables"),
            },
            flatten: Flatten {
                enabled: v.flag("flatten_json", true)?,
                separator: v
                    .values
                    .get("flatten_separator")
                    .cloned()
                    .unwrap_or_else(|| "_".into()),
                depth: at_least(
                    "flatten_depth",
                    v.number("flatten_depth", 3, "a whole number")?,
                    1,
                )?,
                sample_rows: at_least(
                    "flatten_sample_rows",
                    v.number("flatten_sample_rows", 1000, "a whole number")?,
                    1,
                )?,
            },
            batch_size: at_least(
                "batch_size",
                v.number("batch_size", 5000, "a whole number")?,
                1,
            )?,
            checkpoint_rows: at_least(
                "checkpoint_rows",
                v.number("checkpoint_rows", 100_000, "a whole number")?,
                1,
            )?,
            max_retries: v.number("max_retries", 5, "a whole number")?,
            retry_sleep_seconds: v.number("retry_sleep_seconds", 5.0, "a number of seconds")?,
            debug: v.flag("debug", false)?,
        };
        if config.flatten.separator.is_empty() {
            return Err(Error::config(
                "flatten_separator",
                "is empty; set it to a separator such as _",
            ));
        }
        Ok((config, v.warnings))
    }
}

/// The engine's keys are validated now so that a typo fails the first sync, not a later one.
fn validate_engine_keys(raw: &BTreeMap<String, String>) -> Result<()> {
    for key in [
        "custom_threads",
        "custom_queue_size",
        "threads",
        "max_queue_size",
    ] {
        if let Some(v) = raw.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            if v.parse::<u32>().map_or(true, |n| n == 0) {
                return Err(Error::config(
                    key,
                    format!("'{v}' is not a positive whole number; set it to one, such as 4"),
                ));
            }
        }
    }
    Ok(())
}

fn connection(v: &Values) -> Result<Connection> {
    let (dsn, dsn_mode, dsn_root) = match v.text("dsn") {
        Some(d) => {
            let (rest, mode, root) = crate::postgres::connect::split_tls_params(&d);
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
    Ok(Connection {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<(Config, Vec<String>)> {
        let raw = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::parse(&raw)
    }

    #[test]
    fn seed_keys_are_aliases() {
        let (c, warnings) = parse(&[
            ("host", "db"),
            ("port", "5433"),
            ("database", "shop"),
            ("username", "me"),
            ("password", "s3cret"),
            ("custom_batch_size", "250"),
            ("region", "Europe"),
            ("max_retries", "3"),
        ])
        .unwrap();
        assert_eq!(c.connection.user.as_deref(), Some("me"));
        assert_eq!(c.connection.port, Some(5433));
        assert_eq!(c.batch_size, 250);
        assert_eq!(c.max_retries, 3);
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn bad_values_name_the_key_and_never_the_password() {
        let err = parse(&[
            ("host", "db"),
            ("user", "u"),
            ("port", "54x2"),
            ("password", "hunter2"),
        ])
        .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("configuration key 'port'"), "{text}");
        assert!(!text.contains("hunter2"));
        let err = parse(&[("host", " "), ("user", "u")]).unwrap_err();
        assert!(err.to_string().contains("'host'"));
        let err = parse(&[("host", "h"), ("user", "u"), ("sslmode", "maybe")]).unwrap_err();
        assert!(err.to_string().contains("verify-full"));
        let err = parse(&[("host", "h"), ("user", "u"), ("custom_threads", "lots")]).unwrap_err();
        assert!(err.to_string().contains("'custom_threads'"));
    }

    #[test]
    fn unknown_keys_warn() {
        let (_, warnings) = parse(&[("host", "h"), ("user", "u"), ("colour", "blue")]).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("'colour'"));
    }
}
