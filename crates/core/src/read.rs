//! What a read is, whatever the source: the partitions and their resume positions, the time window, the live
//! limits, and the batches that come back. Sources fill batches; the engine schedules and retries them.

use crate::config::{Flatten, OnUnrepresentable};
use crate::error::{Error, Result};
use crate::messages::Messages;
use crate::model::{Cell, Column, Cursor, Table};
use crate::monitor::Shared;
use crate::plan::Partition;
use crate::retry::Policy;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Rows in column order (a flattened column holds `Cell::Flat`) from one partition, and the position of its last
/// row (values of the order columns, as text) to resume after.
pub struct Batch {
    pub partition: usize,
    pub rows: Vec<Vec<Cell>>,
    /// The rows as Arrow, built by the fetcher when the read asked for Arrow (then `rows` is empty).
    pub record: Option<arrow::record_batch::RecordBatch>,
    /// The rows in a front end's own form, written by the fetcher when the read has a `RowWriter` (then `rows`
    /// is empty): what that writer's `RowSink::finish` made, for the front end to downcast.
    pub written: Option<Box<dyn std::any::Any + Send>>,
    /// The rows this batch holds, in whichever form.
    pub count: usize,
    pub last_key: Option<Vec<String>>,
    pub warnings: Vec<String>,
}

/// A front end's own form of rows, written in the fetchers: each row as soon as its cells are made, on the thread
/// that made them, so the cells are freed there while still in cache, and the fetchers (not one consumer) do the
/// writing. The Partner SDK server's records are written so (`fivetran_source::records`); the core never knows
/// what the bytes are.
pub trait RowWriter: Send + Sync {
    /// A sink for one batch's rows.
    fn sink(&self) -> Box<dyn RowSink>;
}

/// One batch's rows as a `RowWriter` writes them.
pub trait RowSink: Send {
    fn row(&mut self, cells: &[Cell]);
    /// What the batch became, handed over as `Batch::written`.
    fn finish(self: Box<Self>) -> Box<dyn std::any::Any + Send>;
}

/// One partition of a read: its key range and, when resuming, the position already emitted.
#[derive(Debug, Clone, Default)]
pub struct PartRead {
    /// The partition's number in the caller's plan; batches carry it back.
    pub index: usize,
    pub range: Partition,
    pub after: Option<Vec<String>>,
}

/// Which rows a read covers in time.
#[derive(Debug, Clone)]
pub enum Span {
    /// Every row (a full load, or a table without a cursor).
    Full,
    /// Rows whose cursor is at or after the last high-water mark, moved back to the oldest transaction that was
    /// still writing then (`guard`, PostgreSQL only) and by the look-back; None marks are left out.
    Since {
        cursor: Cursor,
        high: Option<String>,
        guard: Option<String>,
        lookback_seconds: f64,
    },
}

/// Batch size, workers and queue depth a caller may fix instead of the plan's (None keeps the plan's).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sizes {
    pub batch_size: Option<usize>,
    pub workers: Option<usize>,
    pub queue_depth: Option<usize>,
}

/// What to read and how.
pub struct ReadRequest {
    pub table: Arc<Table>,
    pub parts: Vec<PartRead>,
    pub span: Span,
    /// Planned limits, followed live (the monitor may lower them).
    pub limits: Arc<Shared>,
    pub flatten: Flatten,
    pub retry: Policy,
    pub log: Messages,
    /// Build Arrow record batches of this schema in the fetchers (in parallel), instead of handing over cells.
    pub arrow: Option<arrow::datatypes::SchemaRef>,
    /// A snapshot exported elsewhere (another process's `export_snapshot`) that every partition imports; without
    /// it, a PostgreSQL read of several partitions exports its own.
    pub snapshot: Option<String>,
    /// Write each row in the fetcher as it is converted (see `RowWriter`), instead of handing over cells.
    pub writer: Option<Arc<dyn RowWriter>>,
    /// How long a partition's statement may send nothing before its attempt fails as transient.
    pub read_timeout: std::time::Duration,
    /// Values no destination type can hold: what `on_unrepresentable_value` says, and those landed NULL so far.
    pub unrepresentable: Unrepresentable,
}

/// The values of one table's read that landed as NULL, counted across its partitions, with the first's place.
#[derive(Debug)]
pub struct Unrepresentable {
    pub policy: OnUnrepresentable,
    count: AtomicU64,
    first: Mutex<Option<String>>,
}

impl Unrepresentable {
    pub fn new(policy: OnUnrepresentable) -> Self {
        Unrepresentable {
            policy,
            count: AtomicU64::new(0),
            first: Mutex::new(None),
        }
    }

    /// A value of `column` that cannot be represented (`why`), in the row at `key`: under `fail`, the error naming
    /// table, column, key and the setting that lets the sync go on; under `null`, where it was, for `landed`.
    pub fn refuse(&self, table: &str, column: &str, key: &str, why: &str) -> Result<String> {
        let place = format!("column {column} of the row {key}: {why}");
        if self.policy == OnUnrepresentable::Fail {
            return Err(Error::Conversion(format!(
                "table {table} {place}; fix the value at the source, or set 'on_unrepresentable_value' to null to \
                 land such values as NULL (with a warning) and sync the rest"
            )));
        }
        Ok(place)
    }

    /// `n` values of a batch handed over were written as NULL, the batch's first at `first`. Counted per batch
    /// handed over, so that rows an attempt converted but a retry reads again are counted once.
    pub fn landed(&self, n: u64, first: Option<String>) {
        if n == 0 {
            return;
        }
        self.count.fetch_add(n, Ordering::Relaxed);
        let mut kept = self.first.lock().unwrap_or_else(|p| p.into_inner());
        if kept.is_none() {
            *kept = first;
        }
    }

    /// The warning for the end of the read, when any value landed as NULL.
    pub fn summary(&self, table: &str) -> Option<String> {
        let n = self.count.load(Ordering::Relaxed);
        let first = self
            .first
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        Some(format!(
            "table {table}: {n} value(s) cannot be represented in the destination and were written as NULL \
             (the first: {first}); fix them at the source, or set 'on_unrepresentable_value' to fail to stop the \
             sync instead"
        ))
    }
}

impl ReadRequest {
    /// How many partitions are read at once: the planned workers, never more than there are partitions. A source
    /// opens this many sessions ahead.
    pub fn concurrency(&self) -> usize {
        self.limits
            .planned()
            .workers
            .clamp(1, self.parts.len().max(1))
    }
}

pub type Tx = mpsc::Sender<Result<Batch>>;

/// The columns a read is ordered by, and resumes after: the primary key, preceded by the cursor in a window.
pub fn order_columns(table: &Table, span: &Span) -> Vec<String> {
    let first: Option<&String> = match span {
        Span::Since { cursor, .. } => Some(&cursor.column),
        Span::Full => None,
    };
    first
        .into_iter()
        .chain(table.primary_key.iter().filter(|k| Some(*k) != first))
        .cloned()
        .collect()
}

/// Where a row is, for a message: its key values in read order (`with key (id=5)`), or that it has no key that
/// reads as text; `key` is the row's key as the source's reader got it.
pub fn place(table: &Table, span: &Span, key: Result<Vec<String>>) -> String {
    match key {
        Ok(values) if !values.is_empty() => {
            let pairs: Vec<String> = order_columns(table, span)
                .iter()
                .zip(&values)
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            format!("with key ({})", pairs.join(", "))
        }
        _ => "without a key (the table has no primary key that reads as text)".into(),
    }
}

/// A query's result columns (`read_arrow(query=...)`) must have distinct names: its rows are read as a table's,
/// cells named by column, so a second column of one name would take the first one's place.
pub fn distinct_query_columns<S: AsRef<str>>(names: &[S]) -> Result<()> {
    let twice = names.iter().enumerate().find_map(|(i, n)| {
        names[..i]
            .iter()
            .any(|m| m.as_ref() == n.as_ref())
            .then_some(n)
    });
    match twice {
        Some(twice) => Err(Error::config(
            "query",
            format!(
                "column '{}' appears twice; give the columns distinct names (AS ...)",
                twice.as_ref()
            ),
        )),
        None => Ok(()),
    }
}

/// A value of the `column`th column of `table` that could not be converted, named by table and column.
pub fn conversion_error(table: &Table, column: usize, message: &str) -> Error {
    let name = table.columns.get(column).map_or("?", |c| c.name.as_str());
    Error::Conversion(format!(
        "table {} column {name}: {message}",
        table.qualified()
    ))
}

/// Whether a read of `table` can resume after a key: it has one, and every key column's value round-trips
/// through text (as the source's `round_trips` says), so that it can be bound back as a position.
pub fn resumable(table: &Table, round_trips: impl Fn(&Column) -> bool) -> bool {
    !table.primary_key.is_empty()
        && table
            .primary_key
            .iter()
            .all(|k| table.columns.iter().any(|c| &c.name == k && round_trips(c)))
}

/// Waits for a driver's next row at most `limit`; silence that long is a transient failure (the retry resumes after
/// the last key handed over), so a stalled server or a half-open connection cannot hang a read.
pub async fn next_row<T>(
    limit: std::time::Duration,
    context: &str,
    next: impl Future<Output = Result<T>>,
) -> Result<T> {
    // A row already received is taken without a timer: arming one reads the clock, for every row of every read.
    // The same future goes on under the timer when it must wait, so nothing it holds is dropped.
    let mut next = std::pin::pin!(next);
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(next.as_mut().poll(cx))).await;
    if let std::task::Poll::Ready(row) = first {
        return row;
    }
    tokio::time::timeout(limit, next).await.unwrap_or_else(|_| {
        Err(Error::Query {
            message: format!(
                "{context}: no data from the server for {:.0}s; the read is retried from its last key (raise 'read_timeout_seconds' for statements that may think longer)",
                limit.as_secs_f64()
            ),
            sqlstate: None,
            number: None,
            transient: true,
        })
    })
}

/// Positions of `order_columns` among the table's columns: where a row's resume key is read from.
pub fn key_positions(table: &Table, span: &Span) -> Vec<usize> {
    order_columns(table, span)
        .iter()
        .filter_map(|k| table.columns.iter().position(|c| &c.name == k))
        .collect()
}

/// Starts `run` on the shared runtime with a queue of at most the planned queue depth of batches; its error, if
/// any, is the last item. Dropping the receiver stops every partition and closes their connections.
pub fn spawn<F, Fut>(request: ReadRequest, run: F) -> mpsc::Receiver<Result<Batch>>
where
    F: FnOnce(Arc<ReadRequest>, Tx) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(request.limits.current().queue_depth.max(1));
    let work = run(Arc::new(request), tx.clone());
    crate::runtime::get().spawn(async move {
        if let Err(e) = work.await {
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::distinct_query_columns;

    #[test]
    fn a_query_column_named_twice_is_refused_naming_it() {
        assert!(distinct_query_columns(&["a", "b", "A"]).is_ok());
        assert!(distinct_query_columns::<&str>(&[]).is_ok());
        let err = distinct_query_columns(&["a", "b", "c", "b"]).expect_err("b twice");
        assert_eq!(
            err.to_string(),
            "configuration key 'query': column 'b' appears twice; give the columns distinct names (AS ...)"
        );
    }
}
