//! Cells in the Connector SDK's compact record form (`row_data`: one prefix byte and a payload per column),
//! byte for byte what the SDK's `encode_row_data` (fivetran_connector_sdk_cli/type_coercion.py, SDK 3.x) makes of
//! the Python value our dict path hands to `op.upsert` for the same cell (the binding's `convert.rs`). Where the SDK would
//! raise, or where a rule would need Python's own parsing of text, `encode` declines, and that row goes through
//! the SDK's public operation instead: declining is always safe, guessing never is.

pub mod pyfmt;

use crate::model::{Cell, FivetranType};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use pyfmt::{float_repr, json_dumps, json_float, json_string, py_number, PyNumber};
use serde_json::Value;

/// The SDK's cell prefixes (`fivetran_connector_sdk_core.constants.CELL_*`; checked at run time before use).
pub const CELL_NULL: u8 = 0;
pub const CELL_SCALAR: u8 = 1;
pub const CELL_JSON: u8 = 2;
pub const CELL_BINARY: u8 = 3;
pub const CELL_FLOAT: u8 = 4;
pub const CELL_DOUBLE: u8 = 5;

const INT_MIN: i64 = i32::MIN as i64;
const INT_MAX: i64 = i32::MAX as i64;
/// 2^63: whole floats in [-2^63, 2^63) are the ones `int()` turns into an i64.
const TWO_63: f64 = 9_223_372_036_854_775_808.0;

/// How the SDK encodes a column: by its declared type, by the value's own type (a column `schema()` did not
/// declare, or declared UNSPECIFIED), or not at all (NAIVE_TIME, which the SDK refuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declared {
    Type(FivetranType),
    Inferred,
    Refused,
}

impl Declared {
    /// From the SDK's `DataType` number (Fivetran's).
    pub fn from_sdk(number: i64) -> Declared {
        use FivetranType as F;
        Declared::Type(match number {
            1 => F::Boolean,
            2 => F::Short,
            3 => F::Int,
            4 => F::Long,
            5 => F::Decimal {
                precision: 0,
                scale: 0,
            },
            6 => F::Float,
            7 => F::Double,
            8 => F::NaiveDate,
            9 => F::NaiveDatetime,
            10 => F::UtcDatetime,
            11 => F::Binary,
            12 => F::Xml,
            13 => F::String,
            14 => F::Json,
            0 => return Declared::Inferred,
            _ => return Declared::Refused,
        })
    }
}

/// Reusable buffers for encoding cells (one per batch, so that no cell allocates).
#[derive(Default)]
pub struct Scratch {
    pub out: Vec<u8>,
    text: String,
}

/// Encodes `cell` into `scratch.out`; false when the SDK must encode this value itself. A flattened cell is never
/// encoded as one: its keys are separate columns.
pub fn encode(cell: &Cell, declared: Declared, scratch: &mut Scratch) -> bool {
    let Scratch { out, text } = scratch;
    out.clear();
    text.clear();
    if matches!(cell, Cell::Null | Cell::Json(Value::Null)) {
        out.push(CELL_NULL);
        return true;
    }
    let prefix = match declared {
        Declared::Refused => return false,
        Declared::Inferred => inferred(cell, out, text),
        Declared::Type(t) => typed(cell, t, out, text),
    };
    match prefix {
        None => false,
        Some(CELL_BINARY) => true, // the payload was appended already
        Some(p) => {
            out.push(p);
            out.extend_from_slice(text.as_bytes());
            true
        }
    }
}

/// The value as the Python object's own kind, for the rules that only ask what kind it is.
enum Py<'a> {
    Str(&'a str),
    Bool(bool),
    Int(i64),
    BigInt(&'a str),
    Float(f64),
    Other,
}

fn py(cell: &Cell) -> Py<'_> {
    match cell {
        Cell::Text(s) | Cell::Decimal(s) | Cell::Json(Value::String(s)) => Py::Str(s),
        Cell::Bool(b) | Cell::Json(Value::Bool(b)) => Py::Bool(*b),
        Cell::Int(i) => Py::Int(*i),
        Cell::Float(f) => Py::Float(f64::from(*f)),
        Cell::Double(f) => Py::Float(*f),
        Cell::Json(Value::Number(n)) => match py_number(n) {
            PyNumber::Float(f) => Py::Float(f),
            PyNumber::Text(_) => Py::Str(n.as_str()),
            PyNumber::Int(_) => match n.as_i64() {
                Some(i) => Py::Int(i),
                // serde_json (arbitrary_precision) keeps the number's own text: the digits Python's int() reads.
                None => Py::BigInt(n.as_str()),
            },
        },
        _ => Py::Other,
    }
}

fn typed(cell: &Cell, t: FivetranType, out: &mut Vec<u8>, text: &mut String) -> Option<u8> {
    use FivetranType as F;
    match t {
        F::Boolean => boolean(cell, text),
        F::Short | F::Int => integer(cell, INT_MIN, INT_MAX, text),
        F::Long => integer(cell, i64::MIN, i64::MAX, text),
        F::Float => float_type(cell, CELL_FLOAT, text),
        F::Double => float_type(cell, CELL_DOUBLE, text),
        F::Decimal { .. } => decimal(cell, text),
        F::String => string(cell, text),
        F::Xml => match py(cell) {
            Py::Str(s) => scalar(text, s),
            _ => None,
        },
        F::UtcDatetime => utc_datetime(cell, text),
        F::NaiveDatetime => naive_datetime(cell, text),
        F::NaiveDate => naive_date(cell, text),
        F::Json => json(cell, text),
        F::Binary => match cell {
            Cell::Bytes(b) => {
                out.push(CELL_BINARY);
                out.extend_from_slice(b);
                Some(CELL_BINARY)
            }
            _ => None,
        },
    }
}

fn scalar(text: &mut String, s: &str) -> Option<u8> {
    text.push_str(s);
    Some(CELL_SCALAR)
}

/// `_coerce_boolean`: bool, int and float by truth; the strings "0" and "1".
fn boolean(cell: &Cell, text: &mut String) -> Option<u8> {
    let truth = match py(cell) {
        Py::Bool(b) => b,
        Py::Int(i) => i != 0,
        Py::BigInt(_) => true,
        Py::Float(f) => f != 0.0,
        Py::Str("0") => false,
        Py::Str("1") => true,
        _ => return None,
    };
    scalar(text, if truth { "true" } else { "false" })
}

/// `_coerce_integer` / `_coerce_long`: `int(v)` (a float only when whole), within the column's range.
fn integer(cell: &Cell, min: i64, max: i64, text: &mut String) -> Option<u8> {
    let value = match py(cell) {
        Py::Int(i) => i,
        Py::Bool(b) => i64::from(b),
        Py::Float(f) if f.fract() == 0.0 && (-TWO_63..TWO_63).contains(&f) => f as i64,
        _ => return None,
    };
    if value < min || value > max {
        return None; // the SDK raises "Value out of range"
    }
    push_int(text, value);
    Some(CELL_SCALAR)
}

/// `_coerce_float_type` / `_coerce_double_type`: `str(float(v))`, non-finite values by their JSON names.
fn float_type(cell: &Cell, prefix: u8, text: &mut String) -> Option<u8> {
    let f = match py(cell) {
        Py::Float(f) => f,
        Py::Int(i) => i as f64,
        Py::Bool(b) => f64::from(u8::from(b)),
        Py::BigInt(digits) => big_float(digits)?,
        _ => return None, // float("text") follows Python's own parser
    };
    text.push_str(&json_float(f));
    Some(prefix)
}

/// `float(int)` of an integer beyond i64 (correctly rounded, as Python); None where Python raises OverflowError.
fn big_float(digits: &str) -> Option<f64> {
    digits.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// `_coerce_decimal`: text and integers as they are written; not bools or floats.
fn decimal(cell: &Cell, text: &mut String) -> Option<u8> {
    match py(cell) {
        Py::Str(s) | Py::BigInt(s) => scalar(text, s),
        Py::Int(i) => {
            push_int(text, i);
            Some(CELL_SCALAR)
        }
        _ => None,
    }
}

/// `_coerce_string`: `str(v)`.
fn string(cell: &Cell, text: &mut String) -> Option<u8> {
    match (py(cell), cell) {
        (Py::Str(s) | Py::BigInt(s), _) => scalar(text, s),
        (Py::Int(i), _) => {
            push_int(text, i);
            Some(CELL_SCALAR)
        }
        (Py::Bool(b), _) => scalar(text, if b { "True" } else { "False" }),
        (Py::Float(f), _) => scalar(text, &float_repr(f)),
        (_, Cell::Date(d)) => {
            push_date(text, d)?;
            Some(CELL_SCALAR)
        }
        (_, Cell::Timestamp(t)) => {
            push_datetime(text, t, ' ')?;
            Some(CELL_SCALAR)
        }
        (_, Cell::TimestampUtc(t)) => {
            push_datetime(text, t, ' ')?;
            text.push_str("+00:00");
            Some(CELL_SCALAR)
        }
        _ => None, // str() of bytes, dicts and lists is Python's repr
    }
}

/// `_coerce_utc_datetime`: a date at midnight, or the instant in UTC with 0, 3 or 6 fraction digits and `Z`.
fn utc_datetime(cell: &Cell, text: &mut String) -> Option<u8> {
    match cell {
        Cell::Date(d) => {
            push_date(text, d)?;
            text.push_str("T00:00:00Z");
        }
        Cell::Timestamp(t) | Cell::TimestampUtc(t) => {
            let micros = micros(t)?;
            push_datetime(text, &t.with_nanosecond(0)?, 'T')?;
            if micros % 1000 == 0 && micros != 0 {
                text.push('.');
                push_padded(text, micros / 1000, 3);
            } else if micros != 0 {
                text.push('.');
                push_padded(text, micros, 6);
            }
            text.push('Z');
        }
        _ => return None, // text is parsed by strptime
    }
    Some(CELL_SCALAR)
}

/// `_coerce_naive_datetime`: `isoformat()` (microseconds only when not zero).
fn naive_datetime(cell: &Cell, text: &mut String) -> Option<u8> {
    match cell {
        Cell::Date(d) => {
            push_date(text, d)?;
            text.push_str("T00:00:00");
        }
        Cell::Timestamp(t) | Cell::TimestampUtc(t) => push_datetime(text, t, 'T')?,
        _ => return None,
    }
    Some(CELL_SCALAR)
}

/// `_coerce_naive_date`: the date (of a datetime, its date).
fn naive_date(cell: &Cell, text: &mut String) -> Option<u8> {
    match cell {
        Cell::Date(d) => push_date(text, d)?,
        Cell::Timestamp(t) | Cell::TimestampUtc(t) => {
            micros(t)?;
            push_date(text, &t.date())?
        }
        _ => return None,
    }
    Some(CELL_SCALAR)
}

/// `_coerce_json`: `json.dumps(v)`.
fn json(cell: &Cell, text: &mut String) -> Option<u8> {
    match cell {
        Cell::Json(v) => text.push_str(&json_dumps(v)),
        Cell::Text(s) | Cell::Decimal(s) => json_string(s, text),
        Cell::Int(i) => {
            push_int(text, *i);
        }
        Cell::Bool(b) => text.push_str(if *b { "true" } else { "false" }),
        Cell::Float(_) | Cell::Double(_) => match py(cell) {
            Py::Float(f) => text.push_str(&json_float(f)),
            _ => return None,
        },
        _ => return None, // dates and bytes are not JSON serializable
    }
    Some(CELL_JSON)
}

/// `_coerce_inferred`: by the Python value's own type.
fn inferred(cell: &Cell, out: &mut Vec<u8>, text: &mut String) -> Option<u8> {
    match (py(cell), cell) {
        (Py::Str(s), _) => scalar(text, s),
        (Py::Bool(b), _) => scalar(text, if b { "true" } else { "false" }),
        // abs(v) > JAVA_LONG_MAX_VALUE goes the float way: only i64::MIN among i64s.
        (Py::Int(i), _) if i != i64::MIN => {
            push_int(text, i);
            Some(CELL_SCALAR)
        }
        (Py::Int(i), _) => {
            text.push_str(&json_float(i as f64));
            Some(CELL_FLOAT)
        }
        (Py::BigInt(digits), _) => {
            text.push_str(&json_float(big_float(digits)?));
            Some(CELL_FLOAT)
        }
        (Py::Float(f), _) => {
            text.push_str(&json_float(f));
            Some(CELL_FLOAT)
        }
        (_, Cell::Bytes(b)) => {
            out.push(CELL_BINARY);
            out.extend_from_slice(b);
            Some(CELL_BINARY)
        }
        (_, Cell::Json(v @ (Value::Array(_) | Value::Object(_)))) => {
            text.push_str(&json_dumps(v));
            Some(CELL_JSON)
        }
        (_, Cell::Date(_) | Cell::Timestamp(_) | Cell::TimestampUtc(_)) => string(cell, text),
        _ => None,
    }
}

/// The microseconds Python's datetime gets (truncated), or None where it could not hold the value.
fn micros(t: &NaiveDateTime) -> Option<u32> {
    let nanos = t.nanosecond();
    (nanos < 1_000_000_000 && (1..=9999).contains(&t.year())).then_some(nanos / 1000)
}

/// `date.isoformat()`; None for a year Python's date cannot hold (the SDK path would fail).
fn push_date(text: &mut String, d: &NaiveDate) -> Option<()> {
    if !(1..=9999).contains(&d.year()) {
        return None;
    }
    push_padded(text, d.year() as u32, 4);
    text.push('-');
    push_padded(text, d.month(), 2);
    text.push('-');
    push_padded(text, d.day(), 2);
    Some(())
}

/// `datetime.isoformat(sep)` of a naive value: microseconds only when not zero.
fn push_datetime(text: &mut String, t: &NaiveDateTime, sep: char) -> Option<()> {
    let micros = micros(t)?;
    push_date(text, &t.date())?;
    text.push(sep);
    push_padded(text, t.hour(), 2);
    text.push(':');
    push_padded(text, t.minute(), 2);
    text.push(':');
    push_padded(text, t.second(), 2);
    if micros != 0 {
        text.push('.');
        push_padded(text, micros, 6);
    }
    Some(())
}

/// `value` in decimal (`str(int)`), without the formatting machinery: this runs for most cells of a batch.
fn push_int(text: &mut String, value: i64) {
    text.push_str(itoa::Buffer::new().format(value));
}

/// `value` in decimal, left-padded with zeros to `width` digits (`%0Nd`; `value` has at most `width` digits).
fn push_padded(text: &mut String, value: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let mut v = value;
    for slot in digits[..width].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    text.extend(digits[..width].iter().map(|&b| b as char));
}

/// Whether the soft-delete column's value marks the row deleted, as `sdk.is_deleted` decides for the Python value:
/// anything but None, False, a zero number and the empty string.
pub fn is_deleted(cell: Option<&Cell>) -> bool {
    let Some(cell) = cell else {
        return false;
    };
    match cell {
        Cell::Null | Cell::Json(Value::Null) => false,
        _ => match py(cell) {
            Py::Bool(b) => b,
            Py::Int(i) => i != 0,
            Py::Float(f) => f != 0.0,
            Py::Str(s) => !s.is_empty(),
            Py::BigInt(_) | Py::Other => true,
        },
    }
}

#[cfg(test)]
mod tests;
