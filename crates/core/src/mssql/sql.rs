//! The T-SQL dialect of the shared read statement (`crate::statement`), and the statements only SQL Server sends:
//! key samples, the watermark and the catalog queries. Identifiers go through `quote`; values are always bound as
//! `@Pn` parameters (text, cast by the server to the column's declared type, so comparisons stay sargable).

use super::types::{select, Select};
use crate::model::{Column, Cursor, CursorKind, Table};
use crate::statement::{src, Dialect, Params, SinceCursor};

/// A bracket-quoted identifier, inner `]` doubled: safe for any name, reserved words included.
pub fn quote(name: &str) -> String {
    format!("[{}]", name.replace(']', "]]"))
}

pub fn qualified(table: &Table) -> String {
    format!("{}.{}", quote(&table.schema), quote(&table.name))
}

pub struct TSql;

impl Dialect for TSql {
    fn quote(&self, name: &str) -> String {
        quote(name)
    }

    fn placeholder(&self, n: usize) -> String {
        format!("@P{n}")
    }

    fn cast(&self, placeholder: &str, ty: &str) -> String {
        format!("CAST({placeholder} AS {ty})")
    }

    fn alias(&self) -> &'static str {
        "[src]"
    }

    fn fallback_type(&self) -> &'static str {
        "nvarchar(max)"
    }

    /// Named as the column, so result columns keep their names whatever the expression.
    fn select_expr(&self, column: &Column) -> String {
        let name = src(self, &column.name);
        let expr = match select(column) {
            Select::Plain => return name,
            Select::Money if column.source_type == "smallmoney" => {
                format!("CAST({name} AS decimal(10,4))")
            }
            Select::Money => format!("CAST({name} AS decimal(19,4))"),
            Select::Text => format!("CAST({name} AS nvarchar(max))"),
            Select::Binary => format!("CAST({name} AS varbinary(max))"),
            Select::Clr => format!("{name}.ToString()"),
        };
        format!("{expr} AS {}", quote(&column.name))
    }

    fn since(&self, c: &SinceCursor, p: &mut Params<'_>) -> Option<String> {
        crate::statement::dateadd_since(c, p)
    }
}

/// A page sample of the key in the key's order (all keys when `percent` is 100): partition bounds come from it.
/// The percentage is ours, computed from the row estimate, never a user's value.
pub fn sample_keys(table: &Table, percent: f64) -> String {
    let keys: Vec<String> = table.primary_key.iter().map(|k| src(&TSql, k)).collect();
    let sample = if percent < 100.0 {
        format!(" TABLESAMPLE SYSTEM ({percent:.4} PERCENT)")
    } else {
        String::new()
    };
    format!(
        "SELECT {} FROM {} AS [src]{sample} ORDER BY {}",
        keys.join(", "),
        qualified(table),
        keys.join(", ")
    )
}

/// The cursor's current maximum.
///
/// A time cursor's mark never passes the server's clock (UTC, as stored): a row stamped in the future would
/// otherwise hide every later change until then. The second column counts such rows, for a warning.
pub fn watermark(table: &Table, cursor: &Cursor) -> String {
    let c = src(&TSql, &cursor.column);
    let t = qualified(table);
    if cursor.kind == CursorKind::Integer {
        return format!("SELECT MAX({c}), CAST(NULL AS bigint) FROM {t} AS [src]");
    }
    let ty = crate::statement::type_of(&TSql, table, &cursor.column);
    let now = format!("CAST(SYSUTCDATETIME() AS {ty})");
    format!(
        "SELECT CASE WHEN MAX({c}) > {now} THEN {now} ELSE MAX({c}) END, \
         (SELECT COUNT_BIG(*) FROM {t} AS [src] WHERE {c} > {now}) FROM {t} AS [src]"
    )
}

/// Tables (user tables only) with their row estimates from partition statistics: no scan.
pub const TABLES: &str = "SELECT s.name, t.name, \
    (SELECT CAST(SUM(p.rows) AS bigint) FROM sys.partitions p WHERE p.object_id = t.object_id AND p.index_id IN (0, 1)), \
    t.object_id FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id \
    WHERE t.is_ms_shipped = 0 ORDER BY s.name, t.name";

/// Columns with the base type (an alias type's system type; CLR types by their own name).
pub const COLUMNS: &str = "SELECT s.name, t.name, c.name, COALESCE(bt.name, ty.name), \
    CAST(c.max_length AS int), CAST(c.precision AS int), CAST(c.scale AS int), CAST(c.is_nullable AS int) \
    FROM sys.columns c JOIN sys.tables t ON t.object_id = c.object_id \
    JOIN sys.schemas s ON s.schema_id = t.schema_id \
    JOIN sys.types ty ON ty.user_type_id = c.user_type_id \
    LEFT JOIN sys.types bt ON bt.user_type_id = c.system_type_id AND bt.user_type_id <> 240 \
    WHERE t.is_ms_shipped = 0 ORDER BY s.name, t.name, c.column_id";

/// Views, only to say so when `tables` names one.
pub const VIEWS: &str =
    "SELECT s.name, v.name FROM sys.views v JOIN sys.schemas s ON s.schema_id = v.schema_id";

/// Primary key columns in key order, from the constraint itself (whatever it is named).
pub const PRIMARY_KEYS: &str = "SELECT s.name, t.name, c.name \
    FROM sys.indexes i JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id \
    JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id \
    JOIN sys.tables t ON t.object_id = i.object_id JOIN sys.schemas s ON s.schema_id = t.schema_id \
    WHERE i.is_primary_key = 1 AND ic.key_ordinal > 0 ORDER BY s.name, t.name, ic.key_ordinal";

#[cfg(test)]
mod tests {
    //! Every statement the source sends is parsed with sqlparser's T-SQL dialect, so syntax SQL Server would reject
    //! (row comparisons, `::` casts, LIMIT, double-quoted names) fails here rather than on a customer's server.
    use super::*;
    use crate::fetch::Fetch;
    use crate::model::{Column, Filter, FilterOp, FivetranType};
    use crate::plan::Partition;
    use crate::read::{order_columns, Span};

    fn read(
        t: &Table,
        range: &Partition,
        after: Option<&[String]>,
        span: &Span,
    ) -> crate::statement::Query {
        crate::statement::read(&TSql, t, range, after, span)
    }
    use sqlparser::dialect::MsSqlDialect;
    use sqlparser::parser::Parser;

    fn column(name: &str, ty: &str, select: Select) -> Column {
        Column {
            name: name.into(),
            source_type: ty.into(),
            fivetran_type: FivetranType::String,
            fetch: Fetch::Mssql(select),
            flattened: false,
            nullable: true,
        }
    }

    fn table() -> Table {
        let mut t = Table::new(
            "dbo".into(),
            "Patient ]Visits".into(),
            vec![
                column("PatientId", "bigint", Select::Plain),
                column("Visit]No", "nvarchar(20)", Select::Plain),
                column("_LastUpdatedInstant", "datetime2(7)", Select::Plain),
                column("Balance", "money", Select::Money),
                column("Notes", "ntext", Select::Text),
                column("Node", "hierarchyid", Select::Clr),
                column("select", "int", Select::Plain),
            ],
            vec!["PatientId".into(), "Visit]No".into()],
        );
        t.cursor = Ok(Cursor {
            column: "_LastUpdatedInstant".into(),
            kind: CursorKind::Time,
        });
        t.filters = vec![
            Filter {
                column: "select".into(),
                op: FilterOp::In,
                values: vec!["1".into(), "2".into()],
            },
            Filter {
                column: "Visit]No".into(),
                op: FilterOp::Like,
                values: vec!["x'; DROP TABLE t; --".into()],
            },
            Filter {
                column: "Balance".into(),
                op: FilterOp::IsNotNull,
                values: vec![],
            },
        ];
        t
    }

    /// Parses `sql` as T-SQL, then refuses what sqlparser's dialect lets through but SQL Server rejects: `::` casts,
    /// row-value comparisons, `= ANY(...)`, LIMIT, NULLS FIRST/LAST and double-quoted names (off under
    /// QUOTED_IDENTIFIER OFF).
    fn parses(sql: &str) {
        use sqlparser::ast::{visit_expressions, CastKind, Expr};
        use std::ops::ControlFlow;
        let statements = match Parser::parse_sql(&MsSqlDialect {}, sql) {
            Ok(s) => s,
            Err(e) => panic!("T-SQL parser rejects {sql}\n{e}"),
        };
        let found = visit_expressions(&statements, |e| match e {
            Expr::Cast {
                kind: CastKind::DoubleColon,
                ..
            } => ControlFlow::Break("a :: cast"),
            Expr::Tuple(_) => ControlFlow::Break("a row-value comparison"),
            Expr::AnyOp { .. } | Expr::AllOp { .. } => ControlFlow::Break("ANY/ALL over an array"),
            _ => ControlFlow::Continue(()),
        });
        if let ControlFlow::Break(what) = found {
            panic!("SQL Server has no {what}: {sql}");
        }
        let text: String = statements.iter().map(|s| s.to_string()).collect();
        for banned in [" LIMIT ", " NULLS FIRST", " NULLS LAST", "\"", " OFFSET "] {
            assert!(
                !text.contains(banned),
                "SQL Server rejects '{}': {sql}",
                banned.trim()
            );
        }
    }

    #[test]
    fn the_checker_catches_what_sql_server_rejects() {
        for bad in [
            "SELECT a::int FROM t",
            "SELECT a FROM t WHERE (a, b) > (1, 2)",
            "SELECT a FROM t LIMIT 10",
            "SELECT a FROM t ORDER BY a NULLS FIRST",
            "SELECT \"a\" FROM t",
            "SELECT make_interval(secs => 1)",
        ] {
            assert!(
                std::panic::catch_unwind(|| parses(bad)).is_err(),
                "not caught: {bad}"
            );
        }
    }

    fn keys(a: &str, b: &str) -> Option<Vec<String>> {
        Some(vec![a.into(), b.into()])
    }

    #[test]
    fn every_statement_is_valid_t_sql() {
        let t = table();
        let since = Span::Since {
            cursor: t.cursor.clone().unwrap(),
            high: Some("2024-01-01T00:00:00.0000000".into()),
            guard: None,
            lookback_seconds: 600.0,
        };
        let ranges = [
            Partition::default(),
            Partition {
                lo: keys("1", "a"),
                hi: None,
            },
            Partition {
                lo: keys("1", "a"),
                hi: keys("9", "z"),
            },
        ];
        for range in &ranges {
            for span in [&Span::Full, &since] {
                let after = ["5".to_string(), "m".to_string(), "x".to_string()];
                let width = order_columns(&t, span).len();
                for after in [None, Some(&after[..width])] {
                    let q = read(&t, range, after, span);
                    parses(&q.sql);
                    assert!(
                        !q.sql.contains("DROP TABLE"),
                        "a value reached the SQL text: {}",
                        q.sql
                    );
                    let n = q.params.len();
                    assert!(n == 0 || q.sql.contains(&format!("@P{n}")), "{}", q.sql);
                    assert!(!q.sql.contains(&format!("@P{}", n + 1)), "{}", q.sql);
                }
            }
        }
        parses(&sample_keys(&t, 2.5));
        parses(&sample_keys(&t, 100.0));
        parses(&watermark(&t, t.cursor.as_ref().unwrap()));
        for catalog in [TABLES, COLUMNS, PRIMARY_KEYS, VIEWS] {
            parses(catalog);
        }
    }

    #[test]
    fn a_date_cursor_looks_back_in_days() {
        let mut t = table();
        t.columns[2].source_type = "date".into();
        let span = Span::Since {
            cursor: t.cursor.clone().unwrap(),
            high: Some("2024-01-01".into()),
            guard: None,
            lookback_seconds: 600.0,
        };
        let q = read(&t, &Partition::default(), None, &span);
        assert!(
            q.sql.contains("DATEADD(day, -1, CAST(@P1 AS date))"),
            "{}",
            q.sql
        );
        parses(&q.sql);
    }

    #[test]
    fn names_are_bracket_quoted_and_values_bound() {
        assert_eq!(quote("a]b"), "[a]]b]");
        let t = table();
        let q = read(
            &t,
            &Partition {
                lo: keys("1", "a"),
                hi: None,
            },
            None,
            &Span::Full,
        );
        assert!(
            q.sql.contains("FROM [dbo].[Patient ]]Visits] AS [src]"),
            "{}",
            q.sql
        );
        assert!(q.sql.contains("(([src].[PatientId] > CAST(@P1 AS bigint)) OR ([src].[PatientId] = CAST(@P1 AS bigint)"),
            "composite keys compare lexicographically: {}", q.sql);
        assert!(
            q.sql
                .contains("CAST([src].[Balance] AS decimal(19,4)) AS [Balance]"),
            "{}",
            q.sql
        );
        assert!(
            q.sql.contains("[src].[Node].ToString() AS [Node]"),
            "{}",
            q.sql
        );
        assert!(
            q.sql
                .ends_with("ORDER BY [src].[PatientId], [src].[Visit]]No]"),
            "{}",
            q.sql
        );
        assert_eq!(q.params[0].as_deref(), Some("1"));
    }
}
