//! Reading a SQL Server table's partitions: at most `workers` at once, each on its own session, each keyset-ordered
//! so that a partition broken by a transient error reconnects after a backoff and resumes after the last key it
//! queued. SQL Server cannot share one snapshot across sessions, so each partition reads committed data as of its
//! own statement; rows changed meanwhile are caught by the next incremental read.

use super::connect::connect_as;
use super::decode::{cell, key_text};
use super::settings::MssqlConnection;
use super::{errors, sql};
use crate::engine::{self, Progress, Tx};
use crate::error::{Error, Result};
use crate::model::{Cell, FivetranType};
use crate::postgres::read::{Batch, PartRead, ReadRequest};
use futures_util::TryStreamExt;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Whether a read of `table` can resume after a key: it has one, and every key value round-trips through text.
pub fn resumable(table: &crate::model::Table) -> bool {
    !table.primary_key.is_empty()
        && table.primary_key.iter().all(|k| {
            table.columns.iter().any(|c| {
                &c.name == k
                    && super::types::key_round_trips(
                        &c.source_type,
                        super::types::Select::from_u8(c.decoder),
                    )
            })
        })
}

/// Starts the read on the shared runtime; dropping the receiver stops every partition and closes their sessions.
pub fn spawn(conn: MssqlConnection, request: ReadRequest) -> mpsc::Receiver<Result<Batch>> {
    let (tx, rx) = mpsc::channel(request.limits.current().queue_depth.max(1));
    crate::runtime::get().spawn(async move {
        if let Err(e) = run(Arc::new(conn), Arc::new(request), tx.clone()).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

async fn run(conn: Arc<MssqlConnection>, req: Arc<ReadRequest>, tx: Tx) -> Result<()> {
    engine::run_partitions(&req, &tx, |part, slot| {
        let (conn, req, tx) = (conn.clone(), req.clone(), tx.clone());
        async move {
            let progress = Progress {
                after: part.after.clone(),
                progressed: false,
                extra: (),
            };
            let resume = resumable(&req.table);
            engine::retrying(&req, &part, resume, progress, |p| {
                let (conn, req, part, tx) = (conn.clone(), req.clone(), part.clone(), tx.clone());
                Box::pin(async move { stream(&conn, &req, &part, slot, &tx, p).await })
            })
            .await
        }
    })
    .await
}

/// One attempt at a partition: a new session, a keyset read from `p.after`, batches handed over as they fill.
async fn stream(
    conn: &MssqlConnection,
    req: &ReadRequest,
    part: &PartRead,
    slot: usize,
    tx: &Tx,
    p: &mut Progress<()>,
) -> Result<()> {
    let context = format!(
        "reading {} partition {}",
        req.table.qualified(),
        part.index + 1
    );
    let mut client = connect_as(
        conn,
        &format!("connector_accel partition {}", part.index + 1),
    )
    .await?;
    let query = sql::read(&req.table, &part.range, p.after.as_deref(), &req.span);
    let params: Vec<&dyn tiberius::ToSql> = query
        .params
        .iter()
        .map(|v| v as &dyn tiberius::ToSql)
        .collect();
    let mut rows = client
        .query(query.sql.as_str(), &params)
        .await
        .map_err(|e| errors::query(&context, e))?
        .into_row_stream();
    let t = &req.table;
    let order = sql::order_columns(t, &req.span);
    let key_at: Vec<usize> = order
        .iter()
        .filter_map(|k| t.columns.iter().position(|c| &c.name == k))
        .collect();
    let types: Vec<FivetranType> = t.columns.iter().map(|c| c.fivetran_type).collect();
    let resume = resumable(t);
    let mut batch_size = req.limits.current().batch_size;
    let mut batch: Vec<Vec<Cell>> = Vec::with_capacity(batch_size);
    let mut last: Option<tiberius::Row> = None;
    loop {
        let next = rows
            .try_next()
            .await
            .map_err(|e| errors::query(&context, e))?;
        let done = next.is_none();
        if let Some(row) = next {
            let mut cells = Vec::with_capacity(types.len());
            for (i, (_, v)) in row.cells().enumerate() {
                cells.push(cell(v, types[i]).map_err(|m| fail(t, i, &m))?);
            }
            batch.push(cells);
            last = Some(row);
        }
        if batch.len() >= batch_size || (done && !batch.is_empty()) {
            // Only the batch's last row is a position to resume after: its key alone is turned into text.
            let last_key = match (&last, resume) {
                (Some(row), true) => Some(
                    key_at
                        .iter()
                        .map(|&i| key_of(t, row, i))
                        .collect::<Result<Vec<_>>>()?,
                ),
                _ => None,
            };
            let rows_now = std::mem::take(&mut batch);
            if !engine::emit(req, part, slot, tx, rows_now, last_key, Vec::new(), p).await? {
                return Ok(()); // the reader was closed: stop, and let the session go
            }
            batch_size = req.limits.current().batch_size;
            batch = Vec::with_capacity(batch_size);
        }
        if done {
            return Ok(());
        }
    }
}

fn key_of(t: &crate::model::Table, row: &tiberius::Row, i: usize) -> Result<String> {
    let v = row
        .get_column_data(i)
        .map_err(|e| fail(t, i, &e.to_string()))?;
    key_text(v).map_err(|m| fail(t, i, &m))
}

fn fail(t: &crate::model::Table, column: usize, message: &str) -> Error {
    let name = t.columns.get(column).map_or("?", |c| c.name.as_str());
    Error::Conversion(format!("table {} column {name}: {message}", t.qualified()))
}
