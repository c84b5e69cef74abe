//! Test hook: cells made from Python values by kind, so that tests can hold our encoder against the SDK's on
//! values no database needs to produce.

use crate::exceptions::to_py;
use chrono::{NaiveDate, NaiveDateTime};
use connector_accel_core::error::Error;
use connector_accel_core::model::Cell;
use pyo3::prelude::*;

fn part(value: &Bound<'_, PyAny>, name: &str) -> PyResult<u32> {
    value.getattr(name)?.extract()
}

fn date(value: &Bound<'_, PyAny>) -> PyResult<NaiveDate> {
    let year: i32 = value.getattr("year")?.extract()?;
    NaiveDate::from_ymd_opt(year, part(value, "month")?, part(value, "day")?)
        .ok_or_else(|| to_py(Error::Conversion("not a date".into())))
}

fn datetime(value: &Bound<'_, PyAny>) -> PyResult<NaiveDateTime> {
    date(value)?
        .and_hms_micro_opt(
            part(value, "hour")?,
            part(value, "minute")?,
            part(value, "second")?,
            part(value, "microsecond")?,
        )
        .ok_or_else(|| to_py(Error::Conversion("not a time".into())))
}

/// The cell of `kind` ("null", "bool", "int", "float", "double", "text", "decimal", "bytes", "date",
/// "timestamp", "timestamptz" (UTC fields), "json" (JSON text)) holding `value`.
pub fn cell(kind: &str, value: &Bound<'_, PyAny>) -> PyResult<Cell> {
    Ok(match kind {
        "null" => Cell::Null,
        "bool" => Cell::Bool(value.extract()?),
        "int" => Cell::Int(value.extract()?),
        "float" => Cell::Float(value.extract::<f64>()? as f32),
        "double" => Cell::Double(value.extract()?),
        "text" => Cell::Text(value.extract()?),
        "decimal" => Cell::Decimal(value.extract()?),
        "bytes" => Cell::Bytes(value.extract()?),
        "date" => Cell::Date(date(value)?),
        "timestamp" => Cell::Timestamp(datetime(value)?),
        "timestamptz" => Cell::TimestampUtc(datetime(value)?),
        "json" => Cell::Json(
            serde_json::from_str(&value.extract::<String>()?)
                .map_err(|e| to_py(Error::Conversion(format!("not JSON: {e}"))))?,
        ),
        other => return Err(to_py(Error::Conversion(format!("no cell kind '{other}'")))),
    })
}
