//! Running a read's partitions: at most `workers` at once, each on its own connection, all importing one snapshot
//! exported by a coordinating session, so every partition sees the same committed data. A partition broken by a
//! transient error reconnects after a backoff and resumes after the last key it queued.

use super::connect::connect_as;
use super::read::{resumable, Batch, Decoding, PartRead, ReadRequest};
use super::sql;
use crate::config::Connection;
use crate::error::{Error, Result};
use crate::monitor::Shared;
use futures_util::{pin_mut, TryStreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::Sender;
use tokio::task::JoinSet;
use tokio_postgres::{Client, Row};

type Tx = Sender<Result<Batch>>;

pub async fn run(conn: Arc<Connection>, req: Arc<ReadRequest>, tx: Tx) -> Result<()> {
    let exporter = if req.parts.len() > 1 && req.snapshot.is_none() {
        export(&conn, &req).await
    } else {
        None
    };
    let snapshot = req
        .snapshot
        .clone()
        .or_else(|| exporter.as_ref().map(|(_, id)| id.clone()));
    let mut pending = req.parts.clone().into_iter();
    let mut free: Vec<usize> = (0..req.limits.planned().workers.max(1)).rev().collect();
    let mut running = JoinSet::new();
    loop {
        while let Some(slot) = free.pop() {
            let Some(part) = pending.next() else {
                free.push(slot);
                break;
            };
            let (conn, req, tx, snapshot) =
                (conn.clone(), req.clone(), tx.clone(), snapshot.clone());
            running.spawn(async move {
                (
                    slot,
                    partition(&conn, &req, part, snapshot, slot, &tx).await,
                )
            });
        }
        match running.join_next().await {
            None => break,
            Some(Ok((slot, Ok(())))) => free.push(slot),
            Some(Ok((_, Err(e)))) => return Err(e),
            Some(Err(panicked)) => {
                return Err(Error::Conversion(format!(
                    "reading {}: a partition stopped unexpectedly ({panicked})",
                    req.table.qualified()
                )))
            }
        }
        if tx.is_closed() {
            break;
        }
    }
    drop(exporter);
    Ok(())
}

/// A session holding a REPEATABLE READ transaction open, and the id of its exported snapshot. Without one (the
/// server refused, or a standby that cannot export) each partition reads its own snapshot; the incremental
/// high-water mark was taken before the read, so changes between those snapshots are picked up next sync.
async fn export(conn: &Connection, req: &ReadRequest) -> Option<(Client, String)> {
    let what = format!("{}: exporting a snapshot", req.table.qualified());
    let exported = crate::retry::run(req.retry, &what, &req.log, || export_snapshot(conn)).await;
    match exported {
        Ok(found) => Some(found),
        Err(e) => {
            req.log.warning(format!(
                "{}: partitions read without a shared snapshot ({e})",
                req.table.qualified()
            ));
            None
        }
    }
}

/// Opens a session, starts a REPEATABLE READ transaction and exports its snapshot. The snapshot stays importable
/// as long as the returned client is kept.
pub async fn export_snapshot(conn: &Connection) -> Result<(Client, String)> {
    let what = "exporting a snapshot";
    let client = connect_as(conn, "connector_accel snapshot").await?;
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(|e| Error::query(what, e))?;
    let row = client
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .map_err(|e| Error::query(what, e))?;
    Ok((client, row.get::<_, String>(0)))
}

/// Reads one partition to its end, retrying transient failures. A partition that made progress since its last
/// failure gets a fresh retry budget.
async fn partition(
    conn: &Connection,
    req: &ReadRequest,
    part: PartRead,
    mut snapshot: Option<String>,
    slot: usize,
    tx: &Tx,
) -> Result<()> {
    let what = format!("{} partition {}", req.table.qualified(), part.index + 1);
    let mut after = part.after.clone();
    let mut schedule = req.retry.schedule();
    loop {
        let mut progressed = false;
        let attempt = Attempt {
            conn,
            req,
            part: &part,
            slot,
            tx,
            what: &what,
        };
        match attempt
            .stream(&mut after, &mut snapshot, &mut progressed)
            .await
        {
            Ok(()) => return Ok(()),
            Err(e) => {
                if progressed {
                    schedule = req.retry.schedule();
                }
                let delay = schedule.next(&what, e, &req.log)?;
                if !resumable(&req.table) {
                    req.log.warning(format!(
                        "{what}: no usable key, so the read starts over (rows are keyed by hash)"
                    ));
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}

struct Attempt<'a> {
    conn: &'a Connection,
    req: &'a ReadRequest,
    part: &'a PartRead,
    slot: usize,
    tx: &'a Tx,
    what: &'a str,
}

impl Attempt<'_> {
    async fn stream(
        &self,
        after: &mut Option<Vec<String>>,
        snapshot: &mut Option<String>,
        progressed: &mut bool,
    ) -> Result<()> {
        let req = self.req;
        let client = connect_as(
            self.conn,
            &format!("connector_accel partition {}", self.part.index + 1),
        )
        .await?;
        let in_snapshot = self.import(&client, snapshot).await?;
        let query = sql::read(
            &req.table,
            &self.part.range,
            after.as_deref(),
            &req.span.window(),
        );
        let context = format!("reading {}", self.what);
        let stream = client
            .query_raw(&query.sql, query.params.iter())
            .await
            .map_err(|e| Error::query(&context, e))?;
        pin_mut!(stream);
        let mut decoding = Decoding::new(req);
        let resume = resumable(&req.table);
        let mut batch_size = req.limits.current().batch_size;
        let mut rows = Vec::with_capacity(batch_size);
        let mut last: Option<Row> = None;
        loop {
            let next = stream
                .try_next()
                .await
                .map_err(|e| Error::query(&context, e))?;
            let done = next.is_none();
            if let Some(row) = next {
                rows.push(decoding.row(&row)?);
                last = Some(row);
            }
            if rows.len() >= batch_size || (done && !rows.is_empty()) {
                let last_key = match (&last, resume) {
                    (Some(row), true) => Some(decoding.key(row)?),
                    _ => None,
                };
                let mut batch = Batch {
                    partition: self.part.index,
                    rows: std::mem::take(&mut rows),
                    record: None,
                    last_key: last_key.clone(),
                    warnings: std::mem::take(&mut decoding.warnings),
                };
                if let Some(schema) = &req.arrow {
                    let name = req.table.qualified();
                    batch.record = Some(crate::arrow_batch::record_batch(
                        schema,
                        &name,
                        &batch.rows,
                    )?);
                    batch.rows = Vec::new();
                }
                if !wait_turn(&req.limits, self.slot, self.tx).await
                    || self.tx.send(Ok(batch)).await.is_err()
                {
                    return Ok(()); // the reader was closed: stop, and let the connection go
                }
                *after = last_key;
                *progressed = true;
                batch_size = req.limits.current().batch_size;
                rows = Vec::with_capacity(batch_size);
            }
            if done {
                if in_snapshot {
                    let _ = client.batch_execute("COMMIT").await;
                }
                return Ok(());
            }
        }
    }

    /// Joins the shared snapshot. When it is gone (its session ended, e.g. terminated), this partition and later
    /// attempts read their own snapshot instead, which the warning says.
    async fn import(&self, client: &Client, snapshot: &mut Option<String>) -> Result<bool> {
        let Some(id) = snapshot.clone() else {
            return Ok(false);
        };
        let context = format!("{}: importing the snapshot", self.what);
        let begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
        client
            .batch_execute(begin)
            .await
            .map_err(|e| Error::query(&context, e))?;
        // The id comes from pg_export_snapshot (hex digits and dashes); SET TRANSACTION SNAPSHOT takes no parameter.
        let valid = !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        let imported = if valid {
            client
                .batch_execute(&format!("SET TRANSACTION SNAPSHOT '{id}'"))
                .await
        } else {
            Ok(())
        };
        match imported {
            Ok(()) if valid => Ok(true),
            Err(e) if e.as_db_error().is_none() => Err(Error::query(&context, e)),
            _ => {
                self.req.log.warning(format!(
                    "{}: the shared snapshot is gone; this partition continues on its own snapshot",
                    self.what
                ));
                *snapshot = None;
                client
                    .batch_execute("ROLLBACK")
                    .await
                    .map_err(|e| Error::query(&context, e))?;
                Ok(false)
            }
        }
    }
}

/// Waits until this fetcher may queue a batch: its slot is within the current worker count and the queue is below
/// the current depth. While the limits are the planned ones, `send` itself provides the backpressure.
pub async fn wait_turn(limits: &Shared, slot: usize, tx: &Tx) -> bool {
    loop {
        if tx.is_closed() {
            return false;
        }
        let now = limits.current();
        let queued = tx.max_capacity() - tx.capacity();
        if slot < now.workers && (now.queue_depth >= tx.max_capacity() || queued < now.queue_depth)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
