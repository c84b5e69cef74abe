//! What one sync's catch-up on a log decides, whatever the front end: which position the read starts after, which
//! tables must be loaded again in full (a gap in the slot, changed partitions), when the position is checkpointed,
//! and the lines each sync says about it. The Partner SDK server uses these; the SDK connector
//! (`connector_accel/logical.py`) says the same lines in the same words, so that a user switching doors reads the
//! same log. `update_method=auto`'s decision, its state record and its lines live here too, once: the server's
//! `auto.rs` and the SDK connector's `connector_accel/auto.py` (through the binding's `auto.rs`) only open the
//! replication and log, so that a connection keeps its decision and its lines under either door.

use crate::changes::{Lsn, SlotStatus};
use crate::error::Error;
use serde_json::{json, Value};

/// Change events handed over between two checkpoints at most (a checkpoint waits for a transaction's end).
pub const CHECKPOINT_EVENTS: u64 = 10_000;
/// Events per batch of a catch-up read.
pub const BATCH_EVENTS: usize = 10_000;

const MB: f64 = 1024.0 * 1024.0;

/// Where the read starts: after the position the state made durable, unless the slot lost changes since (then
/// every table is loaded again and the read starts at the slot's own position) or there is none.
pub fn read_after(status: &SlotStatus, saved: Option<Lsn>) -> Option<Lsn> {
    if status.gap.is_some() {
        None
    } else {
        saved
    }
}

/// The partition set `status` found for `qualified` (`schema.table`), if it is partitioned.
pub fn partitions_of<'a>(status: &'a SlotStatus, qualified: &str) -> Option<&'a str> {
    status
        .partitions
        .iter()
        .find(|(s, t, _)| {
            qualified.len() == s.len() + 1 + t.len() && qualified == format!("{s}.{t}")
        })
        .map(|(_, _, oids)| oids.as_str())
}

/// Why a table that took its changes from the log must be loaded again in full this sync, as the warning that
/// says so: the slot lost changes (every such table), or its partitions changed (ATTACH/DETACH PARTITION moves
/// rows without a change in the log). `saved` is the partition set its state recorded ("" when none).
pub fn reload_reason(status: &SlotStatus, qualified: &str, saved: &str) -> Option<String> {
    if let Some(gap) = &status.gap {
        return Some(format!(
            "{qualified}: {gap}; the table is loaded again in full (re-snapshot) and its rows the source no longer \
             holds are marked deleted"
        ));
    }
    let now = partitions_of(status, qualified)?;
    (now != saved).then(|| {
        format!(
            "{qualified}: its partitions changed (ATTACH or DETACH PARTITION moves rows without a change in the log); \
             the table is loaded again in full"
        )
    })
}

/// The sync's first line about the slot.
pub fn opening_line(status: &SlotStatus) -> String {
    let made = if status.created {
        " (created now: it holds every change from here on)"
    } else {
        ""
    };
    format!(
        "logical replication: slot {}{made}, publication {}; reading changes up to {}",
        status.slot, status.publication, status.upto
    )
}

/// A selected table the publication leaves out.
pub fn excluded_line(schema: &str, table: &str, why: &str) -> String {
    format!(
        "{schema}.{table}: not replicated from the log: {why}. It is synced as update_method=cursor syncs it (by its \
         cursor, or in full every sync)"
    )
}

/// A table the log cannot keep exact (a column's type changed under the events).
pub fn resync_line(schema: &str, table: &str, why: &str) -> String {
    format!("{schema}.{table}: {why}; the table is loaded again in full after the catch-up")
}

/// The catch-up's last line.
pub fn applied_line(events: u64, upto: Option<Lsn>) -> String {
    let at = upto.map_or("None".to_string(), |l| l.to_string());
    format!(
        "logical replication: {} change events applied, up to {at}",
        grouped(&events.to_string())
    )
}

/// A table whose changes came from the log: it is not read this sync.
pub fn from_log_line(qualified: &str) -> String {
    format!("{qualified}: its changes came from the log (logical replication)")
}

/// The WAL the slot retains, said every sync: (whether it is above `limit_mb` and so a warning, the line).
pub fn retained_line(status: &SlotStatus, limit_mb: u64) -> Option<(bool, String)> {
    let retained = status.retained_bytes?;
    let slot = &status.slot;
    let text = format!(
        "slot {slot} retains {} MB of WAL on the server; this sync's position is acknowledged at the start of the \
         next sync, once its checkpoint is durable",
        grouped(&format!("{:.1}", retained as f64 / MB))
    );
    if retained as f64 > limit_mb as f64 * MB {
        return Some((
            true,
            format!(
                "{text}: above wal_retained_warn_mb={limit_mb}. Sync more often, or drop the slot \
                 (SELECT pg_drop_replication_slot('{slot}');) if this connection is gone"
            ),
        ));
    }
    Some((false, text))
}

/// `update_method=auto`'s decision in the state: `{"method": "cursor"|"logical", "why", "at"}`.
pub const AUTO_KEY: &str = "update_method";
/// The configuration keys of the checks logical makes at the start of a sync: their failure means "not possible here".
pub const AUTO_CHECKS: [&str; 3] = ["update_method", "publication", "replication_slot"];

/// What `update_method=auto` does at the start of a sync, before it touches the server.
#[derive(Debug, PartialEq, Eq)]
pub enum AutoStart {
    /// The state holds the decision, kept whatever the server does meanwhile (`kept_line` says it). `recheck`: a
    /// cursor on PostgreSQL, whose line says so when `check_logical` now succeeds.
    Kept { logical: bool, recheck: bool },
    /// Decided now without asking the server (record it with `auto_record`, say it with `decided_line`).
    Decided { logical: bool, why: String },
    /// Open the replication as logical does (no position): `auto_opened` decides by its outcome.
    Open,
}

/// The first step of `update_method=auto`: the decision `recorded` in the state (`state[AUTO_KEY]`), whether the
/// state holds a log position of this connection's slot, and the source's kind ("postgres", "sqlserver",
/// "snowflake").
pub fn auto_start(
    recorded: Option<&Value>,
    has_position: bool,
    slot: &str,
    kind: &str,
) -> AutoStart {
    if let Some(logical) = recorded_method(recorded) {
        let recheck = !logical && kind == "postgres";
        return AutoStart::Kept { logical, recheck };
    }
    if has_position {
        let why =
            format!("this connection already reads slot {slot} (its state holds a log position)");
        return AutoStart::Decided { logical: true, why };
    }
    if kind != "postgres" {
        let why = format!("logical replication is PostgreSQL's only; this source is {kind}");
        return AutoStart::Decided {
            logical: false,
            why,
        };
    }
    AutoStart::Open
}

/// Whether the recorded decision is logical; None when there is none (or not one auto wrote).
fn recorded_method(recorded: Option<&Value>) -> Option<bool> {
    match recorded?.get("method")?.as_str()? {
        "logical" => Some(true),
        "cursor" => Some(false),
        _ => None,
    }
}

/// The decision by the outcome of opening the replication: what it opened (Some: logical, the catch-up goes on
/// from it) and why; a failed check is cursor, said by its message (the reason and the fix). An error that is not
/// one of the checks' is returned: the sync fails with it, as logical's would.
pub fn auto_opened<T>(outcome: Result<T, Error>) -> Result<(Option<T>, String), Error> {
    match outcome {
        Ok(opened) => Ok((
            Some(opened),
            "wal_level is logical and this login may use the publication and the slot".into(),
        )),
        Err(Error::Config { key, message }) if AUTO_CHECKS.contains(&key.as_str()) => {
            Ok((None, message))
        }
        Err(e) => Err(e),
    }
}

/// The state's record of a decision made at `at` (RFC 3339, seconds, as Python's `isoformat`).
pub fn auto_record(logical: bool, why: &str, at: chrono::DateTime<chrono::Utc>) -> Value {
    let method = if logical { "logical" } else { "cursor" };
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    json!({"method": method, "why": why, "at": at})
}

/// The line of a decision made now: (whether a warning, the line). Cursor is a warning: deletes are then missed.
pub fn decided_line(logical: bool, why: &str) -> (bool, String) {
    if logical {
        return (
            false,
            format!(
                "update_method=auto: logical for this connection (recorded in the state: later syncs keep it, and \
                 one whose server no longer allows it fails rather than switching to cursor), because {why}"
            ),
        );
    }
    (
        true,
        format!(
            "update_method=auto: cursor for this connection (recorded in the state: later syncs keep it); rows \
             deleted in the source are seen only by delete_reconciliation_hours. To capture deletes, key changes \
             and truncates from the log, make logical possible and set update_method=logical (every table is then \
             loaded again once). Not logical because {why}"
        ),
    )
}

/// The line of a kept decision: (whether a warning, the line). `now_possible`: a kept cursor's `check_logical`
/// succeeded (the server decodes its log now), which the user should hear.
pub fn kept_line(recorded: &Value, now_possible: bool) -> (bool, String) {
    let field = |k: &str| match recorded.get(k) {
        None | Some(Value::Null) => "None".to_string(), // Python's text of a missing value
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let text = format!(
        "update_method=auto: {}, as decided on {} (because {})",
        field("method"),
        field("at"),
        field("why")
    );
    if !now_possible || recorded_method(Some(recorded)) != Some(false) {
        return (false, text);
    }
    (
        true,
        format!(
            "{text}; the server now decodes its log (wal_level = logical): set update_method=logical to capture \
             deletes, key changes and truncates (every table is loaded again once; the sync says what a DBA must \
             still grant, if anything). auto keeps cursor until you do"
        ),
    )
}

/// A number's text with its integer digits grouped by commas, as Python's `{:,}` writes it.
fn grouped(number: &str) -> String {
    let (sign, rest) = number.strip_prefix('-').map_or(("", number), |r| ("-", r));
    let (int, frac) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{out}.{f}"),
        None => format!("{sign}{out}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> SlotStatus {
        SlotStatus {
            slot: "s".into(),
            publication: "p".into(),
            upto: Lsn(0x2000),
            partitions: vec![("a".into(), "parts".into(), "16400,16410".into())],
            ..SlotStatus::default()
        }
    }

    #[test]
    fn a_gap_reloads_every_table_and_reads_from_the_slot_itself() {
        let mut s = status();
        assert_eq!(read_after(&s, Some(Lsn(5))), Some(Lsn(5)));
        assert_eq!(reload_reason(&s, "a.t", ""), None);
        s.gap = Some("slot s no longer exists (dropped?); the changes after 0/5 are lost".into());
        assert_eq!(read_after(&s, Some(Lsn(5))), None);
        let why = reload_reason(&s, "a.t", "").expect("a gap reloads");
        assert!(
            why.starts_with("a.t: slot s no longer exists") && why.contains("loaded again in full")
        );
    }

    #[test]
    fn changed_partitions_reload_the_table_and_unknown_ones_do_not() {
        let s = status();
        assert_eq!(reload_reason(&s, "a.parts", "16400,16410"), None);
        assert!(reload_reason(&s, "a.parts", "16400")
            .is_some_and(|w| w.contains("its partitions changed")));
        // a table status does not list (not partitioned): nothing to compare
        assert_eq!(reload_reason(&s, "a.other", "16400"), None);
        assert_eq!(partitions_of(&s, "a.parts"), Some("16400,16410"));
        assert_eq!(partitions_of(&s, "a.partsx"), None);
    }

    #[test]
    fn the_lines_are_the_sdk_connectors() {
        let mut s = status();
        s.created = true;
        assert_eq!(
            opening_line(&s),
            "logical replication: slot s (created now: it holds every change from here on), publication p; \
             reading changes up to 0/2000"
        );
        assert_eq!(
            applied_line(1_234_567, Some(Lsn(0x2000))),
            "logical replication: 1,234,567 change events applied, up to 0/2000"
        );
        assert_eq!(
            applied_line(5, None),
            "logical replication: 5 change events applied, up to None"
        );
        s.retained_bytes = Some(3 * 1024 * 1024 * 1024 / 2);
        let (warn, line) = retained_line(&s, 1024).expect("said");
        assert!(warn);
        assert!(
            line.starts_with("slot s retains 1,536.0 MB of WAL"),
            "{line}"
        );
        assert!(
            line.ends_with("(SELECT pg_drop_replication_slot('s');) if this connection is gone")
        );
        assert!(!retained_line(&s, 2000).expect("said").0);
        s.retained_bytes = None;
        assert!(retained_line(&s, 1).is_none());
        assert_eq!(grouped("-1234.5"), "-1,234.5");
        assert_eq!(grouped("999"), "999");
    }

    #[test]
    fn auto_keeps_a_recorded_decision_and_decides_once_otherwise() {
        let cursor = json!({"method": "cursor", "why": "w", "at": "t"});
        let logical = json!({"method": "logical"});
        let kept = |logical, recheck| AutoStart::Kept { logical, recheck };
        // the recorded decision wins over a position and the kind
        assert_eq!(
            auto_start(Some(&cursor), true, "s", "postgres"),
            kept(false, true)
        );
        assert_eq!(
            auto_start(Some(&cursor), false, "s", "sqlserver"),
            kept(false, false)
        );
        assert_eq!(
            auto_start(Some(&logical), false, "s", "postgres"),
            kept(true, false)
        );
        let odd = json!({"method": "both"});
        assert_eq!(
            auto_start(Some(&odd), false, "s", "postgres"),
            AutoStart::Open
        );
        assert!(matches!(auto_start(None, true, "s", "postgres"),
            AutoStart::Decided { logical: true, why } if why.contains("already reads slot s")));
        assert!(matches!(auto_start(None, false, "s", "snowflake"),
            AutoStart::Decided { logical: false, why } if why.ends_with("this source is snowflake")));
        assert_eq!(auto_start(None, false, "s", "postgres"), AutoStart::Open);
        assert!(auto_opened(Ok(7))
            .is_ok_and(|(opened, why)| opened == Some(7) && why.starts_with("wal_level")));
        let refused = Error::config(
            "replication_slot",
            "creating the replication slot needs REPLICATION",
        );
        let (opened, why) = auto_opened::<()>(Err(refused)).expect("a check: cursor");
        assert_eq!(
            (opened, why.as_str()),
            (None, "creating the replication slot needs REPLICATION")
        );
        assert!(auto_opened::<()>(Err(Error::config("host", "x"))).is_err());
        assert!(auto_opened::<()>(Err(Error::Conversion("x".into()))).is_err());
    }

    #[test]
    fn auto_lines_and_record_are_the_sdk_connectors() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-02T11:46:10.5Z").unwrap();
        let record = auto_record(false, "why", at.with_timezone(&chrono::Utc));
        assert_eq!(
            record,
            json!({"method": "cursor", "why": "why", "at": "2026-12-02T11:46:10+00:00"})
        );
        let (warn, line) = kept_line(&record, false);
        assert!(!warn);
        assert_eq!(
            line,
            "update_method=auto: cursor, as decided on 2026-12-02T11:46:10+00:00 (because why)"
        );
        let (warn, line) = kept_line(&record, true);
        assert!(
            warn && line.ends_with("auto keeps cursor until you do"),
            "{line}"
        );
        assert!(!kept_line(&json!({"method": "logical"}), true).0);
        assert_eq!(
            kept_line(&json!({"method": "logical"}), false).1,
            "update_method=auto: logical, as decided on None (because None)"
        );
        let (warn, line) = decided_line(false, "R");
        assert!(
            warn && line
                .ends_with("(every table is then loaded again once). Not logical because R")
        );
        let (warn, line) = decided_line(true, "R");
        assert!(!warn && line.ends_with("fails rather than switching to cursor), because R"));
    }
}
