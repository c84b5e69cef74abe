//! How a PostgreSQL source follows changes after its first full load: by cursor (the default) or by logical
//! replication (`update_method = logical`), with the slot and publication that carries it.

use super::values::Values;
use super::{Connection, Selection};
use crate::error::{Error, Result};

/// `update_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMethod {
    /// A cursor column per table (or a full read); deletes by `delete_reconciliation_hours`.
    Cursor,
    /// PostgreSQL's logical replication (pgoutput): every insert, update, delete and truncate, in commit order.
    Logical,
    /// Logical where the server and login allow it, else cursor: decided once per connection by the front end
    /// (which keeps the choice in its state), never switched silently afterwards.
    Auto,
}

/// The replication settings of a configuration.
#[derive(Debug, Clone)]
pub struct Replication {
    pub method: UpdateMethod,
    /// The logical replication slot this connection reads (and only this one).
    pub slot: String,
    /// The publication the slot's changes are filtered by.
    pub publication: String,
    /// Whether the names were given (a given publication is used as it is, never altered).
    pub slot_given: bool,
    pub publication_given: bool,
    /// WAL the slot retains above which each sync warns.
    pub wal_retained_warn_mb: u64,
}

/// The most a slot name may hold (PostgreSQL's NAMEDATALEN - 1).
const MAX_NAME: usize = 63;
pub const MAX_WAL_WARN_MB: u64 = 100_000_000;

pub(crate) fn parse(
    v: &Values,
    connection: &Connection,
    selection: &Selection,
) -> Result<Replication> {
    let method = match v.text("update_method").map(|m| m.to_ascii_lowercase()).as_deref() {
        None | Some("cursor") => UpdateMethod::Cursor,
        Some("logical") => UpdateMethod::Logical,
        Some("auto") => UpdateMethod::Auto,
        Some(other) => {
            return Err(Error::config(
                v.key("update_method"),
                format!(
                    "'{other}' is not a method; use cursor (a cursor column per table), logical (PostgreSQL's \
                     logical replication: every insert, update, delete and truncate) or auto (logical where the \
                     server allows it, decided on the first sync)"
                ),
            ))
        }
    };
    if method == UpdateMethod::Logical && !matches!(connection, Connection::Postgres(_)) {
        return Err(Error::config(
            v.key("update_method"),
            "logical is for PostgreSQL sources; SQL Server and Snowflake sync by cursor (remove update_method)",
        ));
    }
    let derived = default_name(connection, selection);
    let slot = v.text("replication_slot");
    if let Some(name) = &slot {
        check_slot_name(v.key("replication_slot"), name)?;
    }
    let publication = v.text("publication");
    if publication.as_ref().is_some_and(|p| p.len() > MAX_NAME) {
        return Err(Error::config(
            v.key("publication"),
            format!("is longer than {MAX_NAME} bytes; PostgreSQL names are at most {MAX_NAME}"),
        ));
    }
    Ok(Replication {
        method,
        slot_given: slot.is_some(),
        publication_given: publication.is_some(),
        slot: slot.unwrap_or_else(|| derived.clone()),
        publication: publication.unwrap_or(derived),
        wal_retained_warn_mb: v.whole("wal_retained_warn_mb", 1024, 1, MAX_WAL_WARN_MB)?,
    })
}

/// A slot name PostgreSQL accepts: lower-case letters, digits and underscores, at most 63 of them.
fn check_slot_name(key: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        return Ok(());
    }
    Err(Error::config(
        key,
        format!(
            "'{name}' is not a slot name; use at most {MAX_NAME} lower-case letters, digits and underscores"
        ),
    ))
}

/// `connector_accel_<16 hex digits>`: a hash of the server, database, login and table selection, so that two
/// configurations reading different tables or as different logins never share a slot (a slot has one reader:
/// a second would advance it past changes the first has not written). Two connections with the very same server,
/// login and selection must set `replication_slot` (and `publication`) apart.
fn default_name(connection: &Connection, selection: &Selection) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Connection::Postgres(pg) = connection {
        let dsn = pg.dsn.as_deref().map(strip_password).unwrap_or_default();
        parts.extend([
            dsn,
            pg.host.clone().unwrap_or_default(),
            pg.port.map(|p| p.to_string()).unwrap_or_default(),
            pg.database.clone().unwrap_or_default(),
            pg.user.clone().unwrap_or_default(),
        ]);
    }
    for list in [
        &selection.schemas,
        &selection.tables,
        &selection.exclude_tables,
    ] {
        let mut sorted = list.clone();
        sorted.sort();
        parts.push(sorted.join(","));
    }
    format!(
        "connector_accel_{:016x}",
        fnv1a(parts.join("\u{1}").as_bytes())
    )
}

/// A DSN without its password, so the name does not change when only the password does.
fn strip_password(dsn: &str) -> String {
    dsn.split_whitespace()
        .filter(|p| !p.to_ascii_lowercase().starts_with("password="))
        .collect::<Vec<_>>()
        .join(" ")
}

/// FNV-1a: stable across releases and platforms (the name must be the same every sync).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::collections::BTreeMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<Replication> {
        let mut raw: BTreeMap<String, String> = [("host", "h"), ("database", "d"), ("user", "u")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        raw.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Config::parse(&raw).map(|(c, _)| c.replication)
    }

    #[test]
    fn logical_with_names_derived_from_the_connection() {
        let r = parse(&[("update_method", "logical")]).unwrap();
        assert_eq!(r.method, UpdateMethod::Logical);
        assert!(r.slot.starts_with("connector_accel_") && r.slot.len() == 32);
        assert_eq!(r.slot, r.publication);
        let other = parse(&[("update_method", "logical"), ("tables", "public.t")]).unwrap();
        assert_ne!(r.slot, other.slot, "another selection, another slot");
        let again = parse(&[("update_method", "LOGICAL"), ("password", "x")]).unwrap();
        assert_eq!(r.slot, again.slot, "the password is not part of the name");
        assert_eq!(parse(&[]).unwrap().method, UpdateMethod::Cursor);
        let auto = parse(&[("update_method", "Auto")]).unwrap();
        assert_eq!((auto.method, &auto.slot), (UpdateMethod::Auto, &r.slot));
    }

    #[test]
    fn bad_names_and_methods_name_the_key() {
        let e = parse(&[("replication_slot", "My-Slot")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("replication_slot") && e.contains("lower-case"),
            "{e}"
        );
        let e = parse(&[("update_method", "wal")]).unwrap_err().to_string();
        assert!(e.contains("update_method") && e.contains("logical"), "{e}");
        let e = parse(&[("wal_retained_warn_mb", "0")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("wal_retained_warn_mb"), "{e}");
    }
}
