//! Reading a SQL Server table's partitions: at most `workers` at once, each on its own session, each keyset-ordered
//! so that a partition broken by a transient error reconnects after a backoff and resumes after the last key it
//! queued. SQL Server cannot share one snapshot across sessions, so each partition reads committed data as of its
//! own statement; rows changed meanwhile are caught by the next incremental read.

use super::connect::connect_as;
use super::decode::{cell, key_text};
use super::settings::MssqlConnection;
use super::{errors, sql};
use crate::error::{Error, Result};
use crate::model::{Cell, FivetranType};
use crate::postgres::parallel::wait_turn;
use crate::postgres::read::{Batch, PartRead, ReadRequest};
use futures_util::TryStreamExt;
use std::sync::Arc;
use tokio::sync::mpsc::{self, Sender};
use tokio::task::JoinSet;

type Tx = Sender<Result<Batch>>;

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
    let mut pending = req.parts.clone().into_iter();
    let mut free: Vec<usize> = (0..req.limits.planned().workers.max(1)).rev().collect();
    let mut running = JoinSet::new();
    loop {
        while let Some(slot) = free.pop() {
            let Some(part) = pending.next() else {
                free.push(slot);
                break;
            };
            let (conn, req, tx) = (conn.clone(), req.clone(), tx.clone());
            running.spawn(async move { (slot, partition(&conn, &req, part, slot, &tx).await) });
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

/// Reads one partition to its end, retrying transient failures; progress since the last failure renews the budget.
async fn partition(
    conn: &MssqlConnection,
    req: &ReadRequest,
    part: PartRead,
    slot: usize,
    tx: &Tx,
) -> Result<()> {
    let what = format!("{} partition {}", req.table.qualified(), part.index + 1);
    let mut after = part.after.clone();
    let mut schedule = req.retry.schedule();
    loop {
        let mut progressed = false;
        match stream(conn, req, &part, slot, tx, &mut after, &mut progressed).await {
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
                    after = None;
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn stream(
    conn: &MssqlConnection,
    req: &ReadRequest,
    part: &PartRead,
    slot: usize,
    tx: &Tx,
    after: &mut Option<Vec<String>>,
    progressed: &mut bool,
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
    let query = sql::read(&req.table, &part.range, after.as_deref(), &req.span);
    let params: Vec<&dyn tiberius::ToSql> = query
        .params
        .iter()
        .map(|p| p as &dyn tiberius::ToSql)
        .collect();
    let mut rows = client
        .query(query.sql.as_str(), &params)
        .await
        .map_err(|e| errors::query(&context, e))?
        .into_row_stream();
    let order = sql::order_columns(&req.table, &req.span);
    let t = &req.table;
    let key_at: Vec<usize> = order
        .iter()
        .filter_map(|k| t.columns.iter().position(|c| &c.name == k))
        .collect();
    let types: Vec<FivetranType> = t.columns.iter().map(|c| c.fivetran_type).collect();
    let resume = resumable(t);
    let mut batch_size = req.limits.current().batch_size;
    let mut batch: Vec<Vec<Cell>> = Vec::with_capacity(batch_size);
    let mut last_key = None;
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
            if resume {
                let key: Result<Vec<String>> = key_at
                    .iter()
                    .map(|&i| {
                        key_text(
                            row.get_column_data(i)
                                .map_err(|e| fail(t, i, &e.to_string()))?,
                        )
                        .map_err(|m| fail(t, i, &m))
                    })
                    .collect();
                last_key = Some(key?);
            }
            batch.push(cells);
        }
        if batch.len() >= batch_size || (done && !batch.is_empty()) {
            let mut out = Batch {
                partition: part.index,
                rows: std::mem::take(&mut batch),
                record: None,
                last_key: last_key.clone(),
                warnings: Vec::new(),
            };
            if let Some(schema) = &req.arrow {
                out.record = Some(crate::arrow_batch::record_batch(
                    schema,
                    &t.qualified(),
                    &out.rows,
                )?);
                out.rows = Vec::new();
            }
            if !wait_turn(&req.limits, slot, tx).await || tx.send(Ok(out)).await.is_err() {
                return Ok(()); // the reader was closed: stop, and let the session go
            }
            *after = last_key.clone();
            *progressed = true;
            batch_size = req.limits.current().batch_size;
            batch = Vec::with_capacity(batch_size);
        }
        if done {
            return Ok(());
        }
    }
}

fn fail(t: &crate::model::Table, column: usize, message: &str) -> Error {
    let name = t.columns.get(column).map_or("?", |c| c.name.as_str());
    Error::Conversion(format!("table {} column {name}: {message}", t.qualified()))
}
