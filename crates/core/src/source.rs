//! The one interface every database source implements: discovery, key samples for planning, the incremental
//! watermark, and reads. The binding layer picks the implementation from the configuration and drives it through
//! this trait alone, so nothing above it knows which database it talks to.

use crate::changes::{ChangeBatch, ChangeRequest, Lsn, SlotStatus};
use crate::config::{Config, Preprocessing, Replication};
use crate::error::{Error, Result};
use crate::messages::Messages;
use crate::model::Table;
use crate::read::{Batch, ReadRequest};
use futures_util::future::BoxFuture;
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc::Receiver;

/// Where incremental syncs stand: the cursor's maximum now, the start of the oldest transaction still writing
/// (its rows may carry older cursor values once committed; PostgreSQL only), and whether this login could see
/// every session's transactions.
#[derive(Debug, Clone, Default)]
pub struct Watermark {
    pub high: Option<String>,
    pub guard: Option<String>,
    pub sees_all: bool,
    /// Rows whose cursor is after the server's clock (time cursors; None where unknown): read again every sync.
    pub future: Option<i64>,
    /// The server's time zone, when the cursor is naive (timestamp without time zone) and that zone is not UTC.
    pub zone: Option<String>,
    /// A warning about the mark (an integer cursor capped below a jump), for the log.
    pub note: Option<String>,
}

/// An exported snapshot and the session that keeps it importable while it is held.
pub struct Snapshot {
    pub id: String,
    pub holder: Box<dyn Any + Send + Sync>,
}

/// The selected tables (smallest first) and the warnings discovery raised.
pub type Discovered = (Vec<Table>, Vec<String>);

pub trait Source: Send + Sync {
    /// The database's name for messages ("PostgreSQL", "SQL Server").
    fn name(&self) -> &'static str;

    /// The selected tables with their columns, keys, estimates, cursors and filters.
    fn discover(&self, config: Arc<Config>) -> BoxFuture<'static, Result<Discovered>>;

    /// Whether a read of `table` can resume after a key: it has one, and every key value round-trips through
    /// text. Only such tables are cut into partitions.
    fn resumable(&self, table: &Table) -> bool;

    /// Key values (as text, in key order) of a page sample of about `percent` of `table`, to cut it into
    /// `wanted` partitions with `plan::partitions`. A source may send only the keys that cut (the sample's keys at
    /// ranks i·n/wanted), which gives the same partitions without moving the whole sample.
    fn sample_keys(
        &self,
        table: Arc<Table>,
        percent: f64,
        wanted: usize,
    ) -> BoxFuture<'static, Result<Vec<Vec<String>>>>;

    /// The incremental watermark of a table with a cursor (None without one).
    fn watermark(&self, table: Arc<Table>) -> BoxFuture<'static, Result<Option<Watermark>>>;

    /// Closes the idle sessions this source keeps for reuse (a later call opens new ones), so a long-lived
    /// process does not hold a session per configuration between syncs.
    fn close_idle(&self);

    /// Starts `request` on the shared runtime; batches (or the error that stopped it) arrive on the receiver.
    fn read(&self, request: ReadRequest) -> Receiver<Result<Batch>>;

    /// `table` as Arrow reads it: no flattening, and whatever this source sends faster as text.
    fn arrow_table(&self, table: &Table) -> Table {
        let mut plain = table.clone();
        plain.flat_columns.clear();
        plain.columns.iter_mut().for_each(|c| c.flattened = false);
        plain
    }

    /// Whether partitions can share one exported snapshot.
    fn shares_snapshots(&self) -> bool {
        false
    }

    /// Exports a snapshot that readers in any process can import while it is held.
    fn export_snapshot(&self) -> BoxFuture<'static, Result<Snapshot>> {
        let name = self.name();
        Box::pin(async move { Err(unsupported(name, "snapshot", "exported snapshots")) })
    }

    /// A table-shaped description of a query's result, to read it as one stream.
    fn describe_query(&self, _query: String) -> BoxFuture<'static, Result<(Table, Vec<String>)>> {
        let name = self.name();
        Box::pin(async move { Err(unsupported(name, "query", "queries")) })
    }

    /// Makes sure the replication slot and publication exist (creating them before any load, so that a load's
    /// snapshot is no older than the slot), moves the slot to `after` (a position a checkpoint made durable), and
    /// says where a catch-up read stands; with the selected tables the log carries.
    fn open_replication(
        &self,
        _replication: Replication,
        _tables: Vec<Arc<Table>>,
        _after: Option<Lsn>,
    ) -> BoxFuture<'static, Result<(SlotStatus, Vec<Arc<Table>>)>> {
        let name = self.name();
        Box::pin(async move { Err(unsupported(name, "update_method", "logical replication")) })
    }

    /// Whether the server can decode its log for `update_method=logical` (version, `wal_level`), without creating
    /// anything: the error says why not and the fix.
    fn check_logical(&self) -> BoxFuture<'static, Result<()>> {
        let name = self.name();
        Box::pin(async move { Err(unsupported(name, "update_method", "logical replication")) })
    }

    /// Starts a catch-up read of the log on the shared runtime; batches (or the error that stopped it) arrive on
    /// the receiver, the last one carrying the read's end position.
    fn read_changes(
        &self,
        replication: Replication,
        request: ChangeRequest,
    ) -> Receiver<Result<ChangeBatch>> {
        let _ = (replication, request);
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let _ = tx.try_send(Err(unsupported(
            self.name(),
            "update_method",
            "logical replication",
        )));
        rx
    }

    /// Runs the preprocessing statements with `state`'s values bound; returns the rows they changed.
    fn preprocess(
        &self,
        _preprocessing: Preprocessing,
        _state: BTreeMap<String, String>,
        _log: Messages,
    ) -> BoxFuture<'static, Result<u64>> {
        let name = self.name();
        Box::pin(async move { Err(unsupported(name, "enable_preprocessing", "preprocessing")) })
    }
}

fn unsupported(source: &str, key: &str, what: &str) -> Error {
    Error::config(key, format!("{source} sources do not support {what}"))
}
