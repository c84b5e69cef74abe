//! SQL Server column types: the Fivetran type each becomes, the declared type bound values are cast to, and how the
//! reader selects it so that the value arrives exact (money as decimal, CLR types as their text).

use crate::model::FivetranType;

use crate::fetch::Fetch;
pub use crate::fetch::MssqlFetch as Select;
use crate::model::Column;

/// How a SQL Server column is selected. A column of another source never reaches this source's reader; if one
/// did, selecting it as itself is the plain reading.
pub fn select(column: &Column) -> Select {
    match column.fetch {
        Fetch::Mssql(s) => s,
        Fetch::Postgres(_) | Fetch::Snowflake(_) => Select::Plain,
    }
}

/// A column's type from the catalog: `sys.types` name, `max_length` in bytes (-1 for max), precision and scale.
pub struct Catalogued<'a> {
    pub type_name: &'a str,
    pub max_length: i32,
    pub precision: i32,
    pub scale: i32,
}

/// The declared type (what bound values are cast to), the Fivetran type, how it is selected, and a warning when
/// the value is carried as text only.
pub fn map(c: &Catalogued) -> (String, FivetranType, Select, Option<&'static str>) {
    use FivetranType as F;
    let len = |per_char: i32| {
        if c.max_length < 0 {
            "max".to_string()
        } else {
            (c.max_length / per_char).max(1).to_string()
        }
    };
    let name = c.type_name.to_ascii_lowercase();
    let plain = |f: FivetranType| (name.clone(), f, Select::Plain, None);
    match name.as_str() {
        "bit" => plain(F::Boolean),
        "tinyint" | "smallint" => plain(F::Short),
        "int" => plain(F::Int),
        "bigint" => plain(F::Long),
        "decimal" | "numeric" => (
            format!("{name}({},{})", c.precision, c.scale),
            F::Decimal {
                precision: c.precision as u8,
                scale: c.scale as u8,
            },
            Select::Plain,
            None,
        ),
        "money" => (
            name,
            F::Decimal {
                precision: 19,
                scale: 4,
            },
            Select::Money,
            None,
        ),
        "smallmoney" => (
            name,
            F::Decimal {
                precision: 10,
                scale: 4,
            },
            Select::Money,
            None,
        ),
        "real" => plain(F::Float),
        "float" => plain(F::Double),
        "char" | "varchar" | "binary" | "varbinary" => {
            let f = if name.ends_with("binary") {
                F::Binary
            } else {
                F::String
            };
            (format!("{name}({})", len(1)), f, Select::Plain, None)
        }
        "nchar" | "nvarchar" => (
            format!("{name}({})", len(2)),
            F::String,
            Select::Plain,
            None,
        ),
        "text" | "ntext" => (name, F::String, Select::Text, None),
        "image" => (name, F::Binary, Select::Binary, None),
        "timestamp" | "rowversion" => ("binary(8)".into(), F::Binary, Select::Plain, None),
        "uniqueidentifier" => plain(F::String),
        "date" => plain(F::NaiveDate),
        "time" => (format!("time({})", c.scale), F::String, Select::Plain, None),
        "datetime2" => (
            format!("datetime2({})", c.scale),
            F::NaiveDatetime,
            Select::Plain,
            None,
        ),
        "datetime" | "smalldatetime" => plain(F::NaiveDatetime),
        "datetimeoffset" => (
            format!("datetimeoffset({})", c.scale),
            F::UtcDatetime,
            Select::Plain,
            None,
        ),
        "xml" => (name, F::Xml, Select::Text, None),
        "sql_variant" => (
            name,
            F::String,
            Select::Text,
            Some("sql_variant is synced as its text"),
        ),
        "hierarchyid" | "geography" | "geometry" => (
            name,
            F::String,
            Select::Clr,
            Some("a CLR type, synced as its ToString() text"),
        ),
        _ => (
            name,
            F::String,
            Select::Text,
            Some("an unknown type, synced as its text"),
        ),
    }
}

/// Whether a key of this declared type round-trips through text, so that a read can resume after it.
pub fn key_round_trips(declared: &str, select: Select) -> bool {
    select == Select::Plain
        && !declared.contains("binary")
        && !declared.starts_with("float")
        && !declared.starts_with("real")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(
        type_name: &str,
        max_length: i32,
        precision: i32,
        scale: i32,
    ) -> (String, FivetranType, Select) {
        let (d, f, s, _) = map(&Catalogued {
            type_name,
            max_length,
            precision,
            scale,
        });
        (d, f, s)
    }

    #[test]
    fn declared_types_carry_length_precision_and_scale() {
        assert_eq!(of("nvarchar", 100, 0, 0).0, "nvarchar(50)");
        assert_eq!(of("nvarchar", -1, 0, 0).0, "nvarchar(max)");
        assert_eq!(of("varbinary", -1, 0, 0).1, FivetranType::Binary);
        assert_eq!(
            of("decimal", 17, 38, 10).1,
            FivetranType::Decimal {
                precision: 38,
                scale: 10
            }
        );
        assert_eq!(of("datetime2", 8, 27, 7).0, "datetime2(7)");
        assert_eq!(of("money", 8, 19, 4).2, Select::Money);
        assert_eq!(of("datetimeoffset", 10, 34, 7).1, FivetranType::UtcDatetime);
        assert_eq!(of("hierarchyid", 892, 0, 0).2, Select::Clr);
    }

    #[test]
    fn rowversion_is_declared_binary_and_read_as_its_eight_bytes() {
        // sys.types names it "timestamp" (its old name) on some servers and "rowversion" on others
        for name in ["rowversion", "timestamp"] {
            assert_eq!(
                of(name, 8, 0, 0),
                ("binary(8)".to_string(), FivetranType::Binary, Select::Plain),
                "{name}"
            );
        }
    }
}
