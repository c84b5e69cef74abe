//! Reading a table as a stream of batches: what a read is (partitions, window, limits), and turning driver rows
//! into cells once, off the interpreter. `parallel.rs` runs the partitions.

use super::decode::{decode, key_text, Note};
use super::sql::{self, Window};
use super::types::Decoder;
use crate::config::{Connection, Flatten};
use crate::error::{Error, Result};
use crate::flatten::Flattener;
use crate::messages::Messages;
use crate::model::{Cell, Cursor, FivetranType, Table};
use crate::monitor::Shared;
use crate::plan::Partition;
use crate::retry::Policy;
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

/// Rows in column order (a flattened column holds `Cell::Flat`) from one partition, and the position of its last
/// row (values of the order columns, as text) to resume after.
pub struct Batch {
    pub partition: usize,
    pub rows: Vec<Vec<Cell>>,
    /// The rows as Arrow, built by the fetcher when the read asked for Arrow (then `rows` is empty).
    pub record: Option<arrow::record_batch::RecordBatch>,
    pub last_key: Option<Vec<String>>,
    pub warnings: Vec<String>,
}

/// One partition of a read: its key range and, when resuming, the position already emitted.
#[derive(Debug, Clone, Default)]
pub struct PartRead {
    /// The partition's number in the caller's plan; batches carry it back.
    pub index: usize,
    pub range: Partition,
    pub after: Option<Vec<String>>,
}

/// The time window of a read, owned (see `sql::Window`).
#[derive(Debug, Clone)]
pub enum Span {
    Full,
    Since {
        cursor: Cursor,
        high: Option<String>,
        guard: Option<String>,
        lookback_seconds: f64,
    },
}

impl Span {
    pub fn window(&self) -> Window<'_> {
        match self {
            Span::Full => Window::Full,
            Span::Since {
                cursor,
                high,
                guard,
                lookback_seconds,
            } => Window::Since {
                cursor,
                high: high.as_deref(),
                guard: guard.as_deref(),
                lookback_seconds: *lookback_seconds,
            },
        }
    }
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
    /// it, a read of several partitions exports its own.
    pub snapshot: Option<String>,
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

/// Starts the read on the shared runtime. The queue holds at most the planned queue depth of batches; dropping
/// the receiver stops every partition and closes their connections.
pub fn spawn(conn: Connection, request: ReadRequest) -> mpsc::Receiver<Result<Batch>> {
    let (tx, rx) = mpsc::channel(request.limits.current().queue_depth.max(1));
    crate::runtime::get().spawn(async move {
        if let Err(e) = super::parallel::run(Arc::new(conn), Arc::new(request), tx.clone()).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

/// Per-read decoding state: the plan of each column, the flattener and the warnings already given.
pub struct Decoding {
    table: String,
    columns: Vec<(Decoder, FivetranType, bool, String)>,
    key_positions: Vec<usize>,
    flattener: Flattener,
    noted: HashSet<(usize, Note)>,
    pub warnings: Vec<String>,
}

impl Decoding {
    pub fn new(request: &ReadRequest) -> Self {
        let t = &request.table;
        let f = &request.flatten;
        let order = sql::order_columns(t, &request.span.window());
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
            key_positions: order
                .iter()
                .filter_map(|k| t.columns.iter().position(|c| &c.name == k))
                .collect(),
            flattener: Flattener::new(&f.separator, f.depth, &t.flat_columns, f.sample_rows),
            noted: HashSet::new(),
            warnings: Vec::new(),
        }
    }

    pub fn row(&mut self, row: &Row) -> Result<Vec<Cell>> {
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
