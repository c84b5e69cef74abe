//! What outlives a load in a table's state entry, as `connector_accel/state.py` keeps it: the table's identity
//! (names, the source's own id for it, columns with their source types, key), which tells a table dropped and
//! created again, altered, or gone; and when its deletes were last reconciled.

use chrono::{DateTime, Utc};
use connector_accel_core::model::Table;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

type Entry = Map<String, Value>;

/// The entries a new load keeps (`state.LASTING`).
pub const LASTING: [&str; 2] = ["identity", "reconciled_at"];

/// The lasting part of `entry`, to put back after the entry is rebuilt.
pub fn lasting(entry: &Entry) -> Vec<(String, Value)> {
    LASTING
        .iter()
        .filter_map(|k| entry.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

/// `state.identity_of`: {"schema", "table", "id", "columns": {name: source type}, "key"}.
pub fn identity_of(table: &Table) -> Value {
    let columns: Map<String, Value> = table
        .columns
        .iter()
        .map(|c| (c.name.clone(), Value::from(c.source_type.as_str())))
        .collect();
    json!({"schema": table.schema, "table": table.name, "id": table.identity,
           "columns": columns, "key": table.primary_key})
}

pub fn remember_identity(entry: &mut Entry, table: &Table) {
    entry.insert("identity".into(), identity_of(table));
}

/// A JSON list of names as Python prints a list of str (`['a', 'b']`), so both doors say a key change alike.
fn py_list(v: Option<&Value>) -> String {
    let Some(Value::Array(items)) = v else {
        return "None".into();
    };
    let names: Vec<String> = items
        .iter()
        .map(|i| format!("'{}'", i.as_str().unwrap_or_default()))
        .collect();
    format!("[{}]", names.join(", "))
}

fn present(id: Option<&Value>) -> Option<&str> {
    id.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// `state.identity_change`: why `table` is not the table the state last synced ("" when it is, or when the state
/// predates identities).
pub fn identity_change(entry: &Entry, table: &Table) -> String {
    let Some(known) = entry.get("identity").and_then(Value::as_object) else {
        return String::new();
    };
    let now = identity_of(table);
    if let (Some(was), Some(is)) = (present(known.get("id")), present(now.get("id"))) {
        if was != is {
            return format!("it was dropped and created again (id {was}, now {is})");
        }
    }
    let empty = Map::new();
    let before = known
        .get("columns")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let after = now["columns"].as_object().unwrap_or(&empty);
    let added: Vec<&str> = after
        .keys()
        .filter(|c| !before.contains_key(*c))
        .map(String::as_str)
        .collect();
    let removed: Vec<&str> = before
        .keys()
        .filter(|c| !after.contains_key(*c))
        .map(String::as_str)
        .collect();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let retyped: Vec<String> = after
        .iter()
        .filter_map(|(c, t)| {
            let was = before.get(c)?;
            (was != t).then(|| format!("{c} ({} -> {})", text(was), text(t)))
        })
        .collect();
    let mut changes: Vec<String> = [
        ("added", added.join(", ")),
        ("removed", removed.join(", ")),
        ("retyped", retyped.join(", ")),
    ]
    .into_iter()
    .filter(|(_, names)| !names.is_empty())
    .map(|(label, names)| format!("{label} {names}"))
    .collect();
    if known.get("key").is_some_and(|k| *k != now["key"]) {
        changes.push(format!(
            "key {} -> {}",
            py_list(known.get("key")),
            py_list(Some(&now["key"]))
        ));
    }
    if changes.is_empty() {
        return String::new();
    }
    format!("its columns changed ({})", changes.join("; "))
}

/// `state.vanished`: (state key, schema, table) of each table the state synced that `present` no longer holds;
/// entries without an identity are left alone (their key alone does not say which table they are).
pub fn vanished(
    state: &Map<String, Value>,
    present: &HashSet<(String, String)>,
) -> Vec<(String, String, String)> {
    let Some(tables) = state.get("tables").and_then(Value::as_object) else {
        return vec![];
    };
    let mut gone = Vec::new();
    for (key, entry) in tables {
        let Some(known) = entry.get("identity").and_then(Value::as_object) else {
            continue;
        };
        let name = |k: &str| {
            known
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (schema, table) = (name("schema"), name("table"));
        if !present.contains(&(schema.clone(), table.clone())) {
            gone.push((key.clone(), schema, table));
        }
    }
    gone
}

/// `state.reconciliation_due`: a table read by cursor reconciles its deletes when `hours` is set and that long has
/// passed since the last reconciliation (at once if there was none, or its time cannot be read; every sync for 0).
pub fn reconciliation_due(entry: &Entry, hours: Option<f64>, now: DateTime<Utc>) -> bool {
    let Some(hours) = hours else {
        return false;
    };
    let Some(last) = entry
        .get("reconciled_at")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return true;
    };
    match DateTime::parse_from_rfc3339(last) {
        Ok(at) => {
            (now - at.with_timezone(&Utc))
                .num_microseconds()
                .unwrap_or(i64::MAX) as f64
                >= hours * 3.6e9
        }
        Err(_) => true,
    }
}

/// When the table's deletes were reconciled, as Python's `datetime.isoformat()` writes a UTC time.
pub fn reconciled(entry: &mut Entry, now: DateTime<Utc>) {
    entry.insert("reconciled_at".into(), iso(now).into());
}

/// A UTC time as Python's `isoformat()` writes it: microseconds only when there are some.
pub fn iso(now: DateTime<Utc>) -> String {
    if now.timestamp_subsec_micros() == 0 {
        return now.format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
    }
    now.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}
