//! Row estimates from data pages, for tables whose catalog count says 0: SQL Server can report 0 rows for a table
//! that holds data (statistics never built, a restored or bulk-loaded table), and a 0 plans a big table as one
//! partition.

use crate::model::Table;
use std::collections::HashMap;
use tiberius::Row;

/// Bytes a data page holds for rows (8 KB less its header).
const PAGE_BYTES: i64 = 8096;
/// Per row: the row header, the null bitmap and its slot in the page's offset array, roughly.
const ROW_OVERHEAD: i64 = 11;
/// In-row bytes of a `max` value: small ones live in the row, large ones leave a 24-byte pointer.
const MAX_IN_ROW: i64 = 64;

/// In-row data pages of each table (heap or clustered index), by (schema, table).
pub const DATA_PAGES: &str =
    "SELECT s.name, t.name, CAST(SUM(ps.in_row_data_page_count) AS bigint) \
    FROM sys.dm_db_partition_stats ps JOIN sys.tables t ON t.object_id = ps.object_id \
    JOIN sys.schemas s ON s.schema_id = t.schema_id \
    WHERE ps.index_id IN (0, 1) AND t.is_ms_shipped = 0 GROUP BY s.name, t.name";

/// The average in-row width of a column, in bytes, from its declared type: variable-length values are taken as
/// half full.
pub fn column_bytes(type_name: &str, max_length: i32) -> i64 {
    let variable = matches!(
        type_name,
        "varchar" | "nvarchar" | "varbinary" | "sysname" | "sql_variant" | "xml"
    );
    match max_length {
        n if n < 0 => MAX_IN_ROW,
        n if variable => i64::from(n / 2).max(1) + 2,
        n => i64::from(n).max(1),
    }
}

/// Rows that `pages` data pages hold at `row_bytes` a row.
pub fn rows_in(pages: i64, row_bytes: i64) -> i64 {
    pages * PAGE_BYTES / (row_bytes + ROW_OVERHEAD).max(1)
}

/// Whether any table's catalog count is 0, so that the page counts are worth reading.
pub fn needed(tables: &HashMap<(String, String), Table>) -> bool {
    tables.values().any(|t| t.row_estimate.unwrap_or(0) == 0)
}

/// Replaces a catalog count of 0 by an estimate from the table's data pages (`found`: rows of `DATA_PAGES`), when
/// it has any, with a line saying so. The page counts need VIEW DATABASE STATE: without it the caller has none and
/// the 0 stands (the plan is a plan, not data; a line per sync for every empty table of such a login would be noise).
pub fn from_pages(
    found: &[Row],
    tables: &mut HashMap<(String, String), Table>,
    widths: &HashMap<(String, String), i64>,
    warnings: &mut Vec<String>,
) {
    for r in found {
        let name = (
            r.get::<&str, _>(0).unwrap_or_default().to_string(),
            r.get::<&str, _>(1).unwrap_or_default().to_string(),
        );
        let pages = r.get::<i64, _>(2).unwrap_or(0);
        let Some(t) = tables.get_mut(&name) else {
            continue;
        };
        if t.row_estimate.unwrap_or(0) != 0 || pages == 0 {
            continue;
        }
        let estimate = rows_in(pages, widths.get(&name).copied().unwrap_or(0));
        warnings.push(format!(
            "table {}: the catalog counts 0 rows but the table holds {pages} data pages; it is planned as \
             ~{estimate} rows, estimated from its pages and column types",
            t.qualified()
        ));
        t.row_estimate = Some(estimate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_become_rows_by_the_declared_width() {
        // bigint, int, nvarchar(40), decimal(12,2): 8 + 4 + 42 + 9 bytes
        let width = column_bytes("bigint", 8)
            + column_bytes("int", 4)
            + column_bytes("nvarchar", 80)
            + column_bytes("decimal", 9);
        assert_eq!(width, 63);
        assert_eq!(rows_in(100, width), 100 * 8096 / 74);
        assert_eq!(column_bytes("varchar", -1), MAX_IN_ROW);
        assert_eq!(rows_in(0, 0), 0);
    }
}
