//! `Update`: one pass over the selected tables, as the SDK connector's `update()` makes it (`sdk.py`), with the
//! same state. Each table is a resumable full load (its partitions on one snapshot) or an incremental read since
//! its mark; rows become records in batches; a checkpoint is sent only after every batch before it, so it names
//! only rows Fivetran already has.

use crate::batch::Batcher;
use crate::identity;
use crate::logs;
use crate::proto::update_response::Operation;
use crate::proto::{Checkpoint, Task, UpdateRequest, UpdateResponse, Warning};
use crate::records::{RecordMaker, Writer, Written};
use crate::selection::selected;
use crate::state;
use crate::wire::Encoded;
use connector_accel_core::connector::{Connector, Read};
use connector_accel_core::error::Error;
use connector_accel_core::model::Table;
use connector_accel_core::read::{PartRead, Sizes};
use connector_accel_core::source::Watermark;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::Sender;
use tonic::Status;

const PROGRESS: Duration = Duration::from_secs(30);

#[path = "reconcile.rs"]
mod reconcile;
use reconcile::{excluded_of, say_gone};

#[path = "auto.rs"]
mod auto;
#[path = "logical.rs"]
mod logical;
use logical::Catchup;

/// Why a sync ended early.
enum Stop {
    /// The client went away (cancelled, or the connection dropped): nothing more can be sent.
    Gone,
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Stop {
        Stop::Failed(e)
    }
}

type Step<T = ()> = Result<T, Stop>;

/// Runs one `Update` and ends the stream: a configuration error becomes the `Task` a user can act on, any other
/// failure the stream's status (retried ones that ran out are UNAVAILABLE, so Fivetran syncs again).
pub async fn run(request: UpdateRequest, tx: Sender<Result<Encoded, Status>>) {
    let mut out = Out {
        tx,
        batcher: Batcher::default(),
    };
    let err = match update(request, &mut out).await {
        Ok(()) | Err(Stop::Gone) => return,
        Err(Stop::Failed(err)) => err,
    };
    logs::severe(&err.to_string());
    if matches!(err, Error::Config { .. }) {
        let task = Operation::Task(Task {
            message: err.to_string(),
        });
        let _ = out.send(task).await;
    } else {
        let _ = out.flush().await;
        let _ = out.tx.send(Err(crate::service::status(&err))).await;
    }
}

/// The response stream, and the batch being filled.
struct Out {
    tx: Sender<Result<Encoded, Status>>,
    batcher: Batcher,
}

impl Out {
    async fn raw(&mut self, response: Encoded) -> Step {
        self.tx.send(Ok(response)).await.map_err(|_| Stop::Gone)
    }

    /// One record's bytes, into the batch being filled.
    async fn record(&mut self, record: &[u8]) -> Step {
        for response in self.batcher.push(record) {
            self.raw(response).await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Step {
        match self.batcher.flush() {
            Some(batch) => self.raw(batch).await,
            None => Ok(()),
        }
    }

    /// A checkpoint, warning or task, after every record before it.
    async fn send(&mut self, operation: Operation) -> Step {
        self.flush().await?;
        self.raw(Encoded::of(&UpdateResponse {
            operation: Some(operation),
        }))
        .await
    }

    async fn warn(&mut self, message: String) -> Step {
        logs::warning(&message);
        self.send(Operation::Warning(Warning { message })).await
    }

    async fn checkpoint(&mut self, state: &Map<String, Value>) -> Step {
        let state_json = Value::Object(state.clone()).to_string();
        self.send(Operation::Checkpoint(Checkpoint { state_json }))
            .await
    }

    /// What the core logged since the last call: INFO to stdout, warnings to stdout and to Fivetran.
    async fn drain(&mut self, log: &connector_accel_core::messages::Messages) -> Step {
        for warning in logs::drain(log) {
            self.send(Operation::Warning(Warning { message: warning }))
                .await?;
        }
        Ok(())
    }
}

async fn update(request: UpdateRequest, out: &mut Out) -> Step {
    let connector = crate::service::connector(&request.configuration)?;
    for warning in connector.warnings.clone() {
        out.warn(warning).await?;
    }
    let (tables, warnings) = connector.catalog().await?;
    for warning in warnings {
        out.warn(warning).await?;
    }
    let mut state = state::open_pass(request.state_json.as_deref())?;
    preprocess(&connector, &mut state, out).await?;
    let chosen: Vec<Arc<Table>> = tables
        .iter()
        .filter(|t| selected(request.selection.as_ref(), &t.schema, &t.name))
        .cloned()
        .collect();
    crate::naming::check(&chosen)?;
    let present: HashSet<(String, String)> = tables
        .iter()
        .map(|t| (t.schema.clone(), t.name.clone()))
        .collect();
    say_gone(&present, &mut state, out).await?;
    if connector.config.sync_validation || connector.config.source_metadata {
        logs::info("the Partner SDK server writes no SYNC_VALIDATION, SOURCE_TABLES or SOURCE_COLUMNS tables (the Connector SDK connector does)");
    }
    let plan: Vec<String> = chosen
        .iter()
        .map(|t| format!("{} ~{} rows", t.qualified(), t.row_estimate.unwrap_or(0)))
        .collect();
    logs::info(&format!("sync plan (smallest first): {}", plan.join(", ")));
    let chosen: Vec<(Arc<Table>, HashSet<String>)> = chosen
        .into_iter()
        .map(|t| {
            let excluded = excluded_of(request.selection.as_ref(), &t);
            (t, excluded)
        })
        .collect();
    let catchup = logical::start(&connector, &chosen, &mut state, out).await?;
    for (table, excluded) in chosen {
        let mut sync = TableSync::new(&connector, table, &mut state, out);
        sync.excluded = excluded;
        sync.catchup = catchup.as_ref();
        sync.run().await?;
    }
    state::close_pass(&mut state, chrono::Utc::now());
    out.checkpoint(&state).await
}

async fn preprocess(connector: &Connector, state: &mut Map<String, Value>, out: &mut Out) -> Step {
    let preprocessing = connector.config.preprocessing.clone();
    if preprocessing.statements.is_empty() || !state::preprocess_due(state) {
        return Ok(());
    }
    let values = state::preprocess_values(state);
    let changed = connector
        .source
        .preprocess(preprocessing, values, connector.log.clone())
        .await?;
    out.drain(&connector.log).await?;
    logs::info(&format!("preprocessing changed {changed} rows"));
    state::preprocessed(state);
    out.checkpoint(state).await
}

fn warn_future(qualified: &str, mark: Option<&Watermark>) -> Option<String> {
    let future = mark?.future.filter(|n| *n > 0)?;
    Some(format!(
        "{qualified}: {future} rows have a cursor value after the server's clock; the mark stops at the clock, so \
         they are read again every sync until their time comes (check them for typos)"
    ))
}

/// Where a read's batches move the state: a full load's partition positions, or the incremental read's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Full,
    Incremental,
    /// Delete reconciliation's key pass: no position, no checkpoint.
    Keys,
}

/// One table in one pass.
struct TableSync<'a> {
    connector: &'a Connector,
    table: Arc<Table>,
    qualified: String,
    state: &'a mut Map<String, Value>,
    out: &'a mut Out,
    rows: u64,
    deletes: u64,
    started: Instant,
    /// Columns Fivetran's selection leaves out of this table's records.
    excluded: HashSet<String>,
    /// `update_method=logical`: the sync's catch-up on the log.
    catchup: Option<&'a Catchup>,
    /// When a load that starts with a truncate sent it (`state::starts_with_truncate`).
    truncated_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl<'a> TableSync<'a> {
    fn new(
        connector: &'a Connector,
        table: Arc<Table>,
        state: &'a mut Map<String, Value>,
        out: &'a mut Out,
    ) -> Self {
        let qualified = table.qualified();
        TableSync {
            connector,
            table,
            qualified,
            state,
            out,
            rows: 0,
            deletes: 0,
            started: Instant::now(),
            excluded: HashSet::new(),
            catchup: None,
            truncated_at: None,
        }
    }

    fn entry(&mut self) -> &mut Map<String, Value> {
        let key = state::table_key(&self.table.schema, &self.table.name);
        state::entry(self.state, &key)
    }

    async fn run(mut self) -> Step {
        let pass = state::pass(self.state);
        let cursor = self.table.cursor.as_ref().ok().map(|c| c.column.clone());
        if state::done_in_pass(self.entry(), pass) {
            logs::info(&format!(
                "{}: already synced in this pass, skipped",
                self.qualified
            ));
            return Ok(());
        }
        let table = self.table.clone();
        let fresh = state::starts_with_truncate(self.entry());
        let changed = identity::identity_change(self.entry(), &table);
        if !changed.is_empty() {
            let message = format!("{}: {changed} since the last sync; it is read again in full, and its rows the source no longer holds are marked deleted", self.qualified);
            self.out.warn(message).await?;
            state::forget(self.entry());
        }
        if self.taken_from_log().await? {
            return Ok(());
        }
        // A table the log carries is loaded in full (no cursor), then takes its changes from the log.
        let replicated = self.catchup.is_some_and(|c| c.replicates(&table));
        let cursor = cursor.filter(|_| !replicated);
        let planned = self.entry().contains_key("plan") || replicated;
        if let (Err(reason), false) = (&self.table.cursor, planned) {
            logs::info(&format!(
                "{}: read in full every sync, because {reason}",
                self.qualified
            ));
        }
        let phase = if state::reads_incrementally(self.entry(), cursor.as_deref()) {
            self.incremental(pass).await?;
            Phase::Incremental
        } else {
            self.full_load(cursor.as_deref(), pass, fresh).await?;
            Phase::Full
        };
        let now = chrono::Utc::now();
        let hours = self.connector.config.delete_reconciliation_hours;
        let mut keys = None;
        if let Some(at) = self.truncated_at {
            identity::reconciled(self.entry(), at);
        } else if phase == Phase::Full || identity::reconciliation_due(self.entry(), hours, now) {
            keys = Some(self.reconcile().await?);
            identity::reconciled(self.entry(), now);
        }
        self.finish_logical();
        identity::remember_identity(self.entry(), &table);
        self.out.checkpoint(self.state).await?;
        self.say_done(phase, keys);
        if keys.is_none() && self.truncated_at.is_none() && !replicated {
            self.say_deletes_missed(hours).await?;
        }
        Ok(())
    }

    fn say_done(&self, phase: Phase, keys: Option<u64>) {
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-9);
        let keyless = if self.table.primary_key.is_empty() {
            " (no primary key: keyed by Fivetran)"
        } else {
            ""
        };
        let checked = match (keys, self.truncated_at) {
            (Some(k), _) => format!(", and rows not among its {k} keys marked deleted"),
            (None, Some(_)) => ", after a truncate (the destination's rows of it not sent again are marked deleted)".into(),
            (None, None) => String::new(),
        };
        let phase = if phase == Phase::Full {
            "full"
        } else {
            "incremental"
        };
        logs::info(&format!(
            "{}: {phase} done, {} rows upserted{keyless}, {} deleted{checked} in {elapsed:.1}s ({:.0} rows/s)",
            self.qualified,
            self.rows - self.deletes,
            self.deletes,
            self.rows as f64 / elapsed
        ));
    }

    async fn full_load(&mut self, cursor: Option<&str>, pass: i64, fresh: bool) -> Step {
        let shape = state::shape_of(&self.table);
        if state::shape_changed(self.entry(), &shape) {
            let message = format!("{}: its columns or primary key changed since the interrupted load began; the table is loaded again from the start", self.qualified);
            self.out.warn(message).await?;
        }
        if state::full_load_planned(self.entry(), cursor, &shape) {
            logs::info(&format!(
                "{}: resuming the full load where the last run stopped",
                self.qualified
            ));
        } else {
            // The watermark comes before the plan and the read, so changes made during the load are at or after it.
            let pending = match cursor {
                Some(_) => self.connector.watermark(self.table.clone()).await?,
                None => None,
            };
            if let Some(w) = warn_future(&self.qualified, pending.as_ref()) {
                self.out.warn(w).await?;
            }
            let (plan, parts) = self.connector.partitions(self.table.clone()).await?;
            self.out.drain(&self.connector.log).await?;
            state::begin_full(
                self.entry(),
                cursor,
                state::plan_value(&plan, &parts),
                pending.as_ref(),
                &shape,
            );
            logs::info(&format!(
                "{}: plan tier={} ~{} rows, {} partitions, {} workers, batch {}",
                self.qualified,
                plan.tier.name(),
                self.table.row_estimate.unwrap_or(0),
                parts.len(),
                plan.workers,
                plan.batch_size
            ));
            if fresh {
                self.truncate_first().await?;
            }
        }
        let parts = state::parts_of(self.entry())?;
        let saved = self.entry().get("plan").cloned().unwrap_or(Value::Null);
        let size = |key: &str| saved.get(key).and_then(Value::as_u64).map(|n| n as usize);
        let sizes = Sizes {
            batch_size: size("batch_size"),
            workers: size("workers"),
            queue_depth: size("queue_depth"),
        };
        let every = saved
            .get("checkpoint_rows")
            .and_then(Value::as_u64)
            .unwrap_or(100_000);
        let read = Read {
            sizes,
            ..Read::full(self.table.clone(), parts)
        };
        let maker =
            RecordMaker::new(&self.table, false).excluding(&self.table, self.excluded.clone());
        self.pump(read, maker, Phase::Full, every).await?;
        state::finish_full(self.entry(), pass);
        Ok(())
    }

    async fn incremental(&mut self, pass: i64) -> Step {
        if !self.entry().contains_key("pending") {
            let mark = self.connector.watermark(self.table.clone()).await?;
            self.out.drain(&self.connector.log).await?;
            if let Some(w) = warn_future(&self.qualified, mark.as_ref()) {
                self.out.warn(w).await?;
            }
            if mark.as_ref().is_some_and(|m| !m.sees_all) {
                let message = format!("{}: this login cannot see other sessions' transactions (grant pg_read_all_stats); late commits are covered by the look-back window only", self.qualified);
                self.out.warn(message).await?;
            }
            state::begin_incremental(self.entry(), mark.as_ref());
        }
        let lookback = self.connector.config.incremental.lookback_seconds;
        let table = self.table.clone();
        let span = state::span_of(&table, self.entry(), lookback)?;
        let after = state::after(self.entry())?;
        let parts = vec![PartRead {
            after,
            ..PartRead::default()
        }];
        let read = Read {
            span,
            ..Read::full(self.table.clone(), parts)
        };
        let every = self.connector.table_plan(&self.table).checkpoint_rows;
        let maker =
            RecordMaker::new(&self.table, false).excluding(&self.table, self.excluded.clone());
        self.pump(read, maker, Phase::Incremental, every).await?;
        state::finish_incremental(self.entry(), pass);
        Ok(())
    }

    /// Starts `read` with its records written in the fetchers by `maker`, sends every batch's records, then
    /// records its position; checkpoints every `every` rows. Returns the rows read (a key pass counts its keys
    /// apart from the table's rows).
    async fn pump(
        &mut self,
        mut read: Read,
        maker: RecordMaker,
        phase: Phase,
        every: u64,
    ) -> Step<u64> {
        read.writer = Some(Arc::new(Writer(maker)));
        let mut started = self.connector.start(read)?;
        let (mut total, mut since_checkpoint, mut last_progress) = (0u64, 0u64, Instant::now());
        // The truncate (or anything else) still in `Out`'s batch goes before the fetchers' records.
        self.out.flush().await?;
        while let Some(batch) = started.batches.recv().await {
            let mut batch = batch?;
            let written = batch
                .written
                .take()
                .and_then(|w| w.downcast::<Written>().ok())
                .ok_or_else(|| {
                    Error::Internal(format!(
                        "{}: a batch came without its records",
                        self.qualified
                    ))
                })?;
            let deletes = written.deletes;
            for response in written.responses {
                self.out.raw(response).await?;
            }
            let n = batch.count as u64;
            total += n;
            let key = batch.last_key.as_deref();
            match phase {
                Phase::Full => state::record_partition(self.entry(), batch.partition, key, n),
                Phase::Incremental => state::record_incremental(self.entry(), key),
                Phase::Keys => {}
            }
            if phase != Phase::Keys {
                self.rows += n;
                self.deletes += deletes;
                since_checkpoint += n;
            }
            for warning in batch.warnings {
                self.out.warn(warning).await?;
            }
            self.out.drain(&started.log).await?;
            if since_checkpoint >= every {
                self.out.checkpoint(self.state).await?;
                since_checkpoint = 0;
            }
            if last_progress.elapsed() >= PROGRESS {
                last_progress = Instant::now();
                self.progress();
            }
        }
        self.out.drain(&started.log).await?;
        Ok(total)
    }

    fn progress(&self) {
        let rate = self.rows as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        logs::info(&format!(
            "{}: {} rows, {rate:.0} rows/s",
            self.qualified, self.rows
        ));
    }
}
