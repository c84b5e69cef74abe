//! Turning PostgreSQL rows into cells once, off the interpreter: the per-read decoding state and the rows of one
//! partition attempt as the engine pumps them. `parallel.rs` runs the partitions.

use super::decode::{decode, key_text, Note};
use super::errors;
use super::types::{decoder, Decoder};
use crate::engine::Rows;
use crate::error::{Error, Result};
use crate::flatten::Flattener;
use crate::model::{Cell, FivetranType, Table};
use crate::read::{key_positions, ReadRequest};
use futures_util::{FutureExt, TryStreamExt};
use postgres_types::{FromSql, Type};
use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::Semaphore;
use tokio_postgres::{Row, RowStream};

/// Any column's raw binary value (None for NULL): the decoders read the bytes themselves.
pub struct Raw<'a>(pub Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }
    fn from_sql_null(
        _: &Type,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Whether a read of `table` can resume after a key (see `crate::read::resumable`).
pub fn resumable(table: &Table) -> bool {
    crate::read::resumable(table, |c| decoder(c).key_round_trips())
}

/// Per-read decoding state: the plan of each column, the flattener and the warnings already given.
pub struct Decoding {
    table: String,
    columns: Vec<(Decoder, FivetranType, bool, String)>,
    key_positions: Vec<usize>,
    flattener: Flattener,
    noted: HashSet<(usize, Note)>,
    warnings: Vec<String>,
}

impl Decoding {
    pub fn new(request: &ReadRequest) -> Self {
        let t = &request.table;
        let f = &request.flatten;
        Decoding {
            table: t.qualified(),
            columns: t
                .columns
                .iter()
                .map(|c| (decoder(c), c.fivetran_type, c.flattened, c.name.clone()))
                .collect(),
            key_positions: key_positions(t, &request.span),
            flattener: Flattener::new(&f.separator, f.depth, &t.flat_columns, f.sample_rows)
                .max_columns(f.max_columns)
                .reserve(t.columns.iter().map(|c| c.name.clone())),
            noted: HashSet::new(),
            warnings: Vec::new(),
        }
    }

    pub fn row(&mut self, row: &Row) -> Result<Vec<Cell>> {
        let mut cells = Vec::with_capacity(self.columns.len());
        for i in 0..self.columns.len() {
            let (decoder, declared, flattened, _) = self.columns[i];
            let raw: Raw = row.try_get(i).map_err(|e| self.fail(i, &e.to_string()))?;
            if let (true, Some(bytes)) = (flattened, raw.0) {
                if let Some(cell) = self.flat_text(i, decoder, bytes) {
                    cells.push(cell);
                    continue;
                }
            }
            let cell = match raw.0 {
                None => Cell::Null,
                Some(bytes) => {
                    let (cell, note) =
                        decode(decoder, declared, bytes).map_err(|m| self.fail(i, &m))?;
                    if let Some(note) = note {
                        self.note(i, note);
                    }
                    cell
                }
            };
            cells.push(match cell {
                Cell::Json(v) if flattened => {
                    let cell = self.flattener.cell(&self.table, &self.columns[i].3, v)?;
                    self.warnings.extend(self.flattener.take_warnings());
                    cell
                }
                other => other,
            });
        }
        Ok(cells)
    }

    pub fn key(&self, row: &Row) -> Result<Vec<String>> {
        self.key_positions
            .iter()
            .map(|&i| {
                let raw: Raw = row.try_get(i).map_err(|e| self.fail(i, &e.to_string()))?;
                let bytes = raw
                    .0
                    .ok_or_else(|| self.fail(i, "a key or cursor value is NULL"))?;
                key_text(self.columns[i].0, bytes).map_err(|m| self.fail(i, &m))
            })
            .collect()
    }

    /// A flattened JSON column's cell read from its text (`Flattener::cell_text`), when the text is the plain case.
    fn flat_text(&mut self, i: usize, decoder: Decoder, bytes: &[u8]) -> Option<Cell> {
        let text = match decoder {
            Decoder::Json => bytes,
            Decoder::Jsonb => super::decode::jsonb_body(bytes).ok()?,
            _ => return None,
        };
        let (cell, inexact) = self.flattener.cell_text(&self.columns[i].3, text)?;
        if inexact {
            self.note(i, Note::InexactJsonNumber);
        }
        Some(cell)
    }

    fn note(&mut self, column: usize, note: Note) {
        if self.noted.insert((column, note)) {
            self.warnings.push(format!(
                "table {} column {}: {}",
                self.table,
                self.columns[column].3,
                note.describe()
            ));
        }
    }

    fn fail(&self, column: usize, message: &str) -> Error {
        Error::Conversion(format!(
            "table {} column {}: {message}",
            self.table, self.columns[column].3
        ))
    }
}

/// Rows handed from the socket's reader to the batch builder at a time, at most.
const CHUNK_ROWS: usize = 1024;

type Chunk = std::result::Result<Vec<Row>, tokio_postgres::Error>;

/// The rows of one partition attempt, decoded as they come. A task of their own drains the driver's stream into a
/// queue of up to `queued` rows, so the socket keeps being read while a batch is built or waits for the reader:
/// without it the driver stops reading, the server's window closes, and each restart costs a round trip. The queue
/// is bounded in rows (chunks are as small as one socket read), so its memory is about one batch.
pub struct PgRows {
    rows: std::vec::IntoIter<Row>,
    chunks: UnboundedReceiver<Chunk>,
    room: Arc<Semaphore>,
    pub decoding: Decoding,
    /// What is being read, for errors.
    pub context: String,
}

impl PgRows {
    pub fn new(stream: RowStream, decoding: Decoding, context: String, queued: usize) -> Self {
        let (tx, chunks) = tokio::sync::mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(queued.max(CHUNK_ROWS)));
        tokio::spawn(drain(Box::pin(stream), tx, room.clone()));
        PgRows {
            rows: Vec::new().into_iter(),
            chunks,
            room,
            decoding,
            context,
        }
    }
}

/// The drain stops when its rows are no longer wanted: a closed queue fails its wait for room.
impl Drop for PgRows {
    fn drop(&mut self) {
        self.room.close();
    }
}

/// Moves rows from `stream` to `tx` in chunks of what has already arrived, each once the queue has room for it,
/// until the statement ends, fails, or the rows are no longer wanted.
async fn drain(mut stream: Pin<Box<RowStream>>, tx: UnboundedSender<Chunk>, room: Arc<Semaphore>) {
    loop {
        let Ok(permit) = room.acquire_many(CHUNK_ROWS as u32).await else {
            return;
        };
        permit.forget();
        let mut chunk = Vec::new();
        let mut end = false;
        match stream.try_next().await {
            Ok(Some(row)) => chunk.push(row),
            Ok(None) => return,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
        while chunk.len() < CHUNK_ROWS {
            match stream.try_next().now_or_never() {
                Some(Ok(Some(row))) => chunk.push(row),
                Some(Ok(None)) => {
                    end = true;
                    break;
                }
                Some(Err(e)) => {
                    let _ = tx.send(Ok(chunk));
                    let _ = tx.send(Err(e));
                    return;
                }
                None => break,
            }
        }
        // The unused part of the reservation goes back at once; the rest when the reader takes the chunk.
        room.add_permits(CHUNK_ROWS - chunk.len());
        if tx.send(Ok(chunk)).is_err() || end {
            return;
        }
    }
}

impl Rows for PgRows {
    type Row = Row;

    async fn next(&mut self) -> Result<Option<Row>> {
        loop {
            if let Some(row) = self.rows.next() {
                return Ok(Some(row));
            }
            match self.chunks.recv().await {
                Some(Ok(chunk)) => {
                    self.room.add_permits(chunk.len());
                    self.rows = chunk.into_iter();
                }
                Some(Err(e)) => return Err(errors::query(&self.context, e)),
                None => return Ok(None),
            }
        }
    }

    fn cells(&mut self, row: &Row) -> Result<Vec<Cell>> {
        self.decoding.row(row)
    }

    fn key(&self, row: &Row) -> Result<Vec<String>> {
        self.decoding.key(row)
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.decoding.warnings)
    }
}
