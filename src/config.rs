//! Typed configuration: every value arrives as a string (that is how Fivetran passes it). Parses, validates and
//! accepts the seed connectors' key names as aliases, so a seed's configuration.json works unchanged.

use crate::error::{Error, Result};
use crate::filters::{self, FilterSpec};
use crate::plan::{Overrides, Thresholds};
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
    /// The PostgreSQL server; unused (all None) when `mssql` is set.
    pub connection: Connection,
    /// The SQL Server, when the configuration names one (`mssql_server`): then this is a SQL Server source.
    pub mssql: Option<crate::mssql::settings::MssqlConnection>,
    pub selection: Selection,
    pub flatten: Flatten,
    pub thresholds: Thresholds,
    pub overrides: Overrides,
    pub resource_monitoring: bool,
    pub max_retries: u32,
    pub retry_sleep_seconds: f64,
    pub debug: bool,
    pub incremental: Incremental,
    pub filters: Vec<FilterSpec>,
    pub region: Vec<FilterSpec>,
    pub sync_validation: bool,
    pub source_metadata: bool,
    pub preprocessing: Preprocessing,
}

/// Incremental syncs after the first full load.
#[derive(Debug, Clone)]
pub struct Incremental {
    /// Per table (`t` or `s.t`): a cursor column, or None to re-read the table in full.
    pub cursor_columns: BTreeMap<String, Option<String>>,
    /// Each incremental read starts this far before the last high-water mark.
    pub lookback_seconds: f64,
    pub soft_delete_column: Option<String>,
}

/// Statements run on the source before a sync (seed 000), off unless enabled.
#[derive(Debug, Clone, Default)]
pub struct Preprocessing {
    pub statements: Vec<String>,
    /// Tables a statement with `{table}` runs for, once each.
    pub tables: Vec<String>,
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
    ("workers", &["threads", "custom_threads"]),
    ("queue_size", &["max_queue_size", "custom_queue_size"]),
    ("partitions", &[]),
    ("small_table_rows", &[]),
    ("large_table_rows", &[]),
    ("resource_monitoring", &["enable_resource_monitoring"]),
    ("max_retries", &[]),
    ("retry_sleep_seconds", &[]),
    ("debug", &[]),
    ("cursor_columns", &["timestamp_column"]),
    ("incremental_lookback_seconds", &[]),
    ("soft_delete_column", &[]),
    ("table_filters", &[]),
    ("region", &[]),
    ("sync_validation", &[]),
    ("source_metadata", &[]),
    ("enable_preprocessing", &[]),
    ("preprocessing_sql", &[]),
    ("preprocessing_table", &["preprocessing_tables"]),
    // SQL Server (seeds 003 and 004, which spell them in upper or lower case).
    ("mssql_server", &["MSSQL_SERVER"]),
    ("mssql_port", &["MSSQL_PORT"]),
    ("mssql_database", &["MSSQL_DATABASE"]),
    ("mssql_user", &["MSSQL_USER"]),
    ("mssql_password", &["MSSQL_PASSWORD"]),
    ("mssql_cert_server", &["MSSQL_CERT_SERVER"]),
    ("encrypt", &[]),
    ("trust_server_certificate", &[]),
];

/// Configuration values by our own key names, with the unknown keys set aside.
pub(crate) struct Values {
    pub(crate) values: BTreeMap<&'static str, String>,
    /// How the user spelled each key, so that an error names the key they wrote.
    spelled: BTreeMap<&'static str, String>,
    warnings: Vec<String>,
}

impl Values {
    fn new(raw: &BTreeMap<String, String>) -> Result<Self> {
        let mut values = BTreeMap::new();
        let mut spelled = BTreeMap::new();
        let mut warnings = Vec::new();
        for (key, value) in raw {
            let found = ALIASES
                .iter()
                .find(|(name, aliases)| name == key || aliases.contains(&key.as_str()));
            match found {
                Some((name, _)) => {
                    spelled.insert(*name, key.clone());
                    if values.insert(*name, value.clone()).is_some() {
                        return Err(Error::config(
                            name,
                            format!("given twice (as '{key}' and an alias); keep one of them"),
                        ));
                    }
                }
                None => warnings.push(format!(
                    "unknown configuration key '{key}' is ignored; see README for the keys"
                )),
            }
        }
        Ok(Values {
            values,
            spelled,
            warnings,
        })
    }

    pub(crate) fn key(&self, name: &'static str) -> &str {
        self.spelled.get(name).map_or(name, String::as_str)
    }

    /// A trimmed, non-empty value.
    pub(crate) fn text(&self, key: &'static str) -> Option<String> {
        self.values
            .get(key)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn number<T: std::str::FromStr>(
        &self,
        key: &'static str,
        default: T,
        what: &str,
    ) -> Result<T> {
        match self.text(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                Error::config(
                    self.key(key),
                    format!("'{v}' is not {what}; set it to {what}"),
                )
            }),
        }
    }

    pub(crate) fn flag(&self, key: &'static str, default: bool) -> Result<bool> {
        match self.text(key).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(v) => Err(Error::config(
                self.key(key),
                format!("'{v}' is not a boolean; set it to true or false"),
            )),
        }
    }

    /// A whole number where 0 (the seeds' "adaptive") and absence both mean None.
    fn adaptive(&self, key: &'static str) -> Result<Option<usize>> {
        Ok(Some(self.number(key, 0usize, "a whole number")?).filter(|n| *n > 0))
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
        let mssql = crate::mssql::settings::parse(&v)?;
        let config = Config {
            connection: if mssql.is_some() {
                Connection::none()
            } else {
                connection(&v)?
            },
            mssql,
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
            thresholds: thresholds(&v)?,
            overrides: Overrides {
                batch_size: v.adaptive("batch_size")?,
                workers: v.adaptive("workers")?,
                queue_rows: v.adaptive("queue_size")?,
                partitions: v.adaptive("partitions")?,
                checkpoint_rows: v.adaptive("checkpoint_rows")?.map(|n| n as u64),
            },
            resource_monitoring: v.flag("resource_monitoring", true)?,
            max_retries: v.number("max_retries", 5, "a whole number")?,
            retry_sleep_seconds: v.number("retry_sleep_seconds", 5.0, "a number of seconds")?,
            debug: v.flag("debug", false)?,
            incremental: Incremental {
                cursor_columns: crate::incremental::parse(v.text("cursor_columns").as_deref())?,
                lookback_seconds: v.number(
                    "incremental_lookback_seconds",
                    600.0,
                    "a number of seconds",
                )?,
                soft_delete_column: v.text("soft_delete_column"),
            },
            filters: filters::parse(v.text("table_filters").as_deref())?,
            region: filters::region(v.text("region").as_deref()),
            sync_validation: v.flag("sync_validation", true)?,
            source_metadata: v.flag("source_metadata", true)?,
            preprocessing: preprocessing(&v)?,
        };
        if !(config.retry_sleep_seconds >= 0.0 && config.incremental.lookback_seconds >= 0.0) {
            let key = if config.retry_sleep_seconds >= 0.0 {
                "incremental_lookback_seconds"
            } else {
                "retry_sleep_seconds"
            };
            return Err(Error::config(
                key,
                "is negative; set it to 0 or more seconds",
            ));
        }
        if config.flatten.separator.is_empty() {
            return Err(Error::config(
                "flatten_separator",
                "is empty; set it to a separator such as _",
            ));
        }
        Ok((config, v.warnings))
    }
}

impl Config {
    /// The plan of a table of `estimate` rows on this machine, under the configured thresholds and overrides.
    pub fn plan_for(&self, estimate: Option<i64>, partitionable: bool) -> crate::plan::TablePlan {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        crate::plan::plan_table(
            estimate,
            partitionable,
            cores,
            self.thresholds,
            self.overrides,
        )
    }

    pub fn retry_policy(&self) -> crate::retry::Policy {
        crate::retry::Policy::new(self.max_retries, self.retry_sleep_seconds)
    }
}

fn thresholds(v: &Values) -> Result<Thresholds> {
    let small = v.number("small_table_rows", 1_000_000u64, "a whole number of rows")?;
    let large = v.number("large_table_rows", 50_000_000u64, "a whole number of rows")?;
    if large < small {
        return Err(Error::config(
            "large_table_rows",
            format!("{large} is below small_table_rows ({small}); set it higher"),
        ));
    }
    Ok(Thresholds { small, large })
}

/// `preprocessing_sql` is one statement, or a JSON list of statements; each is sent on its own, so a value
/// smuggled into it can never start a second statement.
fn preprocessing(v: &Values) -> Result<Preprocessing> {
    if !v.flag("enable_preprocessing", false)? {
        return Ok(Preprocessing::default());
    }
    let text = v.text("preprocessing_sql").ok_or_else(|| {
        Error::config(
            "preprocessing_sql",
            "is empty while enable_preprocessing is true; give the statement(s) or turn it off",
        )
    })?;
    let statements = if text.starts_with('[') {
        serde_json::from_str::<Vec<String>>(&text).map_err(|e| {
            Error::config(
                "preprocessing_sql",
                format!("is not a JSON list of statements ({e}); write [\"UPDATE ...\", \"...\"]"),
            )
        })?
    } else {
        vec![text]
    };
    let tables = v.list("preprocessing_table");
    if statements.iter().any(|s| s.contains("{table}")) && tables.is_empty() {
        return Err(Error::config(
            "preprocessing_table",
            "is empty but a statement uses {table}; list the tables",
        ));
    }
    Ok(Preprocessing { statements, tables })
}

impl Connection {
    /// No PostgreSQL server (the configuration is a SQL Server's).
    fn none() -> Connection {
        Connection {
            dsn: None,
            host: None,
            port: None,
            database: None,
            user: None,
            password: None,
            sslmode: SslMode::Disable,
            sslrootcert: None,
            connect_timeout_s: 30,
        }
    }
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
        assert_eq!(c.overrides.batch_size, Some(250));
        assert_eq!(c.region.len(), 1);
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
        assert!(
            err.to_string()
                .starts_with("configuration key 'custom_threads'"),
            "{err}"
        );
        let err = parse(&[
            ("host", "h"),
            ("user", "u"),
            ("large_table_rows", "10"),
            ("small_table_rows", "20"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("below small_table_rows"));
        let err = parse(&[
            ("host", "h"),
            ("user", "u"),
            ("enable_preprocessing", "true"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("'preprocessing_sql'"));
    }

    #[test]
    fn the_seeds_zero_means_adaptive() {
        let (c, _) = parse(&[
            ("host", "h"),
            ("user", "u"),
            ("custom_batch_size", "0"),
            ("custom_threads", "0"),
            ("custom_queue_size", "0"),
            ("table_filters", "{}"),
        ])
        .unwrap();
        assert_eq!(
            (
                c.overrides.batch_size,
                c.overrides.workers,
                c.overrides.queue_rows
            ),
            (None, None, None)
        );
        let (c, _) = parse(&[
            ("host", "h"),
            ("user", "u"),
            ("threads", "3"),
            ("max_queue_size", "20000"),
        ])
        .unwrap();
        assert_eq!(
            (c.overrides.workers, c.overrides.queue_rows),
            (Some(3), Some(20000))
        );
    }

    #[test]
    fn unknown_keys_warn() {
        let (_, warnings) = parse(&[("host", "h"), ("user", "u"), ("colour", "blue")]).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("'colour'"));
    }
}
