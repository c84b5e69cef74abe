//! Reading a table as a stream of batches: one ordered statement, decoded off the interpreter, handed over through
//! a bounded queue so that memory stays flat whatever the table's size.

use super::connect::connect;
use super::decode::{decode, key_text, Note};
use super::sql;
use super::types::Decoder;
use crate::config::{Connection, Flatten};
use crate::error::{Error, Result};
use crate::flatten::Flattener;
use crate::model::{Cell, FivetranType, Table};
use futures_util::{pin_mut, TryStreamExt};
use postgres_types::{FromSql, Type};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_postgres::Row;

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

/// Rows in column order (a flattened column holds `Cell::Flat`), and the key of the last row to resume after.
pub struct Batch {
    pub rows: Vec<Vec<Cell>>,
    pub last_key: Option<Vec<String>>,
    pub warnings: Vec<String>,
}

/// What to read and how.
pub struct ReadRequest {
    pub table: Arc<Table>,
    /// The key of the last row already emitted, as text; None reads from the start.
    pub after: Option<Vec<String>>,
    pub batch_size: usize,
    pub queue_depth: usize,
    pub flatten: Flatten,
}

/// Whether a read of `table` can resume after a key: it has one, and every key value round-trips through text.
pub fn resumable(table: &Table) -> bool {
    !table.primary_key.is_empty()
        && table.primary_key.iter().all(|k| {
            table
                .columns
                .iter()
                .any(|c| &c.name == k && Decoder::from_u8(c.decoder).key_round_trips())
        })
}

/// Starts the read on the shared runtime. The queue holds at most `queue_depth` batches; dropping the receiver
/// stops the read and closes its connection.
pub fn spawn(conn: Connection, request: ReadRequest) -> mpsc::Receiver<Result<Batch>> {
    let (tx, rx) = mpsc::channel(request.queue_depth.max(1));
    crate::runtime::get().spawn(async move {
        if let Err(e) = run(&conn, &request, &tx).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

/// Per-read decoding state: the plan of each column, the flattener and the warnings already given.
struct Decoding {
    table: String,
    columns: Vec<(Decoder, FivetranType, bool, String)>,
    key_positions: Vec<usize>,
    flattener: Flattener,
    noted: HashSet<(usize, Note)>,
    warnings: Vec<String>,
}

impl Decoding {
    fn new(request: &ReadRequest) -> Self {
        let t = &request.table;
        let f = &request.flatten;
        Decoding {
            table: t.qualified(),
            columns: t
                .columns
                .iter()
                .map(|c| {
                    (
                        Decoder::from_u8(c.decoder),
                        c.fivetran_type,
                        c.flattened,
                        c.name.clone(),
                    )
                })
                .collect(),
            key_positions: t
                .primary_key
                .iter()
                .filter_map(|k| t.columns.iter().position(|c| &c.name == k))
                .collect(),
            flattener: Flattener::new(&f.separator, f.depth, &t.flat_columns, f.sample_rows),
            noted: HashSet::new(),
            warnings: Vec::new(),
        }
    }

    fn row(&mut self, row: &Row) -> Result<Vec<Cell>> {
        let mut cells = Vec::with_capacity(self.columns.len());
        for i in 0..self.columns.len() {
            let (decoder, declared, flattened, _) = self.columns[i];
            let raw: Raw = row.try_get(i).map_err(|e| self.fail(i, &e.to_string()))?;
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
                    self.flattener.cell(&self.table, &self.columns[i].3, v)?
                }
                other => other,
            });
        }
        Ok(cells)
    }

    fn key(&self, row: &Row) -> Result<Vec<String>> {
        self.key_positions
            .iter()
            .map(|&i| {
                let raw: Raw = row.try_get(i).map_err(|e| self.fail(i, &e.to_string()))?;
                let bytes = raw
                    .0
                    .ok_or_else(|| self.fail(i, "primary key value is NULL"))?;
                key_text(self.columns[i].0, bytes).map_err(|m| self.fail(i, &m))
            })
            .collect()
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

async fn run(
    conn: &Connection,
    request: &ReadRequest,
    tx: &mpsc::Sender<Result<Batch>>,
) -> Result<()> {
    let client = connect(conn).await?;
    let table = &request.table;
    let resume = resumable(table);
    let after: Vec<String> = match (&request.after, resume) {
        (Some(key), true) if key.len() == table.primary_key.len() => key.clone(),
        _ => Vec::new(),
    };
    let statement = sql::read_table(table, !after.is_empty());
    let stream = client
        .query_raw(&statement, after.iter())
        .await
        .map_err(|e| Error::query(&format!("reading table {}", table.qualified()), e))?;
    pin_mut!(stream);
    let mut decoding = Decoding::new(request);
    let mut rows = Vec::with_capacity(request.batch_size);
    let mut last: Option<Row> = None;
    loop {
        let next = stream
            .try_next()
            .await
            .map_err(|e| Error::query(&format!("reading table {}", table.qualified()), e))?;
        let done = next.is_none();
        if let Some(row) = next {
            rows.push(decoding.row(&row)?);
            last = Some(row);
        }
        if rows.len() >= request.batch_size || (done && !rows.is_empty()) {
            let last_key = match (&last, resume) {
                (Some(row), true) => Some(decoding.key(row)?),
                _ => None,
            };
            let batch = Batch {
                rows: std::mem::replace(&mut rows, Vec::with_capacity(request.batch_size)),
                last_key,
                warnings: std::mem::take(&mut decoding.warnings),
            };
            if tx.send(Ok(batch)).await.is_err() {
                return Ok(()); // the reader was closed: stop, and let the connection go
            }
        }
        if done {
            return Ok(());
        }
    }
}
