//! Snowflake's dialect of the shared read statement (`crate::statement`), and the statements only Snowflake
//! sends: catalog queries, key samples, the watermark. Identifiers go through `quote`; values are always bound
//! (`:n`, sent as TEXT and cast to the column's declared type in the statement).

use super::types::family;
use crate::fetch::SfFetch;
use crate::model::{Column, Cursor, CursorKind, Table};
use crate::statement::{src, Dialect, Params, SinceCursor};

/// A double-quoted identifier, inner `"` doubled: exact case, safe for any name.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub fn qualified(table: &Table) -> String {
    format!("{}.{}", quote(&table.schema), quote(&table.name))
}

pub struct SfSql;

impl Dialect for SfSql {
    fn quote(&self, name: &str) -> String {
        quote(name)
    }

    /// Numbered (`:1`), not `?`: the spelled-out key comparison uses a bound value more than once.
    fn placeholder(&self, n: usize) -> String {
        format!(":{n}")
    }

    fn cast(&self, placeholder: &str, ty: &str) -> String {
        format!("CAST({placeholder} AS {ty})")
    }

    fn alias(&self) -> &'static str {
        "src"
    }

    fn fallback_type(&self) -> &'static str {
        "VARCHAR"
    }

    /// A query (the library's `read_arrow(query=...)`) is read as a subquery; its values are the user's own.
    fn from(&self, table: &Table) -> String {
        match &table.query {
            Some(query) => format!("({query})"),
            None => qualified(table),
        }
    }

    fn select_expr(&self, column: &Column) -> String {
        let name = src(self, &column.name);
        match family(column) {
            SfFetch::CastText => format!("TO_VARCHAR({name}) AS {}", quote(&column.name)),
            _ => name,
        }
    }

    fn since(&self, c: &SinceCursor, p: &mut Params<'_>) -> Option<String> {
        crate::statement::dateadd_since(c, p)
    }
}

/// Base tables, with the catalog's row count (no scan) and creation time (a table created again under its name
/// has another). The session's database; Snowflake's own INFORMATION_SCHEMA left out.
pub const TABLES: &str = "SELECT TABLE_SCHEMA, TABLE_NAME, ROW_COUNT, TO_VARCHAR(CREATED) FROM INFORMATION_SCHEMA.TABLES \
    WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA <> 'INFORMATION_SCHEMA' ORDER BY 1, 2";

/// Views: synced only when `tables` names them.
pub const VIEWS: &str =
    "SELECT TABLE_SCHEMA, TABLE_NAME FROM INFORMATION_SCHEMA.VIEWS WHERE TABLE_SCHEMA <> 'INFORMATION_SCHEMA' ORDER BY 1, 2";

pub const COLUMNS: &str =
    "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, \
    IS_NULLABLE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA <> 'INFORMATION_SCHEMA' \
    ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION";

/// Declared primary keys of one schema (Snowflake records them but does not enforce them).
pub fn primary_keys(schema: &str) -> String {
    format!("SHOW PRIMARY KEYS IN SCHEMA {}", quote(schema))
}

/// Up to `rows` non-null values of a JSON column, to type its flattened columns.
pub fn sample_json(table: &Table, column: &str, rows: i64) -> String {
    let c = quote(column);
    format!(
        "SELECT {c} FROM {} WHERE {c} IS NOT NULL LIMIT {rows}",
        qualified(table)
    )
}

/// A sample of the key in key order (all keys at 100 %): partition bounds come from it. The percentage is ours,
/// computed from the row estimate, never a user's text.
pub fn sample_keys(table: &Table, percent: f64) -> String {
    let keys: Vec<String> = table.primary_key.iter().map(|k| src(&SfSql, k)).collect();
    let sample = if percent < 100.0 {
        format!(" SAMPLE SYSTEM ({percent:.4})")
    } else {
        String::new()
    };
    format!(
        "SELECT {} FROM {} AS src{sample} ORDER BY {}",
        keys.join(", "),
        qualified(table),
        keys.join(", ")
    )
}

/// The cursor's maximum, never past the service's clock (the session's time zone is UTC, so a naive timestamp
/// compares with UTC as it is stored), and how many rows are stamped after that clock.
pub fn watermark(table: &Table, cursor: &Cursor) -> String {
    let c = src(&SfSql, &cursor.column);
    let t = qualified(table);
    if cursor.kind == CursorKind::Integer {
        return format!("SELECT MAX({c}), CAST(NULL AS NUMBER(18,0)) FROM {t} AS src");
    }
    let ty = crate::statement::type_of(&SfSql, table, &cursor.column);
    let now = format!("CAST(CURRENT_TIMESTAMP() AS {ty})");
    format!(
        "SELECT CASE WHEN MAX({c}) > {now} THEN {now} ELSE MAX({c}) END, \
         (SELECT COUNT(*) FROM {t} AS src WHERE {c} > {now}) FROM {t} AS src"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_values_bound() {
        assert_eq!(quote(r#"we"ird"#), r#""we""ird""#);
        let t = Table::new("S".into(), "T".into(), vec![], vec!["A".into(), "B".into()]);
        let range = crate::plan::Partition {
            lo: Some(vec!["1".into(), "x".into()]),
            hi: None,
        };
        let q = crate::statement::read(&SfSql, &t, &range, None, &crate::read::Span::Full);
        assert_eq!(
            q.sql,
            r#"SELECT  FROM "S"."T" AS src WHERE ((src."A" > CAST(:1 AS VARCHAR)) OR (src."A" = CAST(:1 AS VARCHAR) AND src."B" > CAST(:2 AS VARCHAR))) ORDER BY src."A", src."B""#
        );
        assert_eq!(q.params.len(), 2);
    }
}
