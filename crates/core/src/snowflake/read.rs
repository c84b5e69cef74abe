//! Reading a Snowflake table's partitions: at most `workers` at once, all on the source's one session (Snowflake
//! runs a session's statements side by side), each a keyset-ordered statement whose result chunks download in
//! parallel ahead of the reader. A partition broken by a transient error runs again after a backoff, resuming
//! after the last key it handed over. Each statement reads the table as of its own start; rows changed meanwhile
//! are caught by the next incremental read.

use super::client::Client;
use super::decode::{cell, key_text, kind, Kind};
use super::pace::Paced;
use super::result::RowType;
use super::sql::SfSql;
use super::types::{family, key_round_trips};
use crate::engine::{self, Progress, Rows};
use crate::error::Result;
use crate::flatten::Flattener;
use crate::model::{Cell, FivetranType, Table};
use crate::read::conversion_error;
use crate::read::{key_positions, PartRead, ReadRequest, Tx};
use arrow::record_batch::RecordBatch;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use std::sync::Arc;

/// Result chunks downloaded ahead of the reader per partition: enough to hide a chunk's latency, few enough to
/// bound memory (a chunk is up to some tens of MB).
const CHUNKS_AHEAD: usize = 4;

pub fn resumable(table: &Table) -> bool {
    crate::read::resumable(table, |c| key_round_trips(family(c)))
}

pub async fn run(client: Arc<Client>, req: Arc<ReadRequest>, tx: Tx) -> Result<()> {
    let paced = Paced::new(&client.pacer);
    let done = engine::run_partitions(&req, &tx, |part, slot| {
        let (client, req, tx, paced) = (client.clone(), req.clone(), tx.clone(), paced.clone());
        async move {
            let progress = Progress {
                after: part.after.clone(),
                progressed: false,
                extra: (),
            };
            let resume = resumable(&req.table);
            engine::retrying(&req, &part, resume, progress, |p| {
                let (client, req, part, tx) =
                    (client.clone(), req.clone(), part.clone(), tx.clone());
                let paced = paced.clone();
                Box::pin(async move { stream(&client, &req, &part, slot, &tx, &paced, p).await })
            })
            .await
        }
    })
    .await;
    if let Some(line) = paced.summary(&req.table.qualified()) {
        req.log.info(line);
    }
    done
}

/// One attempt at a partition: the statement from `p.after`, its batches handed over as they fill.
async fn stream(
    client: &Arc<Client>,
    req: &ReadRequest,
    part: &PartRead,
    slot: usize,
    tx: &Tx,
    paced: &Arc<Paced>,
    p: &mut Progress<()>,
) -> Result<()> {
    let t = &req.table;
    let context = format!("reading {} partition {}", t.qualified(), part.index + 1);
    let query = crate::statement::read(&SfSql, t, &part.range, p.after.as_deref(), &req.span);
    paced.fetch().await;
    let answer = client.query(&query.sql, &query.params, &context).await?;
    if answer.inline.is_empty()
        && answer.chunks.is_empty()
        && answer.json_rows.as_ref().is_some_and(|r| !r.is_empty())
    {
        return Err(super::errors::malformed(
            &context,
            "the rows came as JSON, not Arrow; this client reads Arrow results only",
        ));
    }
    let columns = answer.columns.clone();
    if columns.len() != t.columns.len() {
        return Err(super::errors::malformed(
            &context,
            "the result has other columns than the table",
        ));
    }
    let f = &req.flatten;
    let mut rows = SfRows {
        batches: answer.batches(
            client.http.clone(),
            paced.clone(),
            CHUNKS_AHEAD,
            context.clone(),
        ),
        current: None,
        at: 0,
        columns,
        kinds: Vec::new(),
        types: t.columns.iter().map(|c| c.fivetran_type).collect(),
        flattened: t.columns.iter().map(|c| c.flattened).collect(),
        flattener: Flattener::new(&f.separator, f.depth, &t.flat_columns, f.sample_rows)
            .max_columns(f.max_columns)
            .reserve(t.columns.iter().map(|c| c.name.clone())),
        key_at: key_positions(t, &req.span),
        table: t,
        req,
        warnings: Vec::new(),
        lost: (0, None),
    };
    engine::pump(req, part, slot, tx, resumable(t), &mut rows, p).await?;
    Ok(())
}

/// The rows of one partition attempt: a row is its batch and index, converted when the engine asks.
struct SfRows<'a> {
    batches: BoxStream<'static, Result<RecordBatch>>,
    current: Option<Arc<RecordBatch>>,
    at: usize,
    columns: Vec<RowType>,
    kinds: Vec<Kind>,
    types: Vec<FivetranType>,
    flattened: Vec<bool>,
    flattener: Flattener,
    key_at: Vec<usize>,
    table: &'a Table,
    req: &'a ReadRequest,
    warnings: Vec<String>,
    lost: (u64, Option<String>),
}

type Row = (Arc<RecordBatch>, usize);

impl Rows for SfRows<'_> {
    type Row = Row;

    async fn next(&mut self) -> Result<Option<Row>> {
        loop {
            if let Some(b) = &self.current {
                if self.at < b.num_rows() {
                    self.at += 1;
                    return Ok(Some((b.clone(), self.at - 1)));
                }
            }
            match self.batches.next().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(e),
                Some(Ok(b)) => {
                    // Each chunk is a stream of its own, with its own schema (the same kinds, in principle).
                    self.kinds = self
                        .columns
                        .iter()
                        .zip(b.schema().fields())
                        .map(|(c, f)| kind(c, f))
                        .collect();
                    self.current = Some(Arc::new(b));
                    self.at = 0;
                }
            }
        }
    }

    fn cells(&mut self, (batch, row): &Row) -> Result<Vec<Cell>> {
        let mut cells = Vec::with_capacity(self.types.len());
        for i in 0..self.types.len() {
            let value = cell(batch.column(i).as_ref(), *row, self.kinds[i], self.types[i]);
            cells.push(match value {
                Ok(Cell::Json(v)) if self.flattened[i] => {
                    let c = self.flattener.cell(
                        &self.table.qualified(),
                        &self.table.columns[i].name,
                        v,
                    )?;
                    self.warnings.extend(self.flattener.take_warnings());
                    c
                }
                Ok(c) => c,
                Err(why) if why.contains("outside") || why.contains("does not fit") => {
                    let place = self.req.unrepresentable.refuse(
                        &self.table.qualified(),
                        &self.table.columns[i].name,
                        &self.place(&(batch.clone(), *row)),
                        &why,
                    )?;
                    self.lost.0 += 1;
                    self.lost.1.get_or_insert(place);
                    Cell::Null
                }
                Err(why) => return Err(conversion_error(self.table, i, &why)),
            });
        }
        Ok(cells)
    }

    fn key(&self, (batch, row): &Row) -> Result<Vec<String>> {
        self.key_at
            .iter()
            .map(|&i| {
                key_text(batch.column(i).as_ref(), *row, self.kinds[i])
                    .map_err(|m| conversion_error(self.table, i, &m))
            })
            .collect()
    }

    fn take_warnings(&mut self) -> Vec<String> {
        let (n, first) = std::mem::take(&mut self.lost);
        self.req.unrepresentable.landed(n, first);
        std::mem::take(&mut self.warnings)
    }
}

impl SfRows<'_> {
    /// Where a row is, for a message (`crate::read::place`).
    fn place(&self, row: &Row) -> String {
        crate::read::place(self.table, &self.req.span, self.key(row))
    }
}
