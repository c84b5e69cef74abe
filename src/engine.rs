//! The source-neutral part of reading a table's partitions: at most `workers` partitions at once, each retried on
//! transient errors with a budget renewed by progress, and every batch handed over only when the live limits allow.
//! Sources (`postgres/parallel.rs`, `mssql/read.rs`) supply one attempt at streaming a partition.

use crate::error::{Error, Result};
use crate::model::Cell;
use crate::monitor::Shared;
use crate::postgres::read::{Batch, PartRead, ReadRequest};
use futures_util::future::BoxFuture;
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc::Sender;
use tokio::task::JoinSet;

pub type Tx = Sender<Result<Batch>>;

/// Runs `partition(part, slot)` for every planned partition, at most the planned number of workers at a time
/// (`slot` is the worker's number, which the monitor's live worker limit is compared with). Stops at the first
/// error, or when the reader is gone.
pub async fn run_partitions<F, Fut>(req: &ReadRequest, tx: &Tx, partition: F) -> Result<()>
where
    F: Fn(PartRead, usize) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let mut pending = req.parts.clone().into_iter();
    let mut free: Vec<usize> = (0..req.limits.planned().workers.max(1)).rev().collect();
    let mut running = JoinSet::new();
    loop {
        while let Some(slot) = free.pop() {
            let Some(part) = pending.next() else {
                free.push(slot);
                break;
            };
            let attempt = partition(part, slot);
            running.spawn(async move { (slot, attempt.await) });
        }
        match running.join_next().await {
            None => return Ok(()),
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
            return Ok(());
        }
    }
}

/// Where a partition's read stands between attempts: the last key handed over, and whether this attempt moved it.
pub struct Progress<S> {
    pub after: Option<Vec<String>>,
    pub progressed: bool,
    /// Whatever else the source carries from one attempt to the next (PostgreSQL: the snapshot to import).
    pub extra: S,
}

/// Streams one partition to its end with `attempt`, retrying transient failures after the policy's delays. A
/// partition that made progress since its last failure gets a fresh retry budget: a many-hour read must not die of
/// scattered blips.
pub async fn retrying<S>(
    req: &ReadRequest,
    part: &PartRead,
    resumable: bool,
    mut progress: Progress<S>,
    mut attempt: impl for<'a> FnMut(&'a mut Progress<S>) -> BoxFuture<'a, Result<()>>,
) -> Result<()> {
    let what = format!("{} partition {}", req.table.qualified(), part.index + 1);
    let mut schedule = req.retry.schedule();
    loop {
        progress.progressed = false;
        let Err(e) = attempt(&mut progress).await else {
            return Ok(());
        };
        if progress.progressed {
            schedule = req.retry.schedule();
        }
        let delay = schedule.next(&what, e, &req.log)?;
        if !resumable {
            req.log.warning(format!(
                "{what}: no usable key, so the read starts over (rows are keyed by hash)"
            ));
            progress.after = None;
        }
        tokio::time::sleep(delay).await;
    }
}

/// Hands a batch of rows (as Arrow when the read asked for it) to the reader once the live limits let this
/// worker's slot send; records its last key as the partition's position. False when the reader is gone.
#[allow(clippy::too_many_arguments)]
pub async fn emit<S>(
    req: &ReadRequest,
    part: &PartRead,
    slot: usize,
    tx: &Tx,
    rows: Vec<Vec<Cell>>,
    last_key: Option<Vec<String>>,
    warnings: Vec<String>,
    progress: &mut Progress<S>,
) -> Result<bool> {
    let mut batch = Batch {
        partition: part.index,
        rows,
        record: None,
        last_key: last_key.clone(),
        warnings,
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
    if !wait_turn(&req.limits, slot, tx).await || tx.send(Ok(batch)).await.is_err() {
        return Ok(false);
    }
    progress.after = last_key;
    progress.progressed = true;
    Ok(true)
}

/// Waits until this fetcher may queue a batch: its slot is within the current worker count and the queue is below
/// the current depth. While the limits are the planned ones, `send` itself provides the backpressure.
async fn wait_turn(limits: &Shared, slot: usize, tx: &Tx) -> bool {
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
