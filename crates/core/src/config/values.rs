//! Configuration values by our own key names: the seeds' spellings are aliases, every value a trimmed string, and
//! errors name the key as the user wrote it.

use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// Keys and their aliases: the first name is ours, the rest come from the seed connectors.
const ALIASES: &[(&str, &[&str])] = &[
    ("dsn", &["connection_string"]),
    ("host", &[]),
    ("port", &[]),
    ("database", &["dbname", "snowflake_database"]),
    ("user", &["username", "snowflake_user"]),
    ("password", &["snowflake_password"]),
    ("sslmode", &["ssl_mode"]),
    ("sslrootcert", &["ssl_ca", "cert"]),
    ("connect_timeout", &[]),
    ("schemas", &["schema", "snowflake_schema"]),
    ("tables", &[]),
    ("exclude_tables", &[]),
    ("flatten_json", &[]),
    ("flatten_separator", &[]),
    ("flatten_depth", &[]),
    ("flatten_sample_rows", &[]),
    ("flatten_max_columns", &[]),
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
    ("emit", &[]),
    ("read_timeout_seconds", &[]),
    ("on_unrepresentable_value", &[]),
    ("delete_reconciliation_hours", &[]),
    ("lock_timeout_seconds", &[]),
    ("enable_preprocessing", &[]),
    ("preprocessing_sql", &[]),
    ("preprocessing_table", &["preprocessing_tables"]),
    ("update_method", &[]),
    ("replication_slot", &[]),
    ("publication", &[]),
    ("wal_retained_warn_mb", &[]),
    // SQL Server (seeds 003 and 004, which spell them in upper or lower case).
    ("mssql_server", &["MSSQL_SERVER"]),
    ("mssql_port", &["MSSQL_PORT"]),
    ("mssql_database", &["MSSQL_DATABASE"]),
    ("mssql_user", &["MSSQL_USER"]),
    ("mssql_password", &["MSSQL_PASSWORD"]),
    ("mssql_cert_server", &["MSSQL_CERT_SERVER"]),
    ("encrypt", &[]),
    ("trust_server_certificate", &[]),
    // Snowflake (seed 000, which spells most of them with or without `snowflake_`).
    ("account", &["snowflake_account"]),
    ("warehouse", &["snowflake_warehouse"]),
    ("role", &["snowflake_role"]),
    ("private_key", &[]),
    ("private_key_password", &[]),
    ("use_privatelink", &[]),
    ("privatelink_host", &[]),
    ("ssl_verify", &[]),
    ("protocol", &[]),
    ("batch_delay_ms", &[]),
];

/// The placeholders `python -m connector_accel init` writes into a new project's configuration.json (project.py's
/// CONFIGURATION; tests/test_project.py checks that every one of them is listed here). A value still equal to one
/// was never filled in: it is taken as not set, with a warning, and never as a host name, login or file path.
pub(crate) const PLACEHOLDERS: &[&str] = &[
    "<host name or IP>",
    "<database>",
    "<login>",
    "<password>",
    "<CA certificate: path or PEM text>",
    "<account identifier>",
    "<warehouse>",
];

/// Configuration values by our own key names, with the unknown keys set aside.
pub(crate) struct Values {
    pub(crate) values: BTreeMap<&'static str, String>,
    /// How the user spelled each key, so that an error names the key they wrote.
    spelled: BTreeMap<&'static str, String>,
    pub(crate) warnings: Vec<String>,
    /// Keys given but still holding their placeholder: not values, yet they say which source the file is for.
    pub(crate) placeheld: Vec<&'static str>,
}

impl Values {
    pub(crate) fn new(raw: &BTreeMap<String, String>) -> Result<Self> {
        let mut values = BTreeMap::new();
        let mut spelled = BTreeMap::new();
        let mut warnings = Vec::new();
        let mut placeheld = Vec::new();
        for (key, value) in raw {
            let found = ALIASES
                .iter()
                .find(|(name, aliases)| name == key || aliases.contains(&key.as_str()));
            match found {
                Some((name, _)) if PLACEHOLDERS.contains(&value.trim()) => {
                    placeheld.push(*name);
                    warnings.push(format!(
                        "'{key}' still holds the placeholder '{}', so it is taken as not set; fill it in or remove the key",
                        value.trim()
                    ))
                }
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
            placeheld,
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

    /// A whole number within `[min, max]` (README's configuration table lists every key's bounds). Out of range
    /// and too big to parse are one and the same mistake, said the same way.
    pub(crate) fn whole(&self, key: &'static str, default: u64, min: u64, max: u64) -> Result<u64> {
        let Some(v) = self.text(key) else {
            return Ok(default);
        };
        let digits = v.strip_prefix(['+', '-']).unwrap_or(&v);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::config(
                self.key(key),
                format!(
                    "'{v}' is not a whole number; set it to a whole number from {min} to {max}"
                ),
            ));
        }
        match v.parse::<i128>() {
            Ok(n) if n >= i128::from(min) && n <= i128::from(max) => Ok(n as u64),
            _ => Err(Error::config(
                self.key(key),
                format!("{v} is out of range; set it to a whole number from {min} to {max}"),
            )),
        }
    }

    /// A whole number where 0 (the seeds' "adaptive") and absence both mean None; otherwise within `[1, max]`.
    pub(crate) fn adaptive(&self, key: &'static str, max: u64) -> Result<Option<usize>> {
        if self
            .text(key)
            .as_deref()
            .is_some_and(|v| v.trim_start_matches('+') == "0")
        {
            return Ok(None);
        }
        Ok(self
            .text(key)
            .map(|_| self.whole(key, 0, 1, max))
            .transpose()
            .map_err(|e| match e {
                Error::Config { key, message } => Error::Config {
                    key,
                    message: format!("{message} (0 means adaptive)"),
                },
                other => other,
            })?
            .map(|n| n as usize))
    }

    /// A finite number of seconds within `[min, max]` (NaN and infinities are not numbers of seconds).
    pub(crate) fn seconds(
        &self,
        key: &'static str,
        default: f64,
        min: f64,
        max: f64,
    ) -> Result<f64> {
        let Some(v) = self.text(key) else {
            return Ok(default);
        };
        match v.parse::<f64>() {
            Ok(n) if n.is_finite() && (min..=max).contains(&n) => Ok(n),
            Ok(n) if n.is_finite() => Err(Error::config(
                self.key(key),
                format!("{v} is out of range; set it to a number of seconds from {min} to {max}"),
            )),
            _ => Err(Error::config(
                self.key(key),
                format!("'{v}' is not a number of seconds; set it to a number from {min} to {max}"),
            )),
        }
    }

    /// A comma-separated list. Only separators (",,") is a mistake, not "everything": refused. An empty value is
    /// how Fivetran sends an optional field left blank, so it means "not set", with a warning saying what that
    /// selects.
    pub(crate) fn selection_list(&mut self, key: &'static str, what: &str) -> Result<Vec<String>> {
        let list = self.list(key);
        match self.values.get(key).map(|v| v.trim()) {
            Some("") => {
                self.warnings.push(format!("'{}' is empty, so every {what} is synced", self.key(key)));
                Ok(list)
            }
            Some(_) if list.is_empty() => Err(Error::config(
                self.key(key),
                format!("names no {what}; list them separated by commas, or remove the key to sync every {what}"),
            )),
            _ => Ok(list),
        }
    }

    pub(crate) fn list(&self, key: &'static str) -> Vec<String> {
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
