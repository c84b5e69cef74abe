//! Cells -> the protocol's typed values, and Fivetran types -> its `DataType`: the server's one conversion of a
//! value (the binding's is `convert.rs`; both start from the same `Cell`).

use crate::proto::value_type::Inner;
use crate::proto::{data_type_params, Column, DataType, DataTypeParams, DecimalParams, ValueType};
use chrono::NaiveDateTime;
use connector_accel_core::model::{Cell, FivetranType, Table};
use prost_types::Timestamp;
use serde_json::Value;
use std::borrow::Cow;

/// The declared type of a column and, for decimals, its precision and scale.
pub fn data_type(t: FivetranType) -> (DataType, Option<DataTypeParams>) {
    let plain = |d| (d, None);
    match t {
        FivetranType::Boolean => plain(DataType::Boolean),
        FivetranType::Short => plain(DataType::Short),
        FivetranType::Int => plain(DataType::Int),
        FivetranType::Long => plain(DataType::Long),
        FivetranType::Float => plain(DataType::Float),
        FivetranType::Double => plain(DataType::Double),
        FivetranType::Decimal { precision, scale } => (
            DataType::Decimal,
            Some(DataTypeParams {
                params: Some(data_type_params::Params::Decimal(DecimalParams {
                    precision: precision.into(),
                    scale: scale.into(),
                })),
            }),
        ),
        FivetranType::NaiveDate => plain(DataType::NaiveDate),
        FivetranType::NaiveDatetime => plain(DataType::NaiveDatetime),
        FivetranType::UtcDatetime => plain(DataType::UtcDatetime),
        FivetranType::Binary => plain(DataType::Binary),
        FivetranType::Xml => plain(DataType::Xml),
        FivetranType::String => plain(DataType::String),
        FivetranType::Json => plain(DataType::Json),
    }
}

/// The table's columns as declared: its own (a flattened JSON column gives way to its flattened columns), keys
/// marked.
pub fn columns(table: &Table) -> Vec<Column> {
    let column = |name: &str, t: FivetranType| {
        let (kind, params) = data_type(t);
        Column {
            name: name.to_string(),
            r#type: kind.into(),
            primary_key: table.primary_key.iter().any(|k| k == name),
            params,
        }
    };
    let own = table
        .columns
        .iter()
        .filter(|c| !c.flattened)
        .map(|c| column(&c.name, c.fivetran_type));
    let flat = table
        .flat_columns
        .iter()
        .map(|f| column(&f.name, f.fivetran_type));
    own.chain(flat).collect()
}

fn timestamp(t: &NaiveDateTime) -> Timestamp {
    let utc = t.and_utc();
    Timestamp {
        seconds: utc.timestamp(),
        // Within the second, never negative (seconds are floored): the 100 ns digit of datetime2 survives.
        nanos: utc.timestamp_subsec_nanos() as i32,
    }
}

/// One cell as the value of a column declared `declared`. Integers take the declared width; text takes the
/// declared kind (JSON, XML, decimal text); JSON values keep their exact text.
pub fn value(cell: &Cell, declared: FivetranType) -> ValueType {
    ValueType {
        inner: Some(view(cell, declared).into_inner()),
    }
}

/// A cell as one of the protocol's values, borrowing the cell's text and bytes: the one decision of which value a
/// cell becomes, which `value` builds as a message and `crate::wire` encodes straight into a record's bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum View<'a> {
    Null,
    Bool(bool),
    Short(i32),
    Int(i32),
    Long(i64),
    Float(f32),
    Double(f64),
    NaiveDate(Timestamp),
    NaiveDatetime(Timestamp),
    UtcDatetime(Timestamp),
    Decimal(Cow<'a, str>),
    Binary(&'a [u8]),
    String(Cow<'a, str>),
    Json(Cow<'a, str>),
    Xml(Cow<'a, str>),
}

impl View<'_> {
    pub fn into_inner(self) -> Inner {
        match self {
            View::Null => Inner::Null(true),
            View::Bool(b) => Inner::Bool(b),
            View::Short(i) => Inner::Short(i),
            View::Int(i) => Inner::Int(i),
            View::Long(i) => Inner::Long(i),
            View::Float(f) => Inner::Float(f),
            View::Double(d) => Inner::Double(d),
            View::NaiveDate(t) => Inner::NaiveDate(t),
            View::NaiveDatetime(t) => Inner::NaiveDatetime(t),
            View::UtcDatetime(t) => Inner::UtcDatetime(t),
            View::Decimal(s) => Inner::Decimal(s.into_owned()),
            View::Binary(b) => Inner::Binary(b.to_vec()),
            View::String(s) => Inner::String(s.into_owned()),
            View::Json(s) => Inner::Json(s.into_owned()),
            View::Xml(s) => Inner::Xml(s.into_owned()),
        }
    }
}

/// The value `cell` becomes in a column declared `declared`.
pub fn view(cell: &Cell, declared: FivetranType) -> View<'_> {
    match cell {
        Cell::Null | Cell::Json(Value::Null) => View::Null,
        Cell::Bool(b) => View::Bool(*b),
        Cell::Int(i) => integer(*i, declared),
        Cell::Float(f) => match declared {
            FivetranType::Double => View::Double(f64::from(*f)),
            _ => View::Float(*f),
        },
        Cell::Double(d) => View::Double(*d),
        Cell::Decimal(s) => View::Decimal(Cow::Borrowed(s)),
        Cell::Text(s) => text(s, declared),
        Cell::Bytes(b) => View::Binary(b),
        Cell::Date(d) => View::NaiveDate(timestamp(&d.and_time(chrono::NaiveTime::MIN))),
        Cell::Timestamp(t) => View::NaiveDatetime(timestamp(t)),
        Cell::TimestampUtc(t) => View::UtcDatetime(timestamp(t)),
        Cell::Json(v) => json(v, declared),
        // A flattened column's cells are sent as columns of their own (`crate::records`); one left whole is JSON.
        Cell::Flat(_) => View::Json(Cow::Owned(crate::records::json_of(cell).to_string())),
    }
}

fn integer(i: i64, declared: FivetranType) -> View<'static> {
    match declared {
        FivetranType::Short if i16::try_from(i).is_ok() => View::Short(i as i32),
        FivetranType::Int if i32::try_from(i).is_ok() => View::Int(i as i32),
        FivetranType::Decimal { .. } => View::Decimal(Cow::Owned(i.to_string())),
        FivetranType::Double => View::Double(i as f64),
        FivetranType::String => View::String(Cow::Owned(i.to_string())),
        _ => View::Long(i),
    }
}

fn text(s: &str, declared: FivetranType) -> View<'_> {
    let s = Cow::Borrowed(s);
    match declared {
        FivetranType::Json => View::Json(s),
        FivetranType::Xml => View::Xml(s),
        FivetranType::Decimal { .. } => View::Decimal(s),
        _ => View::String(s),
    }
}

/// A JSON value in a column: whole as JSON text (serde_json keeps each number's own digits), or, in a flattened
/// column of a scalar type, as that scalar.
fn json(v: &Value, declared: FivetranType) -> View<'_> {
    match (v, declared) {
        (Value::String(s), FivetranType::String) => View::String(Cow::Borrowed(s)),
        (Value::Bool(b), FivetranType::Boolean) => View::Bool(*b),
        (Value::Number(n), FivetranType::Long) if n.as_i64().is_some() => {
            View::Long(n.as_i64().unwrap_or_default())
        }
        (Value::Number(n), FivetranType::Double) if n.as_f64().is_some() => {
            View::Double(n.as_f64().unwrap_or_default())
        }
        (Value::Number(n), FivetranType::Decimal { .. }) => {
            View::Decimal(Cow::Owned(n.to_string()))
        }
        (other, FivetranType::String) => View::String(Cow::Owned(other.to_string())),
        (other, _) => View::Json(Cow::Owned(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn inner(cell: &Cell, declared: FivetranType) -> Inner {
        view(cell, declared).into_inner()
    }

    fn at(y: i32, m: u32, d: u32, nanos: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_nano_opt(12, 30, 15, nanos))
            .expect("a valid date")
    }

    #[test]
    fn timestamps_keep_the_seventh_digit_and_floor_before_the_epoch() {
        let Inner::NaiveDatetime(t) = inner(
            &Cell::Timestamp(at(2024, 5, 6, 123_456_700)),
            FivetranType::NaiveDatetime,
        ) else {
            panic!("not a naive datetime")
        };
        assert_eq!((t.seconds, t.nanos), (1_714_998_615, 123_456_700));
        let Inner::UtcDatetime(t) = inner(
            &Cell::TimestampUtc(at(1969, 12, 31, 500_000_000)),
            FivetranType::UtcDatetime,
        ) else {
            panic!("not a utc datetime")
        };
        // 1969-12-31T12:30:15.5Z: Python says -41385.0 seconds; the half second is added, not subtracted.
        assert_eq!((t.seconds, t.nanos), (-41_385, 500_000_000));
    }

    #[test]
    fn integers_take_the_declared_width_and_decimals_stay_text() {
        assert_eq!(inner(&Cell::Int(7), FivetranType::Short), Inner::Short(7));
        assert_eq!(
            inner(&Cell::Int(70_000), FivetranType::Int),
            Inner::Int(70_000)
        );
        assert_eq!(
            inner(&Cell::Int(1 << 40), FivetranType::Long),
            Inner::Long(1 << 40)
        );
        let exact = "-12345678901234567890.123456789012345";
        assert_eq!(
            inner(
                &Cell::Decimal(exact.into()),
                FivetranType::Decimal {
                    precision: 38,
                    scale: 15
                }
            ),
            Inner::Decimal(exact.into())
        );
    }

    #[test]
    fn json_numbers_keep_their_digits() {
        let v: Value =
            serde_json::from_str(r#"{"n": 12345678901234567890.123456789012345, "e": 1e-400}"#)
                .expect("valid JSON");
        assert_eq!(
            inner(&Cell::Json(v), FivetranType::Json),
            Inner::Json(r#"{"n":12345678901234567890.123456789012345,"e":1e-400}"#.into())
        );
    }
}
