//! What one sync's catch-up on a log decides, whatever the front end: which position the read starts after, which
//! tables must be loaded again in full (a gap in the slot, changed partitions), when the position is checkpointed,
//! and the lines each sync says about it. The Partner SDK server uses these; the SDK connector
//! (`connector_accel/logical.py`) says the same lines in the same words, so that a user switching doors reads the
//! same log.

use crate::changes::{Lsn, SlotStatus};

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
}
