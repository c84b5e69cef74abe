//! Snowflake's Arrow values into cells, once. What its drivers document and read:
//! - FIXED: an Arrow integer (int8..int64) whose field metadata carries the scale (the value is `v / 10^scale`),
//!   or a decimal128 with its own scale;
//! - TIME: an integer of `10^-scale` seconds since midnight;
//! - TIMESTAMP_NTZ / _LTZ: an int64 of `10^-scale` seconds since the epoch, or a struct of `epoch` (seconds) and
//!   `fraction` (nanoseconds, added);
//! - TIMESTAMP_TZ: a struct of `epoch` (`10^-scale` s) and `timezone`, or of `epoch` (s), `fraction` (ns) and
//!   `timezone` (the offset in minutes plus 1440); the instant is the epoch, in UTC;
//! - VARIANT / OBJECT / ARRAY: JSON text; DATE: date32; BINARY, BOOLEAN, REAL, TEXT as themselves.

use super::result::RowType;
use crate::fetch::SfFetch;
use crate::model::{Cell, FivetranType};
use arrow::array::*;
use arrow::datatypes::{DataType, Field};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike};

/// How one result column decodes: its family and the scale its integers carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub family: SfFetch,
    pub scale: u32,
}

/// The kind of a result column: the family from the reply's rowtype, the scale from the Arrow field's metadata
/// (the service's own word for these very values), else from the rowtype.
pub fn kind(column: &RowType, field: &Field) -> Kind {
    let family = match column.kind.as_str() {
        "fixed" => SfFetch::Fixed,
        "real" => SfFetch::Real,
        "text" => SfFetch::Text,
        "binary" => SfFetch::Binary,
        "boolean" => SfFetch::Boolean,
        "date" => SfFetch::Date,
        "time" => SfFetch::Time,
        "timestamp_ntz" => SfFetch::TimestampNtz,
        "timestamp_ltz" => SfFetch::TimestampLtz,
        "timestamp_tz" => SfFetch::TimestampTz,
        "variant" => SfFetch::Variant,
        "object" => SfFetch::Object,
        "array" => SfFetch::Array,
        "geography" | "geometry" => SfFetch::Geo,
        _ => SfFetch::CastText,
    };
    let scale = field
        .metadata()
        .get("scale")
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(column.scale.clamp(0, 9) as u32);
    Kind {
        family,
        scale: scale.min(38),
    }
}

/// The cell at `row` of `array`; `declared` is the column's Fivetran type (a NUMBER(p,0) that is LONG becomes an
/// integer cell, any other number exact decimal text).
pub fn cell(
    array: &dyn Array,
    row: usize,
    kind: Kind,
    declared: FivetranType,
) -> Result<Cell, String> {
    if array.is_null(row) {
        return Ok(Cell::Null);
    }
    Ok(match kind.family {
        SfFetch::Fixed => fixed(array, row, kind.scale, declared)?,
        SfFetch::Real => match array.data_type() {
            DataType::Float64 => Cell::Double(downcast::<Float64Array>(array)?.value(row)),
            DataType::Float32 => {
                Cell::Double(f64::from(downcast::<Float32Array>(array)?.value(row)))
            }
            other => return Err(unexpected("REAL", other)),
        },
        SfFetch::Text | SfFetch::CastText => Cell::Text(text(array, row)?),
        SfFetch::Geo => match array.data_type() {
            DataType::Binary | DataType::LargeBinary => Cell::Text(hex(&bytes(array, row)?)),
            _ => Cell::Text(text(array, row)?),
        },
        SfFetch::Variant | SfFetch::Object | SfFetch::Array => {
            let t = text(array, row)?;
            Cell::Json(
                serde_json::from_str(&t)
                    .map_err(|e| format!("its JSON text cannot be read ({e})"))?,
            )
        }
        SfFetch::Binary => Cell::Bytes(bytes(array, row)?),
        SfFetch::Boolean => Cell::Bool(downcast::<BooleanArray>(array)?.value(row)),
        SfFetch::Date => Cell::Date(date(array, row)?),
        SfFetch::Time => Cell::Text(time_text(integer(array, row)?, kind.scale, true)),
        SfFetch::TimestampNtz => Cell::Timestamp(timestamp(array, row, kind.scale)?),
        SfFetch::TimestampLtz | SfFetch::TimestampTz => {
            Cell::TimestampUtc(timestamp(array, row, kind.scale)?)
        }
    })
}

/// A key or cursor value as text that, bound and cast to the column's type, reads back the same value: numbers
/// exact, timestamps with all nine fraction digits (and `+00:00` for instants), times likewise.
pub fn key_text(array: &dyn Array, row: usize, kind: Kind) -> Result<String, String> {
    if array.is_null(row) {
        return Err("a key or cursor value is NULL".into());
    }
    Ok(match kind.family {
        SfFetch::Time => time_text(integer(array, row)?, kind.scale, false),
        SfFetch::TimestampNtz => timestamp(array, row, kind.scale)?
            .format("%Y-%m-%d %H:%M:%S%.9f")
            .to_string(),
        SfFetch::TimestampLtz | SfFetch::TimestampTz => timestamp(array, row, kind.scale)?
            .format("%Y-%m-%d %H:%M:%S%.9f+00:00")
            .to_string(),
        _ => match cell(array, row, kind, FivetranType::String)? {
            Cell::Int(v) => v.to_string(),
            Cell::Decimal(t) | Cell::Text(t) => t,
            Cell::Bool(b) => b.to_string(),
            Cell::Date(d) => d.format("%Y-%m-%d").to_string(),
            Cell::Double(v) => v.to_string(),
            Cell::Json(v) => v.to_string(),
            Cell::Bytes(b) => hex(&b),
            other => return Err(format!("{other:?} is not a key value")),
        },
    })
}

fn downcast<T: 'static>(array: &dyn Array) -> Result<&T, String> {
    array
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| format!("unexpected Arrow type {}", array.data_type()))
}

fn unexpected(what: &str, t: &DataType) -> String {
    format!("a {what} value arrived as Arrow {t}, which Snowflake does not send for it")
}

/// An integer column's value as i128, whatever its width.
fn integer(array: &dyn Array, row: usize) -> Result<i128, String> {
    Ok(match array.data_type() {
        DataType::Int8 => i128::from(downcast::<Int8Array>(array)?.value(row)),
        DataType::Int16 => i128::from(downcast::<Int16Array>(array)?.value(row)),
        DataType::Int32 => i128::from(downcast::<Int32Array>(array)?.value(row)),
        DataType::Int64 => i128::from(downcast::<Int64Array>(array)?.value(row)),
        DataType::Decimal128(_, 0) => downcast::<Decimal128Array>(array)?.value(row),
        other => return Err(unexpected("integer", other)),
    })
}

fn fixed(
    array: &dyn Array,
    row: usize,
    scale: u32,
    declared: FivetranType,
) -> Result<Cell, String> {
    let (v, scale) = match array.data_type() {
        DataType::Decimal128(_, s) => (
            downcast::<Decimal128Array>(array)?.value(row),
            (*s).max(0) as u32,
        ),
        DataType::Float64 => return Ok(Cell::Double(downcast::<Float64Array>(array)?.value(row))),
        _ => (integer(array, row)?, scale),
    };
    if scale == 0
        && matches!(
            declared,
            FivetranType::Long | FivetranType::Int | FivetranType::Short
        )
    {
        return i64::try_from(v)
            .map(Cell::Int)
            .map_err(|_| format!("{v} does not fit 64 bits"));
    }
    Ok(Cell::Decimal(scaled(v, scale)))
}

/// `v / 10^scale` as exact decimal text.
pub fn scaled(v: i128, scale: u32) -> String {
    let digits = v.unsigned_abs().to_string();
    let sign = if v < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let s = scale as usize;
    let padded = format!("{digits:0>width$}", width = s + 1);
    let (whole, frac) = padded.split_at(padded.len() - s);
    format!("{sign}{whole}.{frac}")
}

fn text(array: &dyn Array, row: usize) -> Result<String, String> {
    Ok(match array.data_type() {
        DataType::Utf8 => downcast::<StringArray>(array)?.value(row).to_string(),
        DataType::LargeUtf8 => downcast::<LargeStringArray>(array)?.value(row).to_string(),
        DataType::Utf8View => downcast::<StringViewArray>(array)?.value(row).to_string(),
        other => return Err(unexpected("text", other)),
    })
}

fn bytes(array: &dyn Array, row: usize) -> Result<Vec<u8>, String> {
    Ok(match array.data_type() {
        DataType::Binary => downcast::<BinaryArray>(array)?.value(row).to_vec(),
        DataType::LargeBinary => downcast::<LargeBinaryArray>(array)?.value(row).to_vec(),
        DataType::FixedSizeBinary(_) => {
            downcast::<FixedSizeBinaryArray>(array)?.value(row).to_vec()
        }
        DataType::BinaryView => downcast::<BinaryViewArray>(array)?.value(row).to_vec(),
        other => return Err(unexpected("BINARY", other)),
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

fn date(array: &dyn Array, row: usize) -> Result<NaiveDate, String> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).ok_or("no epoch")?;
    let days = match array.data_type() {
        DataType::Date32 => i64::from(downcast::<Date32Array>(array)?.value(row)),
        DataType::Date64 => downcast::<Date64Array>(array)?
            .value(row)
            .div_euclid(86_400_000),
        DataType::Int32 | DataType::Int64 => integer(array, row)? as i64,
        other => return Err(unexpected("DATE", other)),
    };
    epoch
        .checked_add_signed(chrono::TimeDelta::days(days))
        .ok_or_else(|| format!("day {days} is outside the dates a destination holds"))
}

/// `10^-scale` units into (seconds, nanoseconds), flooring so that the nanoseconds are never negative.
fn split(v: i128, scale: u32) -> Result<(i64, u32), String> {
    let unit = 10i128.pow(scale.min(9));
    let secs = i64::try_from(v.div_euclid(unit)).map_err(|_| format!("{v} is out of range"))?;
    let nanos = (v.rem_euclid(unit) * 10i128.pow(9 - scale.min(9))) as u32;
    Ok((secs, nanos))
}

fn timestamp(array: &dyn Array, row: usize, scale: u32) -> Result<NaiveDateTime, String> {
    let (secs, nanos) = match array.data_type() {
        DataType::Struct(_) => {
            let s = downcast::<StructArray>(array)?;
            let epoch = s
                .column_by_name("epoch")
                .ok_or("a timestamp struct without epoch")?;
            match s.column_by_name("fraction") {
                Some(f) => (
                    integer(epoch.as_ref(), row)? as i64,
                    integer(f.as_ref(), row)? as u32,
                ),
                None => split(integer(epoch.as_ref(), row)?, scale)?,
            }
        }
        _ => split(integer(array, row)?, scale)?,
    };
    DateTime::from_timestamp(secs, nanos)
        .map(|t| t.naive_utc())
        .ok_or_else(|| {
            format!("{secs} s since the epoch is outside the timestamps a destination holds")
        })
}

/// `HH:MM:SS.fffffffff`; trailing fraction zeros dropped for a value (as PostgreSQL's times), kept for a key.
fn time_text(v: i128, scale: u32, trim: bool) -> String {
    let (secs, nanos) = split(v, scale).unwrap_or((0, 0));
    let t = chrono::NaiveTime::from_num_seconds_from_midnight_opt(
        secs.rem_euclid(86_400) as u32,
        nanos,
    )
    .unwrap_or_default();
    let base = format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
    let frac = format!("{:09}", t.nanosecond());
    match (trim, frac.trim_end_matches('0')) {
        (true, "") => base,
        (true, f) => format!("{base}.{f}"),
        (false, _) => format!("{base}.{frac}"),
    }
}

#[cfg(test)]
mod tests;
