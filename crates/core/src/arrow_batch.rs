//! Cells into Arrow: the schema of a table (exact types: decimal128(p,s), timestamp(us, UTC) vs naive, date32,
//! binary, large_utf8) and record batches built from the same cells the dict path uses, so values are converted
//! once from the driver's row.

use crate::error::{Error, Result};
use crate::model::{Cell, FivetranType, Table};
use crate::read::Batch;
use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, LargeStringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::{RecordBatch, RecordBatchReader};
use chrono::Datelike;

/// 1970-01-01 counted from 0001-01-01 as day 1: date32 counts days from the Unix epoch.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;
use std::sync::Arc;
use tokio::sync::mpsc::Receiver;

fn data_type(t: FivetranType) -> DataType {
    match t {
        FivetranType::Boolean => DataType::Boolean,
        FivetranType::Short => DataType::Int16,
        FivetranType::Int => DataType::Int32,
        FivetranType::Long => DataType::Int64,
        FivetranType::Float => DataType::Float32,
        FivetranType::Double => DataType::Float64,
        FivetranType::Decimal { precision, scale } => DataType::Decimal128(precision, scale as i8),
        FivetranType::NaiveDate => DataType::Date32,
        FivetranType::NaiveDatetime => DataType::Timestamp(TimeUnit::Microsecond, None),
        FivetranType::UtcDatetime => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        FivetranType::Binary => DataType::Binary,
        FivetranType::Xml | FivetranType::String | FivetranType::Json => DataType::LargeUtf8,
    }
}

/// The Arrow schema of `table`'s columns (unflattened: JSON arrives as its text).
pub fn schema(table: &Table) -> SchemaRef {
    Arc::new(Schema::new(
        table
            .columns
            .iter()
            .map(|c| Field::new(&c.name, data_type(c.fivetran_type), true))
            .collect::<Vec<_>>(),
    ))
}

enum Column {
    Bool(BooleanBuilder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Decimal(Decimal128Builder, u32),
    Date(Date32Builder),
    Micros(TimestampMicrosecondBuilder),
    Bytes(BinaryBuilder),
    Text(LargeStringBuilder),
}

impl Column {
    fn new(t: &DataType, rows: usize) -> Column {
        match t {
            DataType::Boolean => Column::Bool(BooleanBuilder::with_capacity(rows)),
            DataType::Int16 => Column::I16(Int16Builder::with_capacity(rows)),
            DataType::Int32 => Column::I32(Int32Builder::with_capacity(rows)),
            DataType::Int64 => Column::I64(Int64Builder::with_capacity(rows)),
            DataType::Float32 => Column::F32(Float32Builder::with_capacity(rows)),
            DataType::Float64 => Column::F64(Float64Builder::with_capacity(rows)),
            DataType::Decimal128(p, s) => Column::Decimal(
                Decimal128Builder::with_capacity(rows)
                    .with_precision_and_scale(*p, *s)
                    .expect("precision and scale come from a valid numeric(p,s)"),
                (*s).max(0) as u32,
            ),
            DataType::Date32 => Column::Date(Date32Builder::with_capacity(rows)),
            DataType::Timestamp(_, tz) => Column::Micros(
                TimestampMicrosecondBuilder::with_capacity(rows).with_timezone_opt(tz.clone()),
            ),
            DataType::Binary => Column::Bytes(BinaryBuilder::with_capacity(rows, rows * 16)),
            _ => Column::Text(LargeStringBuilder::with_capacity(rows, rows * 16)),
        }
    }

    /// Appends one cell; a cell of the wrong kind for the column is a conversion error, never a silent NULL.
    fn push(&mut self, cell: &Cell) -> std::result::Result<(), String> {
        match (self, cell) {
            (Column::Bool(b), Cell::Null) => b.append_null(),
            (Column::I16(b), Cell::Null) => b.append_null(),
            (Column::I32(b), Cell::Null) => b.append_null(),
            (Column::I64(b), Cell::Null) => b.append_null(),
            (Column::F32(b), Cell::Null) => b.append_null(),
            (Column::F64(b), Cell::Null) => b.append_null(),
            (Column::Decimal(b, _), Cell::Null) => b.append_null(),
            (Column::Date(b), Cell::Null) => b.append_null(),
            (Column::Micros(b), Cell::Null) => b.append_null(),
            (Column::Bytes(b), Cell::Null) => b.append_null(),
            (Column::Text(b), Cell::Null) => b.append_null(),
            (Column::Bool(b), Cell::Bool(v)) => b.append_value(*v),
            (Column::I16(b), Cell::Int(v)) => {
                b.append_value(i16::try_from(*v).map_err(|e| e.to_string())?)
            }
            (Column::I32(b), Cell::Int(v)) => {
                b.append_value(i32::try_from(*v).map_err(|e| e.to_string())?)
            }
            (Column::I64(b), Cell::Int(v)) => b.append_value(*v),
            (Column::F32(b), Cell::Float(v)) => b.append_value(*v),
            (Column::F64(b), Cell::Double(v)) => b.append_value(*v),
            (Column::Decimal(b, scale), Cell::Decimal(text)) => b.append_value(
                scaled(text, *scale).ok_or_else(|| format!("decimal {text} does not fit"))?,
            ),
            (Column::Date(b), Cell::Date(d)) => {
                b.append_value(d.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE)
            }
            (Column::Micros(b), Cell::Timestamp(t) | Cell::TimestampUtc(t)) => {
                b.append_value(t.and_utc().timestamp_micros())
            }
            (Column::Bytes(b), Cell::Bytes(v)) => b.append_value(v),
            (Column::Text(b), Cell::Text(v) | Cell::Decimal(v)) => b.append_value(v),
            (Column::Text(b), Cell::Json(v)) => b.append_value(v.to_string()),
            (_, other) => return Err(format!("unexpected value {other:?} for its Arrow column")),
        }
        Ok(())
    }

    fn finish(self) -> ArrayRef {
        match self {
            Column::Bool(mut b) => Arc::new(b.finish()),
            Column::I16(mut b) => Arc::new(b.finish()),
            Column::I32(mut b) => Arc::new(b.finish()),
            Column::I64(mut b) => Arc::new(b.finish()),
            Column::F32(mut b) => Arc::new(b.finish()),
            Column::F64(mut b) => Arc::new(b.finish()),
            Column::Decimal(mut b, _) => Arc::new(b.finish()),
            Column::Date(mut b) => Arc::new(b.finish()),
            Column::Micros(mut b) => Arc::new(b.finish()),
            Column::Bytes(mut b) => Arc::new(b.finish()),
            Column::Text(mut b) => Arc::new(b.finish()),
        }
    }
}

/// Exact decimal text (`-12.50`) as an integer of `scale` decimal places, without going through a float.
pub fn scaled(text: &str, scale: u32) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if fraction.len() > scale as usize || whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut value: i128 = 0;
    for c in whole
        .chars()
        .chain(fraction.chars())
        .chain(std::iter::repeat_n('0', scale as usize - fraction.len()))
    {
        value = value
            .checked_mul(10)?
            .checked_add(c.to_digit(10)? as i128)?;
    }
    Some(if negative { -value } else { value })
}

/// One record batch from rows of cells.
pub fn record_batch(schema: &SchemaRef, table: &str, rows: &[Vec<Cell>]) -> Result<RecordBatch> {
    let mut columns: Vec<Column> = schema
        .fields()
        .iter()
        .map(|f| Column::new(f.data_type(), rows.len()))
        .collect();
    for row in rows {
        for (i, (column, cell)) in columns.iter_mut().zip(row).enumerate() {
            column.push(cell).map_err(|m| {
                Error::Conversion(format!(
                    "table {table} column {}: {m}",
                    schema.field(i).name()
                ))
            })?;
        }
    }
    let arrays: Vec<ArrayRef> = columns.into_iter().map(Column::finish).collect();
    RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|e| Error::Conversion(format!("table {table}: {e}")))
}

/// Record batches as the read's batches arrive: a `RecordBatchReader` Arrow consumers pull from. Memory stays
/// bounded by the read's queue.
pub struct Stream {
    schema: SchemaRef,
    table: String,
    rx: Receiver<Result<Batch>>,
    /// The error that ended the stream, kept whole (class, SQLSTATE, error number) for the Python reader: Arrow's
    /// C interface carries only a message.
    failed: Failure,
    /// Asked while waiting for a batch, a few times a second: true stops the stream (Ctrl-C in Python).
    interrupted: Box<dyn Fn() -> bool + Send>,
}

const INTERRUPT_CHECK: std::time::Duration = std::time::Duration::from_millis(200);

/// Where a stream leaves the error that ended it.
pub type Failure = Arc<std::sync::Mutex<Option<Error>>>;

impl Stream {
    pub fn new(
        table: &Table,
        rx: Receiver<Result<Batch>>,
        interrupted: Box<dyn Fn() -> bool + Send>,
    ) -> Self {
        Stream {
            schema: schema(table),
            table: table.qualified(),
            rx,
            failed: Failure::default(),
            interrupted,
        }
    }

    /// The slot the error that ends this stream is kept in.
    pub fn failure(&self) -> Failure {
        self.failed.clone()
    }

    fn receive(&mut self) -> Option<Result<Batch>> {
        let runtime = crate::runtime::get();
        loop {
            // The timer is made inside block_on: it needs the runtime's context.
            let rx = &mut self.rx;
            let step =
                runtime.block_on(async { tokio::time::timeout(INTERRUPT_CHECK, rx.recv()).await });
            match step {
                Ok(next) => return next,
                Err(_) if (self.interrupted)() => {
                    self.rx.close(); // stops the fetchers and closes their connections
                    let message = format!("reading {} was interrupted", self.table);
                    return Some(Err(Error::Interrupted(message)));
                }
                Err(_) => {}
            }
        }
    }
}

impl Stream {
    /// The next record batch, awaited (for `async for`); None at the end.
    pub async fn next_async(&mut self) -> Option<Result<RecordBatch>> {
        let batch = self.rx.recv().await?;
        Some(batch.and_then(|b| match b.record {
            Some(record) => Ok(record),
            None => record_batch(&self.schema, &self.table, &b.rows),
        }))
    }
}

impl Iterator for Stream {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = self.receive()?;
        Some(
            batch
                .and_then(|b| match b.record {
                    Some(record) => Ok(record),
                    None => record_batch(&self.schema, &self.table, &b.rows),
                })
                .map_err(|e| {
                    let code = match (e.sqlstate(), e.number()) {
                        (Some(state), _) => format!(" [SQLSTATE {state}]"),
                        (None, Some(n)) => format!(" [SQL Server error {n}]"),
                        _ => String::new(),
                    };
                    let message = format!("{e}{code}");
                    *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    ArrowError::ExternalError(message.into())
                }),
        )
    }
}

impl RecordBatchReader for Stream {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::scaled;

    #[test]
    fn decimals_scale_exactly() {
        assert_eq!(scaled("12.5", 2), Some(1250));
        assert_eq!(scaled("-0.01", 2), Some(-1));
        assert_eq!(
            scaled("99999999999999999999999999.999999999999", 12),
            Some(99999999999999999999999999999999999999)
        );
        assert_eq!(scaled("1.234", 2), None);
        assert_eq!(scaled("abc", 2), None);
        assert_eq!(scaled("7", 0), Some(7));
    }
}
