//! PostgreSQL types -> how they are fetched and decoded, and the Fivetran type they are declared as.

use crate::model::FivetranType;

use crate::fetch::Fetch;
pub use crate::fetch::PgFetch as Decoder;
use crate::model::Column;

/// The decoder of a PostgreSQL column. A column of another source never reaches this source's reader (`Source`
/// objects read only the tables they discovered); if one did, its text form is the safe reading.
pub fn decoder(column: &Column) -> Decoder {
    match column.fetch {
        Fetch::Postgres(d) => d,
        Fetch::Mssql(_) | Fetch::Snowflake(_) => Decoder::CastText,
    }
}

impl Decoder {
    /// Whether a key value read with this decoder can be written back as text the type parses (for resuming).
    pub fn key_round_trips(self) -> bool {
        !matches!(self, Decoder::Array | Decoder::Money | Decoder::Json)
    }
}

/// What the catalog says about a column's type (domains already resolved to their base type).
pub struct PgType<'a> {
    pub oid: u32,
    pub name: &'a str,
    /// `typtype`: b base, e enum, d domain, r range, c composite, p pseudo.
    pub kind: char,
    /// `typcategory`: A array, …
    pub category: char,
    pub typmod: i32,
}

/// The decoder and Fivetran type of a column, and whether it falls back to its text form (worth a warning).
pub fn map_type(t: &PgType) -> (Decoder, FivetranType, bool) {
    use Decoder as D;
    use FivetranType as F;
    let (d, f) = match t.oid {
        16 => (D::Bool, F::Boolean),
        21 => (D::Int2, F::Short),
        23 => (D::Int4, F::Int),
        20 => (D::Int8, F::Long),
        26 => (D::Oid, F::Long),
        700 => (D::Float4, F::Float),
        701 => (D::Float8, F::Double),
        1700 => (D::Numeric, numeric_type(t.typmod)),
        790 => (
            D::Money,
            F::Decimal {
                precision: 19,
                scale: 2,
            },
        ),
        25 | 1043 | 1042 | 19 => (D::Text, F::String),
        2950 => (D::Uuid, F::String),
        1082 => (D::Date, F::NaiveDate),
        1083 => (D::Time, F::String),
        1114 => (D::Timestamp, F::NaiveDatetime),
        1184 => (D::TimestampTz, F::UtcDatetime),
        17 => (D::Bytea, F::Binary),
        114 => (D::Json, F::Json),
        3802 => (D::Jsonb, F::Json),
        142 => (D::CastText, F::Xml),
        // Known text forms: interval is ISO 8601 (the session sets IntervalStyle), the rest are canonical.
        18 | 1266 | 1186 | 869 | 650 | 829 | 774 | 1560 | 1562 => (D::CastText, F::String),
        _ if t.category == 'A' => (D::Array, F::Json),
        _ if t.kind == 'e' || t.name == "citext" => (D::CastText, F::String),
        _ => return (D::CastText, F::String, true),
    };
    (d, f, false)
}

/// numeric(p,s) is a DECIMAL when the destination can hold it exactly (p <= 38, 0 <= s <= p); otherwise, and when
/// unconstrained (any scale), it is the exact decimal text.
pub fn numeric_type(typmod: i32) -> FivetranType {
    if typmod < 4 {
        return FivetranType::String;
    }
    let packed = typmod - 4;
    let precision = (packed >> 16) & 0xffff;
    // PostgreSQL 15 packs a signed 11-bit scale.
    let scale = ((packed & 0x7ff) ^ 1024) - 1024;
    if (1..=38).contains(&precision) && (0..=precision).contains(&scale) {
        FivetranType::Decimal {
            precision: precision as u8,
            scale: scale as u8,
        }
    } else {
        FivetranType::String
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(
        oid: u32,
        name: &str,
        kind: char,
        category: char,
        typmod: i32,
    ) -> (Decoder, FivetranType, bool) {
        map_type(&PgType {
            oid,
            name,
            kind,
            category,
            typmod,
        })
    }

    #[test]
    fn common_types_map_exactly() {
        assert_eq!(
            t(20, "int8", 'b', 'N', -1),
            (Decoder::Int8, FivetranType::Long, false)
        );
        assert_eq!(
            t(1184, "timestamptz", 'b', 'D', -1).1,
            FivetranType::UtcDatetime
        );
        assert_eq!(
            t(1114, "timestamp", 'b', 'D', -1).1,
            FivetranType::NaiveDatetime
        );
        assert_eq!(
            t(1007, "_int4", 'b', 'A', -1),
            (Decoder::Array, FivetranType::Json, false)
        );
        assert_eq!(
            t(99999, "mood", 'e', 'E', -1),
            (Decoder::CastText, FivetranType::String, false)
        );
        assert_eq!(
            t(99998, "tsvector", 'b', 'U', -1),
            (Decoder::CastText, FivetranType::String, true)
        );
        assert_eq!(t(142, "xml", 'b', 'U', -1).1, FivetranType::Xml);
    }

    #[test]
    fn numeric_precision_and_scale_come_from_the_typmod() {
        let typmod = |p: i32, s: i32| ((p << 16) | (s & 0x7ff)) + 4;
        assert_eq!(
            numeric_type(typmod(38, 10)),
            FivetranType::Decimal {
                precision: 38,
                scale: 10
            }
        );
        assert_eq!(
            numeric_type(typmod(12, 0)),
            FivetranType::Decimal {
                precision: 12,
                scale: 0
            }
        );
        assert_eq!(numeric_type(-1), FivetranType::String);
        assert_eq!(numeric_type(typmod(50, 2)), FivetranType::String);
        assert_eq!(numeric_type(typmod(5, -2)), FivetranType::String);
    }
}
