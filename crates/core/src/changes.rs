//! Change data capture, whatever the source: the events a log yields (upsert, partial update, delete, truncate)
//! with the log position they were committed at, and what a catch-up read asks for. A source that follows a log
//! (PostgreSQL's logical replication: `postgres/replication/`) fills these; front ends turn them into the SDK's
//! operations or into dicts and Arrow for the library.

use crate::config::Flatten;
use crate::messages::Messages;
use crate::model::{Cell, Table};
use std::fmt;
use std::sync::Arc;

/// A position in the write-ahead log (PostgreSQL's pg_lsn), written as PostgreSQL writes it: `16/B374D848`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl Lsn {
    /// `X/Y` in hexadecimal, as pg_lsn's text form; None when it is not one.
    pub fn parse(text: &str) -> Option<Lsn> {
        let (hi, lo) = text.trim().split_once('/')?;
        let hi = u32::from_str_radix(hi, 16).ok()?;
        let lo = u32::from_str_radix(lo, 16).ok()?;
        Some(Lsn((u64::from(hi) << 32) | u64::from(lo)))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xffff_ffff)
    }
}

/// What a change does to the destination's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Insert, or an update that carries every column: the row as it is now.
    Upsert,
    /// An update that left some columns out (a TOASTed value it did not touch): only the columns it carries are
    /// written; the others keep the destination's values.
    Update,
    /// The row with this key is gone.
    Delete,
    /// Every row of the table is gone.
    Truncate,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Upsert => "upsert",
            Op::Update => "update",
            Op::Delete => "delete",
            Op::Truncate => "truncate",
        }
    }
}

/// One event for one table: `cells` follow the table's columns, None where the event carries no value (a delete
/// carries its key alone; a partial update leaves unchanged TOASTed values out; a truncate carries none).
#[derive(Debug, Clone)]
pub struct Change {
    pub op: Op,
    pub table: Arc<Table>,
    pub cells: Vec<Option<Cell>>,
    /// The end of the commit record of the transaction it belongs to.
    pub lsn: Lsn,
}

/// Events in commit order, as many as a batch holds (a large transaction spans batches).
#[derive(Debug, Default)]
pub struct ChangeBatch {
    pub changes: Vec<Change>,
    /// The end of the last transaction whose every event has been handed over with this batch or before: a
    /// checkpoint may name it, and a resumed read starts after it.
    pub committed: Option<Lsn>,
    /// Tables the log cannot keep exact (a column's type changed under the events): (schema, table, why). The
    /// front end loads them again in full.
    pub resync: Vec<(String, String, String)>,
    pub warnings: Vec<String>,
}

/// A catch-up read: the events after `after` up to `upto` (the position taken at the sync's start), for the
/// selected `tables`.
#[derive(Debug, Clone)]
pub struct ChangeRequest {
    pub tables: Vec<Arc<Table>>,
    pub after: Option<Lsn>,
    pub upto: Lsn,
    /// Events per batch at most.
    pub batch_size: usize,
    /// Flattened JSON columns are flattened as the full load does.
    pub flatten: Flatten,
    /// Transient failures of the read (a reset connection, a terminated backend, a server restart) are retried in
    /// place by this policy, from the last position handed over.
    pub retry: crate::retry::Policy,
    pub log: Messages,
}

/// Where a source's replication stands at the start of a sync, after it made sure its slot and publication exist.
#[derive(Debug, Clone, Default)]
pub struct SlotStatus {
    pub slot: String,
    pub publication: String,
    /// The slot was created by this call (it reads from now on; a load taken after this is consistent with it).
    pub created: bool,
    /// The slot existed before but lost changes a checkpoint had not yet covered (invalidated, dropped, or moved
    /// past the checkpoint by another reader): why, for the log. Every table must be loaded again.
    pub gap: Option<String>,
    /// The slot's confirmed position (after this call's advance, if any).
    pub confirmed: Option<Lsn>,
    /// The position a catch-up read goes up to: the server's flushed WAL at this call.
    pub upto: Lsn,
    /// WAL the server keeps for this slot (bytes from its restart position to `upto`).
    pub retained_bytes: Option<i64>,
    /// Selected tables left out of the publication: (schema, table, why). They stay on the cursor/full path.
    pub excluded: Vec<(String, String, String)>,
    /// The partitions of each selected partitioned table (schema.table -> sorted partition OIDs): a change of the
    /// set (ATTACH/DETACH PARTITION) moves rows without a change in the log.
    pub partitions: Vec<(String, String, String)>,
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_text_round_trips_and_orders() {
        let a = Lsn::parse("16/B374D848").unwrap();
        assert_eq!(a.to_string(), "16/B374D848");
        assert_eq!(Lsn::parse("0/0"), Some(Lsn(0)));
        assert!(Lsn::parse("0/1").unwrap() < Lsn::parse("1/0").unwrap());
        assert_eq!(Lsn::parse("zz"), None);
        assert_eq!(Lsn::parse("1/100000000"), None);
    }
}
