//! The source-neutral part of reading a table's partitions: at most `workers` partitions at once, each retried on
//! transient errors with a budget renewed by progress, and every batch handed over only when the live limits allow.
//! Sources (`postgres/parallel.rs`, `mssql/read.rs`) supply one attempt at streaming a partition, as a `Rows`
//! that `pump` turns into batches.

use crate::error::{Error, Result};
use crate::model::Cell;
use crate::monitor::Shared;
use crate::read::{Batch, PartRead, ReadRequest, RowSink, Tx};
use futures_util::future::BoxFuture;
use std::future::Future;
use std::time::Duration;
use tokio::task::JoinSet;

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
            None => {
                if let Some(lost) = req.unrepresentable.summary(&req.table.qualified()) {
                    req.log.warning(lost);
                }
                return Ok(());
            }
            Some(Ok((slot, Ok(())))) => free.push(slot),
            Some(Ok((_, Err(e)))) => return Err(e),
            Some(Err(panicked)) => {
                return Err(Error::Internal(format!(
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

/// A batch being filled: cells, or the rows already written by the read's `RowWriter`.
pub struct Filling {
    cells: Vec<Vec<Cell>>,
    sink: Option<Box<dyn RowSink>>,
    count: usize,
}

impl Filling {
    fn new(req: &ReadRequest, batch_size: usize) -> Filling {
        let sink = req.writer.as_ref().map(|w| w.sink());
        Filling {
            cells: Vec::with_capacity(if sink.is_some() { 0 } else { batch_size }),
            sink,
            count: 0,
        }
    }

    /// One row's cells: written at once (and freed) when the read has a writer, else kept.
    fn push(&mut self, cells: Vec<Cell>) {
        match &mut self.sink {
            Some(sink) => sink.row(&cells),
            None => self.cells.push(cells),
        }
        self.count += 1;
    }
}

/// Hands a batch of rows (as Arrow when the read asked for it, as written when it has a writer) to the reader
/// once the live limits let this worker's slot send; records its last key as the partition's position. False
/// when the reader is gone.
#[allow(clippy::too_many_arguments)]
pub async fn emit<S>(
    req: &ReadRequest,
    part: &PartRead,
    slot: usize,
    tx: &Tx,
    rows: Filling,
    last_key: Option<Vec<String>>,
    warnings: Vec<String>,
    progress: &mut Progress<S>,
) -> Result<bool> {
    let mut batch = Batch {
        partition: part.index,
        count: rows.count,
        rows: rows.cells,
        record: None,
        written: rows.sink.map(RowSink::finish),
        last_key: last_key.clone(),
        warnings,
    };
    if let (Some(schema), None) = (&req.arrow, &batch.written) {
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

/// A source's rows of one partition attempt, as the driver streams them.
pub trait Rows: Send {
    type Row: Send;
    /// The next row, or None at the end of the statement.
    fn next(&mut self) -> impl Future<Output = Result<Option<Self::Row>>> + Send;
    /// The row's cells, converted once.
    fn cells(&mut self, row: &Self::Row) -> Result<Vec<Cell>>;
    /// The row's position (values of the order columns, as text) to resume after.
    fn key(&self, row: &Self::Row) -> Result<Vec<String>>;
    /// What conversion noticed since the last call (one line per column and kind).
    fn take_warnings(&mut self) -> Vec<String>;
}

/// Fills batches from `rows` and hands each over (see `emit`), with the key of its last row when the read can
/// resume. A statement silent for the read's time limit fails as transient (see `read::next_row`). Only that last row's key is turned into text: the others are never a resume position. Returns false
/// when the reader went away before the end.
pub async fn pump<R: Rows, S>(
    req: &ReadRequest,
    part: &PartRead,
    slot: usize,
    tx: &Tx,
    resumable: bool,
    rows: &mut R,
    progress: &mut Progress<S>,
) -> Result<bool> {
    let mut batch_size = req.limits.current().batch_size;
    let mut batch = Filling::new(req, batch_size);
    let mut last = None;
    let what = format!(
        "reading {} partition {}",
        req.table.qualified(),
        part.index + 1
    );
    loop {
        let next = crate::read::next_row(req.read_timeout, &what, rows.next()).await?;
        let done = next.is_none();
        if let Some(row) = next {
            batch.push(rows.cells(&row)?);
            last = Some(row);
        }
        if batch.count >= batch_size || (done && batch.count > 0) {
            let last_key = match (&last, resumable) {
                (Some(row), true) => Some(rows.key(row)?),
                _ => None,
            };
            batch_size = req.limits.current().batch_size;
            let full = std::mem::replace(&mut batch, Filling::new(req, batch_size));
            let warnings = rows.take_warnings();
            if !emit(req, part, slot, tx, full, last_key, warnings, progress).await? {
                return Ok(false);
            }
        }
        if done {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::Limits;
    use crate::retry::Policy;
    use std::sync::{Arc, Mutex};

    fn request(max_retries: u32) -> ReadRequest {
        ReadRequest {
            table: Arc::new(crate::model::Table::new(
                "s".into(),
                "t".into(),
                vec![],
                vec!["id".into()],
            )),
            parts: vec![PartRead::default()],
            span: crate::read::Span::Full,
            limits: Shared::new(Limits {
                batch_size: 10,
                queue_depth: 2,
                workers: 1,
            }),
            flatten: crate::config::Flatten {
                enabled: false,
                separator: "_".into(),
                depth: 1,
                sample_rows: 1,
                max_columns: 1,
            },
            retry: Policy::new(max_retries, 0.0),
            log: crate::messages::Messages::default(),
            arrow: None,
            writer: None,
            snapshot: None,
            read_timeout: Duration::from_secs(1),
            unrepresentable: crate::read::Unrepresentable::new(
                crate::config::OnUnrepresentable::Null,
            ),
        }
    }

    fn blip() -> Error {
        Error::Query {
            message: "terminating connection due to administrator command".into(),
            sqlstate: Some("57P01".into()),
            number: None,
            transient: true,
        }
    }

    /// Runs `retrying` over scripted attempts: each moves the position to its key (when it has one) and then
    /// fails, until the script ends with a success. Returns the result and the position each attempt started at.
    fn run(
        max_retries: u32,
        resumable: bool,
        script: Vec<Option<&'static str>>,
    ) -> (Result<()>, Vec<Option<String>>, Vec<String>) {
        let req = request(max_retries);
        let part = req.parts[0].clone();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let steps = Arc::new(Mutex::new(script.into_iter()));
        let progress = Progress {
            after: None,
            progressed: false,
            extra: (),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let result = runtime.block_on(retrying(&req, &part, resumable, progress, |p| {
            let (seen, steps) = (seen.clone(), steps.clone());
            Box::pin(async move {
                seen.lock()
                    .unwrap()
                    .push(p.after.as_ref().map(|k| k.join(",")));
                match steps.lock().unwrap().next() {
                    None => Ok(()),
                    Some(key) => {
                        if let Some(key) = key {
                            p.after = Some(vec![key.to_string()]);
                            p.progressed = true;
                        }
                        Err(blip())
                    }
                }
            })
        }));
        let logged = req.log.take().into_iter().map(|(_, m)| m).collect();
        let seen = seen.lock().unwrap().clone();
        (result, seen, logged)
    }

    #[test]
    fn each_retry_resumes_after_the_last_key_handed_over() {
        let (result, seen, _) = run(5, true, vec![Some("10"), Some("20"), None]);
        assert!(result.is_ok());
        assert_eq!(
            seen,
            vec![
                None,
                Some("10".into()),
                Some("20".into()),
                Some("20".into())
            ]
        );
    }

    #[test]
    fn progress_renews_the_retry_budget() {
        // One retry allowed, yet six failures in a row survive: each came after progress.
        let keys = vec![
            Some("1"),
            Some("2"),
            Some("3"),
            Some("4"),
            Some("5"),
            Some("6"),
        ];
        let (result, seen, logged) = run(1, true, keys);
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(seen.len(), 7);
        assert!(
            logged.iter().all(|m| m.contains("retry 1/1")),
            "every failure after progress starts a fresh budget: {logged:?}"
        );
    }

    #[test]
    fn failures_without_progress_spend_the_budget_and_give_up() {
        let (result, seen, logged) = run(2, true, vec![Some("1"), None, None, None]);
        let err = result.unwrap_err();
        assert!(err.to_string().contains("gave up after 2 retries"), "{err}");
        assert!(!err.is_transient());
        // the first failure came after progress (retry 1/2), the second spent the budget (2/2), the third gave up
        assert_eq!(seen.len(), 3);
        assert_eq!(logged.len(), 2, "{logged:?}");
        assert!(
            logged[0].contains("retry 1/2") && logged[1].contains("retry 2/2"),
            "{logged:?}"
        );
    }

    #[test]
    fn a_read_without_a_usable_key_starts_over_and_says_so() {
        let (result, seen, logged) = run(3, false, vec![Some("10"), None]);
        assert!(result.is_ok());
        assert_eq!(seen, vec![None, None, None]);
        assert!(
            logged
                .iter()
                .any(|m| m.contains("no usable key, so the read starts over")),
            "{logged:?}"
        );
    }
}
