//! Snowflake column types: the Fivetran type each becomes, the declared type bound values are cast to, and its
//! type family (`SfFetch`), from INFORMATION_SCHEMA.COLUMNS' DATA_TYPE, NUMERIC_PRECISION and NUMERIC_SCALE.

use crate::fetch::{Fetch, SfFetch};
use crate::model::{Column, FivetranType as F};

/// The family of a Snowflake column (a column of another source never reaches this source; text if one did).
pub fn family(column: &Column) -> SfFetch {
    match column.fetch {
        Fetch::Snowflake(f) => f,
        _ => SfFetch::CastText,
    }
}

/// (declared type, Fivetran type, family) of a catalogued column. NUMBER(p,0) up to 18 digits is LONG (every
/// value fits 64 bits); wider or with a scale it is DECIMAL(p,s), exact. The declared type is what bound values
/// are cast to (`CAST(? AS NUMBER(38,0))`), so comparisons use the column's own order.
pub fn map(data_type: &str, precision: Option<i64>, scale: Option<i64>) -> (String, F, SfFetch) {
    let upper = data_type.to_ascii_uppercase();
    let (p, s) = (
        precision.unwrap_or(38).clamp(1, 38),
        scale.unwrap_or(0).clamp(0, 37),
    );
    match upper.as_str() {
        "NUMBER" | "DECIMAL" | "NUMERIC" | "INT" | "INTEGER" | "BIGINT" | "SMALLINT"
        | "TINYINT" | "BYTEINT" => {
            let declared = format!("NUMBER({p},{s})");
            let t = if s == 0 && p <= 18 {
                F::Long
            } else {
                F::Decimal {
                    precision: p as u8,
                    scale: s as u8,
                }
            };
            (declared, t, SfFetch::Fixed)
        }
        "FLOAT" | "FLOAT4" | "FLOAT8" | "DOUBLE" | "DOUBLE PRECISION" | "REAL" => {
            ("FLOAT".into(), F::Double, SfFetch::Real)
        }
        "TEXT" | "VARCHAR" | "CHAR" | "CHARACTER" | "STRING" => {
            ("VARCHAR".into(), F::String, SfFetch::Text)
        }
        "BINARY" | "VARBINARY" => ("BINARY".into(), F::Binary, SfFetch::Binary),
        "BOOLEAN" => ("BOOLEAN".into(), F::Boolean, SfFetch::Boolean),
        "DATE" => ("DATE".into(), F::NaiveDate, SfFetch::Date),
        "TIME" => ("TIME".into(), F::String, SfFetch::Time),
        "TIMESTAMP_NTZ" | "DATETIME" | "TIMESTAMP" => (
            "TIMESTAMP_NTZ".into(),
            F::NaiveDatetime,
            SfFetch::TimestampNtz,
        ),
        "TIMESTAMP_LTZ" => (
            "TIMESTAMP_LTZ".into(),
            F::UtcDatetime,
            SfFetch::TimestampLtz,
        ),
        "TIMESTAMP_TZ" => ("TIMESTAMP_TZ".into(), F::UtcDatetime, SfFetch::TimestampTz),
        "VARIANT" => ("VARIANT".into(), F::Json, SfFetch::Variant),
        "OBJECT" => ("OBJECT".into(), F::Json, SfFetch::Object),
        "ARRAY" => ("ARRAY".into(), F::Json, SfFetch::Array),
        "GEOGRAPHY" | "GEOMETRY" => (upper, F::String, SfFetch::Geo),
        _ => (upper, F::String, SfFetch::CastText),
    }
}

/// Whether a key value of this family reads back the same when bound as text: numbers, text, dates, times and
/// timestamps (written with all nine fraction digits). Not floats (their text may round), binary (hex text is
/// not every engine's cast), JSON or geography.
pub fn key_round_trips(f: SfFetch) -> bool {
    matches!(
        f,
        SfFetch::Fixed
            | SfFetch::Text
            | SfFetch::Date
            | SfFetch::Time
            | SfFetch::TimestampNtz
            | SfFetch::TimestampLtz
            | SfFetch::TimestampTz
            | SfFetch::Boolean
    )
}

/// Whether a column may hold JSON objects that flatten (ARRAY never does).
pub fn flattens(f: SfFetch) -> bool {
    matches!(f, SfFetch::Variant | SfFetch::Object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_long_only_when_every_value_fits() {
        assert_eq!(map("NUMBER", Some(18), Some(0)).1, F::Long);
        assert_eq!(
            map("NUMBER", Some(38), Some(0)).1,
            F::Decimal {
                precision: 38,
                scale: 0
            }
        );
        assert_eq!(
            map("NUMBER", Some(12), Some(2)).1,
            F::Decimal {
                precision: 12,
                scale: 2
            }
        );
        assert_eq!(map("NUMBER", Some(12), Some(2)).0, "NUMBER(12,2)");
        assert_eq!(map("TIMESTAMP_TZ", None, None).1, F::UtcDatetime);
        assert_eq!(map("GEOGRAPHY", None, None).2, SfFetch::Geo);
        assert_eq!(map("VECTOR", None, None).2, SfFetch::CastText);
    }
}
