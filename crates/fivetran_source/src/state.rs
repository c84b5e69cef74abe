//! The connector's resumable state, version 2, in the very format the SDK connector keeps
//! (`connector_accel/state.py` describes it): a user can switch between the two doors and keep their place.
//! Kept as JSON values so that entries this version does not know survive a round trip.

use connector_accel_core::error::{Error, Result};
use connector_accel_core::model::Table;
use connector_accel_core::plan::{Partition, TablePlan};
use connector_accel_core::read::{PartRead, Span};
use connector_accel_core::source::Watermark;
use serde_json::{json, Map, Value};

pub const VERSION: i64 = 2;

type Entry = Map<String, Value>;

fn state_error(message: &str) -> Error {
    Error::config(
        "state",
        format!("{message}; the saved state is not one this version wrote (reset the connector's state to start over)"),
    )
}

/// The state Fivetran handed over, with a pass open: a new one unless the last was interrupted.
pub fn open_pass(given: Option<&str>) -> Result<Map<String, Value>> {
    let mut state = match given.map(str::trim).filter(|s| !s.is_empty()) {
        None => Map::new(),
        Some(text) => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => map,
            _ => return Err(state_error("state_json is not a JSON object")),
        },
    };
    if !state.get("tables").is_some_and(Value::is_object) {
        state.insert("tables".into(), json!({}));
    }
    if state.get("version").and_then(Value::as_i64) != Some(VERSION) {
        from_version_1(&mut state);
    }
    if state.get("pass_open").and_then(Value::as_bool) != Some(true) {
        let pass = state.get("pass").and_then(Value::as_i64).unwrap_or(0) + 1;
        state.insert("pass".into(), pass.into());
        state.insert("pass_open".into(), true.into());
    }
    Ok(state)
}

/// Version 1 kept only the pass in progress: `{"after": key}` or `{"done": true}` per table.
fn from_version_1(state: &mut Map<String, Value>) {
    let tables = tables(state);
    for entry in tables.values_mut() {
        let after = entry.get("after").filter(|a| !a.is_null()).cloned();
        *entry = match after {
            Some(after) => json!({"phase": "full", "cursor": null, "plan": {"partitions": [
                {"lo": null, "hi": null, "after": after}]}}),
            None => json!({"phase": "full", "cursor": null, "pass": 1}),
        };
    }
    let any = !tables.is_empty();
    state.insert("version".into(), VERSION.into());
    state.insert("pass".into(), i64::from(any).into());
    state.insert("pass_open".into(), any.into());
}

fn tables(state: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let slot = state.entry("tables").or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    slot.as_object_mut().expect("made an object above")
}

pub fn close_pass(state: &mut Map<String, Value>, now: chrono::DateTime<chrono::Utc>) {
    state.insert("pass_open".into(), false.into());
    state.insert(
        "last_completed_at".into(),
        now.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string().into(),
    );
}

pub fn pass(state: &Map<String, Value>) -> i64 {
    state.get("pass").and_then(Value::as_i64).unwrap_or(0)
}

/// The table's key in `tables`, as `state.table_key` makes it: "schema.table" when neither name holds a dot or a
/// double quote, else both names quoted as SQL quotes them (`"a"."b.c"`), which no plain pair spells.
pub fn table_key(schema: &str, table: &str) -> String {
    if ![schema, table].iter().any(|n| n.contains(['.', '"'])) {
        return format!("{schema}.{table}");
    }
    let quoted = |n: &str| format!("\"{}\"", n.replace('"', "\"\""));
    format!("{}.{}", quoted(schema), quoted(table))
}

/// The table's entry, made empty on first use.
pub fn entry<'a>(state: &'a mut Map<String, Value>, qualified: &str) -> &'a mut Entry {
    let slot = tables(state)
        .entry(qualified.to_string())
        .or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    slot.as_object_mut().expect("made an object above")
}

/// `state.forget`: the table starts over with a full load, and the entry says `reload` (the destination holds rows
/// of it, so its load keeps the key pass).
pub fn forget(entry: &mut Entry) {
    entry.clear();
    entry.insert("reload".into(), true.into());
}

/// `state.starts_with_truncate`: only a table this state never loaded (an empty entry) sends its truncate before its
/// first row instead of running the key pass after its last; a resumed load has a plan, so it never truncates again.
pub fn starts_with_truncate(entry: &Entry) -> bool {
    entry.is_empty()
}

fn text<'a>(entry: &'a Entry, key: &str) -> Option<&'a str> {
    entry.get(key).and_then(Value::as_str)
}

pub fn done_in_pass(entry: &Entry, pass: i64) -> bool {
    entry.get("pass").and_then(Value::as_i64) == Some(pass)
}

/// An incremental read needs a finished full load on the same cursor.
pub fn reads_incrementally(entry: &Entry, cursor: Option<&str>) -> bool {
    cursor.is_some()
        && text(entry, "phase") == Some("incremental")
        && text(entry, "cursor") == cursor
}

/// The table's shape as `state.shape_of` computes it: the first 16 hex digits of the SHA-256 of
/// `json.dumps({"columns": source_types, "key": primary_key}, sort_keys=True)`.
pub fn shape_of(table: &Table) -> String {
    let mut columns: Vec<(&str, &str)> = table
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.source_type.as_str()))
        .collect();
    columns.sort();
    let mut sorted = Map::new();
    sorted.insert(
        "columns".into(),
        Value::Object(
            columns
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        ),
    );
    sorted.insert("key".into(), json!(table.primary_key));
    let text = connector_accel_core::encode::pyfmt::json_dumps(&Value::Object(sorted));
    let digest = <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn has_plan(entry: &Entry) -> bool {
    text(entry, "phase") == Some("full") && entry.contains_key("plan")
}

/// Whether a full load on `cursor` is under way for a table of this shape (a state without a shape resumes).
pub fn full_load_planned(entry: &Entry, cursor: Option<&str>, shape: &str) -> bool {
    let same_shape = text(entry, "shape").is_none_or(|s| s == shape);
    has_plan(entry) && text(entry, "cursor") == cursor && same_shape
}

pub fn shape_changed(entry: &Entry, shape: &str) -> bool {
    has_plan(entry) && text(entry, "shape").is_some_and(|s| s != shape)
}

fn mark_of(watermark: Option<&Watermark>) -> Value {
    watermark.map_or(Value::Null, |w| json!({"high": w.high, "guard": w.guard}))
}

/// A plan as the state keeps it (`plan()`'s dict in the SDK connector).
pub fn plan_value(plan: &TablePlan, parts: &[Partition]) -> Value {
    let partitions: Vec<Value> = parts
        .iter()
        .map(|p| json!({"lo": p.lo, "hi": p.hi}))
        .collect();
    json!({
        "tier": plan.tier.name(), "batch_size": plan.batch_size,
        "workers": plan.workers.min(parts.len()).max(1), "queue_depth": plan.queue_depth,
        "checkpoint_rows": plan.checkpoint_rows, "partitions": partitions,
    })
}

pub fn begin_full(
    entry: &mut Entry,
    cursor: Option<&str>,
    plan: Value,
    watermark: Option<&Watermark>,
    shape: &str,
) {
    let kept = crate::identity::lasting(entry);
    entry.clear();
    entry.extend(kept);
    entry.insert("phase".into(), "full".into());
    entry.insert("cursor".into(), json!(cursor));
    entry.insert("plan".into(), plan);
    entry.insert("pending".into(), mark_of(watermark));
    entry.insert("shape".into(), shape.into());
}

/// The position of the last row of `partition` sent to Fivetran, and how many rows it has sent up to it (what a
/// resumed load counts from, `state.record_partition`).
pub fn record_partition(
    entry: &mut Entry,
    partition: usize,
    last_key: Option<&[String]>,
    rows: u64,
) {
    let (Some(key), Some(part)) = (
        last_key,
        entry
            .get_mut("plan")
            .and_then(|p| p.get_mut("partitions"))
            .and_then(|p| p.get_mut(partition)),
    ) else {
        return;
    };
    if let Some(part) = part.as_object_mut() {
        part.insert("after".into(), json!(key));
        let before = part.get("rows").and_then(Value::as_u64).unwrap_or(0);
        part.insert("rows".into(), (before + rows).into());
    }
}

pub fn finish_full(entry: &mut Entry, pass: i64) {
    let cursor = entry.get("cursor").cloned().unwrap_or(Value::Null);
    let pending = entry.get("pending").cloned().unwrap_or(Value::Null);
    let kept = crate::identity::lasting(entry);
    entry.clear();
    entry.extend(kept);
    let incremental = !cursor.is_null();
    entry.insert(
        "phase".into(),
        if incremental { "incremental" } else { "full" }.into(),
    );
    entry.insert("cursor".into(), cursor);
    entry.insert("pass".into(), pass.into());
    if incremental {
        let mark = if pending.is_null() {
            json!({"high": null, "guard": null})
        } else {
            pending
        };
        entry.insert("mark".into(), mark);
    }
}

/// Takes the watermark for this incremental read unless a read is already under way.
pub fn begin_incremental(entry: &mut Entry, watermark: Option<&Watermark>) -> bool {
    if entry.contains_key("pending") {
        return false;
    }
    entry.insert("pending".into(), mark_of(watermark));
    entry.insert("after".into(), Value::Null);
    true
}

pub fn record_incremental(entry: &mut Entry, last_key: Option<&[String]>) {
    entry.insert("after".into(), json!(last_key));
}

pub fn finish_incremental(entry: &mut Entry, pass: i64) {
    let pending = entry.remove("pending").unwrap_or(Value::Null);
    if !pending.is_null() {
        entry.insert("mark".into(), pending);
    }
    entry.remove("after");
    entry.insert("pass".into(), pass.into());
}

/// The key (text values) an entry or partition holds under `name`, if any.
fn keys(holder: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>> {
    match holder.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|_| state_error(&format!("partition '{name}' is not a list of text"))),
    }
}

/// The plan's partitions still to read, with `after` where a previous run stopped.
pub fn parts_of(entry: &Entry) -> Result<Vec<PartRead>> {
    let list = entry
        .get("plan")
        .and_then(|p| p.get("partitions"))
        .and_then(Value::as_array)
        .ok_or_else(|| state_error("a plan has no partitions"))?;
    let mut parts = Vec::new();
    for (index, part) in list.iter().enumerate() {
        let part = part
            .as_object()
            .ok_or_else(|| state_error("a partition is not an object"))?;
        if part.get("done").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let range = Partition {
            lo: keys(part, "lo")?,
            hi: keys(part, "hi")?,
        };
        parts.push(PartRead {
            index,
            range,
            after: keys(part, "after")?,
        });
    }
    Ok(parts)
}

/// The window of the running incremental read: from the entry's mark.
pub fn span_of(table: &Table, entry: &Entry, lookback_seconds: f64) -> Result<Span> {
    let cursor = table.cursor.clone().map_err(|reason| {
        Error::config(
            "cursor_columns",
            format!("table {} has no cursor ({reason})", table.qualified()),
        )
    })?;
    let mark = entry.get("mark");
    let at = |name: &str| {
        mark.and_then(|m| m.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Ok(Span::Since {
        cursor,
        high: at("high"),
        guard: at("guard"),
        lookback_seconds,
    })
}

/// The resume position of the running incremental read.
pub fn after(entry: &Entry) -> Result<Option<Vec<String>>> {
    keys(entry, "after")
}

pub fn preprocess_due(state: &Map<String, Value>) -> bool {
    state.get("preprocessed_pass").and_then(Value::as_i64) != Some(pass(state))
}

/// The state's scalar values, as text, for preprocessing statements' `{name}` parameters.
pub fn preprocess_values(state: &Map<String, Value>) -> std::collections::BTreeMap<String, String> {
    state
        .iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k.clone(), s.clone())),
            Value::Number(n) => Some((k.clone(), n.to_string())),
            _ => None,
        })
        .collect()
}

pub fn preprocessed(state: &mut Map<String, Value>) {
    let pass = pass(state);
    state.insert("preprocessed_pass".into(), pass.into());
}

// -- Logical replication, as `state.py` keeps it: {"replication": {"slot": name, "lsn": pg_lsn text}} at the top,
// and per table "phase": "logical" with "slot" (and "partitions") once its full load is done.

/// The log position this state's checkpoints made durable for `slot` (None for another slot or none).
pub fn replication_position(state: &Map<String, Value>, slot: &str) -> Option<String> {
    let rep = state.get("replication")?;
    if rep.get("slot").and_then(Value::as_str) != Some(slot) {
        return None;
    }
    rep.get("lsn").and_then(Value::as_str).map(str::to_string)
}

/// Every change up to `lsn` has been sent (a checkpoint of this state makes it durable).
pub fn record_replication(state: &mut Map<String, Value>, slot: &str, lsn: &str) {
    state.insert("replication".into(), json!({"slot": slot, "lsn": lsn}));
}

/// A table whose full load finished after `slot` was reading: the log carries all its changes since.
pub fn reads_from_log(entry: &Entry, slot: &str) -> bool {
    text(entry, "phase") == Some("logical") && text(entry, "slot") == Some(slot)
}

/// The full load is done; from now on its changes come from `slot` (its partitions as they were then).
pub fn finish_logical(entry: &mut Entry, slot: &str, partitions: &str) {
    entry.insert("phase".into(), "logical".into());
    entry.insert("slot".into(), slot.into());
    entry.remove("cursor");
    entry.insert("partitions".into(), partitions.into());
}

/// A table the log no longer brings up to date for this state (left out of the selection: its changes are not
/// sent): loaded in full when it comes back, its identity kept so that its going is still seen.
pub fn leave_log(entry: &mut Entry) {
    for key in ["phase", "slot", "partitions", "pass"] {
        entry.remove(key);
    }
}

/// The partition set a logical entry recorded ("" when none).
pub fn partitions(entry: &Entry) -> &str {
    text(entry, "partitions").unwrap_or_default()
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
