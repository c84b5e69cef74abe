//! Typed configuration: every value arrives as a string (that is how Fivetran passes it). Parses, validates and
//! accepts the seed connectors' key names as aliases, so a seed's configuration.json works unchanged.

mod mssql;
mod postgres;
mod private_key;
mod replication;
mod snowflake;
mod values;

pub use mssql::{Encrypt, MssqlConnection};
pub use postgres::{PgConnection, SslMode};
pub use replication::{Replication, UpdateMethod};
pub use snowflake::{jwt_account, Auth as SnowflakeAuth, SnowflakeConnection};

use crate::error::{Error, Result};
use crate::filters::{self, FilterSpec};
use crate::plan::{Overrides, Thresholds};
use std::collections::BTreeMap;
use values::Values;

/// Which database a configuration names, with its connection settings: SQL Server when it has `mssql_server`
/// (in either of the seeds' spellings), Snowflake when it names an account (or PrivateLink), PostgreSQL otherwise.
#[derive(Debug, Clone)]
pub enum Connection {
    Postgres(PgConnection),
    Mssql(MssqlConnection),
    Snowflake(SnowflakeConnection),
}

impl Connection {
    /// `"postgres"`, `"sqlserver"` or `"snowflake"`: the source's kind, as the front ends name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Connection::Postgres(_) => "postgres",
            Connection::Mssql(_) => "sqlserver",
            Connection::Snowflake(_) => "snowflake",
        }
    }
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
    /// Flattened columns one JSON column may become; an object with more keys stays JSON.
    pub max_columns: usize,
}

// The bounds of the numeric keys (README's configuration table shows them). They keep a typo from becoming a
// huge allocation, a panic or a plan of a million partitions.
pub const MAX_BATCH_SIZE: u64 = 1_000_000;
pub const MAX_WORKERS: u64 = 64;
pub const MAX_QUEUE_ROWS: u64 = 10_000_000;
pub const MAX_PARTITIONS: u64 = 1024;
pub const MAX_CHECKPOINT_ROWS: u64 = 1_000_000_000;
pub const MAX_RETRIES: u64 = 100;
pub const MAX_RETRY_SLEEP: f64 = 3600.0;
pub const MAX_LOOKBACK: f64 = 30.0 * 86_400.0;
pub const MAX_FLATTEN_DEPTH: u64 = 16;
pub const MAX_SAMPLE_ROWS: u64 = 1_000_000;
pub const MAX_FLATTEN_COLUMNS: u64 = 10_000;
pub const MAX_TABLE_ROWS: u64 = 1_000_000_000_000_000;
pub const MAX_CONNECT_TIMEOUT: u64 = 3600;
pub const MAX_READ_TIMEOUT: f64 = 86_400.0;
/// A year: a reconciliation rarer than that is one nobody relies on.
pub const MAX_RECONCILIATION_HOURS: f64 = 8_760.0;

/// How rows reach the Connector SDK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    /// Records encoded in Rust where this SDK's internals are the ones the fast path was verified against, and
    /// each table's first batch matched the SDK's own encoding; the public operations otherwise.
    Auto,
    /// Always the SDK's public operations (`op.upsert` / `op.delete`).
    Sdk,
}

/// What a read does with a value that its column's destination type cannot hold (`on_unrepresentable_value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnrepresentable {
    /// Stop the sync at the first such value, naming it.
    Fail,
    /// Land it as NULL; the read's end warns with their count and where the first was.
    Null,
}

/// The whole configuration of a source.
#[derive(Debug, Clone)]
pub struct Config {
    pub connection: Connection,
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
    pub emit: Emit,
    /// A read that receives nothing for this long fails as transient, and is retried from its last key: a stalled
    /// server or a half-open connection must not hang a sync for ever.
    pub read_timeout_seconds: f64,
    /// A value no destination type can hold (a SQL Server `time` of 24:00:00): written as NULL with a warning
    /// (the default), so that one value does not make a table unsyncable, or the sync stops (`fail`).
    pub on_unrepresentable_value: OnUnrepresentable,
    /// How often a table read by cursor has its deleted rows found by a key-only scan: at most every this many
    /// hours (0: every sync); None when off, and each such table says so on every sync.
    pub delete_reconciliation_hours: Option<f64>,
    /// `update_method` and the replication slot and publication it uses.
    pub replication: Replication,
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

impl Config {
    /// Parses the configuration; returns it with warnings for the keys that are ignored.
    pub fn parse(raw: &BTreeMap<String, String>) -> Result<(Config, Vec<String>)> {
        let mut v = Values::new(raw)?;
        let connection = if v.values.contains_key("mssql_server") {
            Connection::Mssql(mssql::parse(&v)?)
        } else if snowflake::named(&v) {
            Connection::Snowflake(snowflake::parse(&mut v)?)
        } else {
            Connection::Postgres(postgres::parse(&v)?)
        };
        if !matches!(connection, Connection::Snowflake(_)) && v.text("batch_delay_ms").is_some() {
            // A PostgreSQL or SQL Server read is paced by the sync already (the server waits while the destination
            // writes); a pause would only hold its snapshot open longer.
            v.warnings.push(
                "'batch_delay_ms' paces Snowflake reads only (seed 000's key) and is ignored here; remove it".into(),
            );
        }
        let selection = Selection {
            schemas: v.selection_list("schemas", "schema")?,
            tables: v.selection_list("tables", "table")?,
            exclude_tables: v.list("exclude_tables"),
        };
        let config = Config {
            flatten: Flatten {
                enabled: v.flag("flatten_json", true)?,
                separator: v
                    .values
                    .get("flatten_separator")
                    .cloned()
                    .unwrap_or_else(|| "_".into()),
                depth: v.whole("flatten_depth", 3, 1, MAX_FLATTEN_DEPTH)? as usize,
                sample_rows: v.whole("flatten_sample_rows", 1000, 1, MAX_SAMPLE_ROWS)? as i64,
                max_columns: v.whole("flatten_max_columns", 500, 1, MAX_FLATTEN_COLUMNS)? as usize,
            },
            thresholds: thresholds(&v)?,
            overrides: Overrides {
                batch_size: v.adaptive("batch_size", MAX_BATCH_SIZE)?,
                workers: v.adaptive("workers", MAX_WORKERS)?,
                queue_rows: v.adaptive("queue_size", MAX_QUEUE_ROWS)?,
                partitions: v.adaptive("partitions", MAX_PARTITIONS)?,
                checkpoint_rows: v
                    .adaptive("checkpoint_rows", MAX_CHECKPOINT_ROWS)?
                    .map(|n| n as u64),
            },
            resource_monitoring: v.flag("resource_monitoring", true)?,
            max_retries: v.whole("max_retries", 5, 0, MAX_RETRIES)? as u32,
            retry_sleep_seconds: v.seconds("retry_sleep_seconds", 5.0, 0.0, MAX_RETRY_SLEEP)?,
            debug: v.flag("debug", false)?,
            incremental: Incremental {
                cursor_columns: crate::incremental::parse(v.text("cursor_columns").as_deref())?,
                lookback_seconds: v.seconds(
                    "incremental_lookback_seconds",
                    600.0,
                    0.0,
                    MAX_LOOKBACK,
                )?,
                soft_delete_column: v.text("soft_delete_column"),
            },
            filters: filters::parse(v.text("table_filters").as_deref())?,
            region: filters::region(v.text("region").as_deref()),
            sync_validation: v.flag("sync_validation", true)?,
            source_metadata: v.flag("source_metadata", true)?,
            preprocessing: preprocessing(&v)?,
            emit: emit(&v)?,
            read_timeout_seconds: v.seconds(
                "read_timeout_seconds",
                300.0,
                1.0,
                MAX_READ_TIMEOUT,
            )?,
            on_unrepresentable_value: on_unrepresentable(&v)?,
            delete_reconciliation_hours: reconciliation(&v)?,
            replication: replication::parse(&v, &connection, &selection)?,
            connection,
            selection,
        };
        if config.flatten.separator.is_empty() {
            return Err(Error::config(
                "flatten_separator",
                "is empty; set it to a separator such as _",
            ));
        }
        config.refuse_unsupported(&mut v.warnings)?;
        Ok((config, v.warnings))
    }

    /// What a SQL Server source cannot do, refused here so that nothing runs; its TLS leniency, warned of.
    fn refuse_unsupported(&self, warnings: &mut Vec<String>) -> Result<()> {
        if let Connection::Snowflake(conn) = &self.connection {
            return snowflake::refuse_unsupported(conn, warnings);
        }
        let Connection::Mssql(conn) = &self.connection else {
            return Ok(());
        };
        if conn.trust_server_certificate {
            warnings.push(format!(
                "trust_server_certificate is true: the certificate of {} is not verified (neither its chain nor its host name)",
                conn.target()
            ));
        }
        if conn.login_only_unverified() {
            warnings.push(format!(
                "encrypt is off: the login to {} is encrypted with a certificate that is not verified (as Microsoft's \
                 drivers do with Encrypt=false) and the rest of the session is not encrypted; set 'encrypt' to on \
                 (and 'cert' to the CA that signed the server's certificate) to encrypt and verify everything",
                conn.target()
            ));
        }
        if !self.preprocessing.statements.is_empty() {
            return Err(Error::config(
                "enable_preprocessing",
                "is supported for PostgreSQL and Snowflake sources only; turn it off for SQL Server",
            ));
        }
        Ok(())
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

fn on_unrepresentable(v: &Values) -> Result<OnUnrepresentable> {
    use OnUnrepresentable as On;
    match v.text("on_unrepresentable_value").map(|e| e.to_ascii_lowercase()).as_deref() {
        None | Some("null") => Ok(On::Null),
        Some("fail") => Ok(On::Fail),
        Some(other) => Err(Error::config(
            v.key("on_unrepresentable_value"),
            format!("'{other}' is not a choice; use null (write such values as NULL, with a warning) or fail (stop the sync)"),
        )),
    }
}

fn emit(v: &Values) -> Result<Emit> {
    match v.text("emit").map(|e| e.to_ascii_lowercase()).as_deref() {
        None | Some("auto") => Ok(Emit::Auto),
        Some("sdk") => Ok(Emit::Sdk),
        Some(other) => Err(Error::config(
            "emit",
            format!("'{other}' is not a mode; use auto (records encoded in Rust where verified) or sdk (the SDK's own operations)"),
        )),
    }
}

/// `delete_reconciliation_hours`: off when absent, empty or "off"; else hours from 0 (every sync) to a year.
fn reconciliation(v: &Values) -> Result<Option<f64>> {
    let key = "delete_reconciliation_hours";
    let Some(text) = v.text(key) else {
        return Ok(None);
    };
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    match text.parse::<f64>() {
        Ok(h) if h.is_finite() && (0.0..=MAX_RECONCILIATION_HOURS).contains(&h) => Ok(Some(h)),
        _ => Err(Error::config(
            key,
            format!("'{text}' is not a number of hours from 0 (every sync) to {MAX_RECONCILIATION_HOURS}; set one, or off"),
        )),
    }
}

fn thresholds(v: &Values) -> Result<Thresholds> {
    let small = v.whole("small_table_rows", 1_000_000, 1, MAX_TABLE_ROWS)?;
    let large = v.whole("large_table_rows", 50_000_000, 1, MAX_TABLE_ROWS)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_reconciliation_is_off_unless_set_and_bounded() {
        let base = [("host", "db"), ("user", "me")];
        let hours = |v: &str| {
            let mut pairs = base.to_vec();
            pairs.push(("delete_reconciliation_hours", v));
            parse(&pairs).map(|(c, _)| c.delete_reconciliation_hours)
        };
        assert_eq!(parse(&base).unwrap().0.delete_reconciliation_hours, None);
        assert_eq!(hours("").unwrap(), None);
        assert_eq!(hours("OFF").unwrap(), None);
        assert_eq!(hours("0").unwrap(), Some(0.0));
        assert_eq!(hours("24").unwrap(), Some(24.0));
        for bad in ["-1", "8761", "NaN", "daily"] {
            let e = hours(bad).unwrap_err().to_string();
            assert!(
                e.contains("delete_reconciliation_hours") && e.contains("8760"),
                "{bad}: {e}"
            );
        }
    }

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
        let Connection::Postgres(pg) = &c.connection else {
            panic!("a PostgreSQL configuration")
        };
        assert_eq!(pg.user.as_deref(), Some("me"));
        assert_eq!(pg.port, Some(5433));
        assert_eq!(c.overrides.batch_size, Some(250));
        assert_eq!(c.region.len(), 1);
        assert_eq!(c.max_retries, 3);
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn untouched_placeholders_are_not_values() {
        let (c, warnings) = parse(&[
            ("host", "db"),
            ("user", "me"),
            ("sslmode", "verify-full"),
            ("ssl_ca", "<CA certificate: path or PEM text>"),
        ])
        .unwrap();
        let Connection::Postgres(pg) = &c.connection else {
            panic!("a PostgreSQL configuration")
        };
        assert_eq!(pg.sslrootcert, None);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("'ssl_ca' still holds the placeholder"));
        // A required key left as its placeholder is missing, and the error says so.
        let err = parse(&[("host", "db"), ("user", "<login>")]).unwrap_err();
        assert!(err.to_string().contains("'user'"), "{err}");
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

    #[test]
    fn batch_delay_ms_is_said_to_be_ignored_outside_snowflake() {
        let (_, warnings) =
            parse(&[("host", "h"), ("user", "u"), ("batch_delay_ms", "50")]).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("'batch_delay_ms' paces Snowflake reads only"));
    }
}
