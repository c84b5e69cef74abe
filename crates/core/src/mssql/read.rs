//! Reading a SQL Server table's partitions: at most `workers` at once, each on its own session, each keyset-ordered
//! so that a partition broken by a transient error reconnects after a backoff and resumes after the last key it
//! queued. SQL Server cannot share one snapshot across sessions, so each partition reads committed data as of its
//! own statement; rows changed meanwhile are caught by the next incremental read.

use super::connect::Session;
use super::decode::{cell, key_text, Refused};
use super::errors;
use super::sql::TSql;
use super::types::{key_round_trips, select};
use crate::engine::{self, Progress, Rows};
use crate::error::Result;
use crate::model::{Cell, FivetranType, Table};
use crate::pool::Pool;
use crate::read::conversion_error;
use crate::read::{key_positions, PartRead, ReadRequest, Tx};
use futures_util::stream::BoxStream;
use futures_util::TryStreamExt;
use std::sync::Arc;

/// Whether a read of `table` can resume after a key (see `crate::read::resumable`).
pub fn resumable(table: &Table) -> bool {
    crate::read::resumable(table, |c| key_round_trips(&c.source_type, select(c)))
}

pub async fn run(sessions: Arc<Pool<Session>>, req: Arc<ReadRequest>, tx: Tx) -> Result<()> {
    // Every worker's first session logs in now, together; later partitions reuse the sessions earlier ones hand back.
    sessions.warm(req.concurrency());
    engine::run_partitions(&req, &tx, |part, slot| {
        let (sessions, req, tx) = (sessions.clone(), req.clone(), tx.clone());
        async move {
            let progress = Progress {
                after: part.after.clone(),
                progressed: false,
                extra: (),
            };
            let resume = resumable(&req.table);
            engine::retrying(&req, &part, resume, progress, |p| {
                let (sessions, req, part, tx) =
                    (sessions.clone(), req.clone(), part.clone(), tx.clone());
                Box::pin(async move {
                    let attempt = stream(&sessions, &req, &part, slot, &tx, p);
                    sessions.clearing_on_error(attempt).await
                })
            })
            .await
        }
    })
    .await
}

/// One attempt at a partition: a pooled session, a keyset read from `p.after`, batches handed over as they fill.
async fn stream(
    sessions: &Pool<Session>,
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
    let mut client = sessions.take().await?;
    let t = &req.table;
    let query = crate::statement::read(&TSql, t, &part.range, p.after.as_deref(), &req.span);
    let params: Vec<&dyn tiberius::ToSql> = query
        .params
        .iter()
        .map(|v| v as &dyn tiberius::ToSql)
        .collect();
    let stream = client
        .query(query.sql.as_str(), &params)
        .await
        .map_err(|e| errors::query(&context, e))?
        .into_row_stream();
    let mut rows = MsRows {
        stream,
        req,
        table: t,
        types: t.columns.iter().map(|c| c.fivetran_type).collect(),
        key_at: key_positions(t, &req.span),
        context,
        lost: (0, None),
    };
    let finished = engine::pump(req, part, slot, tx, resumable(t), &mut rows, p).await?;
    drop(rows);
    // Stopped because the reader went away: the statement is still under way, so the session is let go.
    if finished {
        sessions.give(client);
    }
    Ok(())
}

/// The rows of one partition attempt, converted as they come.
struct MsRows<'a> {
    stream: BoxStream<'a, tiberius::Result<tiberius::Row>>,
    req: &'a ReadRequest,
    table: &'a Table,
    types: Vec<FivetranType>,
    key_at: Vec<usize>,
    context: String,
    /// Values of the batch being filled that were written as NULL (`on_unrepresentable_value`), and the first's place.
    lost: (u64, Option<String>),
}

impl Rows for MsRows<'_> {
    type Row = tiberius::Row;

    async fn next(&mut self) -> Result<Option<tiberius::Row>> {
        self.stream
            .try_next()
            .await
            .map_err(|e| errors::query(&self.context, e))
    }

    fn cells(&mut self, row: &tiberius::Row) -> Result<Vec<Cell>> {
        let mut cells = Vec::with_capacity(self.types.len());
        for (i, (_, v)) in row.cells().enumerate() {
            cells.push(match cell(v, self.types[i]) {
                Ok(c) => c,
                Err(Refused::Unexpected(m)) => return Err(conversion_error(self.table, i, &m)),
                Err(Refused::Unrepresentable(why)) => {
                    let place = self.req.unrepresentable.refuse(
                        &self.table.qualified(),
                        &self.table.columns[i].name,
                        &self.place(row),
                        &why,
                    )?;
                    self.lost.0 += 1;
                    self.lost.1.get_or_insert(place);
                    Cell::Null
                }
            });
        }
        Ok(cells)
    }

    fn key(&self, row: &tiberius::Row) -> Result<Vec<String>> {
        self.key_at
            .iter()
            .map(|&i| {
                let v = row
                    .get_column_data(i)
                    .map_err(|e| conversion_error(self.table, i, &e.to_string()))?;
                key_text(v).map_err(|m| conversion_error(self.table, i, &m))
            })
            .collect()
    }

    /// Called as a batch is handed over: its values written as NULL are counted now, not as they were met.
    fn take_warnings(&mut self) -> Vec<String> {
        let (n, first) = std::mem::take(&mut self.lost);
        self.req.unrepresentable.landed(n, first);
        Vec::new()
    }
}

impl MsRows<'_> {
    /// Where a row is, for a message (`crate::read::place`).
    fn place(&self, row: &tiberius::Row) -> String {
        crate::read::place(self.table, &self.req.span, self.key(row))
    }
}
