//! Every statement the PostgreSQL source sends about user tables is built here. Identifiers go through
//! `quote_ident`; values are always bound parameters.

use super::types::Decoder;
use crate::model::{Column, Cursor, CursorKind, Filter, FilterOp, Table};
use crate::plan::Partition;

/// A double-quoted identifier, inner quotes doubled: safe for any name, reserved words and mixed case included.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub fn qualified(table: &Table) -> String {
    if let Some(query) = &table.query {
        // The user's own statement, read as a subquery; its values are the user's business, not ours to bind.
        return format!("({query})");
    }
    format!(
        "{}.{}",
        quote_ident(&table.schema),
        quote_ident(&table.name)
    )
}

/// What the reader selects for a column, so that the binary value is one `decode` understands.
fn select_expr(column: &Column) -> String {
    let name = quote_ident(&column.name);
    match Decoder::from_u8(column.decoder) {
        Decoder::CastText => format!("{name}::text"),
        Decoder::Money => format!("{name}::numeric"),
        Decoder::Array => format!("to_jsonb({name})"),
        _ => name,
    }
}

/// The alias of the table in reads: ORDER BY and WHERE name `src."col"`, so they mean the column itself and never
/// a same-named output column that was cast to text.
const SRC: &str = "src";

/// A statement and its parameters, all text (the statement casts each to the type it needs).
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub sql: String,
    pub params: Vec<Option<String>>,
}

/// Which rows a read covers in time.
pub enum Window<'a> {
    /// Every row (a full load, or a table without a cursor).
    Full,
    /// Rows whose cursor is at or after the last high-water mark, moved back to the oldest transaction that was
    /// still writing then (`guard`) and by the look-back; None marks are left out.
    Since {
        cursor: &'a Cursor,
        high: Option<&'a str>,
        guard: Option<&'a str>,
        lookback_seconds: f64,
    },
}

struct Params(Vec<Option<String>>);

impl Params {
    fn bind(&mut self, value: Option<&str>) -> String {
        self.0.push(value.map(str::to_string));
        format!("${}", self.0.len())
    }

    /// A value cast from text to `ty` by the database, so it compares in the column's own ordering.
    fn typed(&mut self, value: &str, ty: &str) -> String {
        format!("CAST({}::text AS {ty})", self.bind(Some(value)))
    }
}

fn column<'a>(table: &'a Table, name: &str) -> Option<&'a Column> {
    table.columns.iter().find(|c| c.name == name)
}

fn type_of<'a>(table: &'a Table, name: &str) -> &'a str {
    column(table, name).map_or("text", |c| c.source_type.as_str())
}

fn src(name: &str) -> String {
    format!("{SRC}.{}", quote_ident(name))
}

/// `(a, b) op (CAST($1 ..), CAST($2 ..))`: a row comparison, so composite keys order as the index does.
fn compare(
    table: &Table,
    columns: &[String],
    op: &str,
    values: &[String],
    p: &mut Params,
) -> String {
    let left: Vec<String> = columns.iter().map(|c| src(c)).collect();
    let right: Vec<String> = columns
        .iter()
        .zip(values)
        .map(|(c, v)| p.typed(v, type_of(table, c)))
        .collect();
    format!("({}) {op} ({})", left.join(", "), right.join(", "))
}

/// The columns a read is ordered by, and resumes after: the primary key, preceded by the cursor in a window.
pub fn order_columns(table: &Table, window: &Window) -> Vec<String> {
    let first: Option<&String> = match window {
        Window::Since { cursor, .. } => Some(&cursor.column),
        Window::Full => None,
    };
    first
        .into_iter()
        .chain(table.primary_key.iter().filter(|k| Some(*k) != first))
        .cloned()
        .collect()
}

/// A read of `table`: the rows of `range` (all rows for the default range) in `window`, after the position
/// `after` (values of `order_columns`, as text), passing the table's filters, ordered for resuming.
pub fn read(table: &Table, range: &Partition, after: Option<&[String]>, window: &Window) -> Query {
    let select: Vec<String> = table.columns.iter().map(select_expr).collect();
    let mut sql = format!(
        "SELECT {} FROM {} AS {SRC}",
        select.join(", "),
        qualified(table)
    );
    let mut p = Params(Vec::new());
    let mut conditions = Vec::new();
    let key = &table.primary_key;
    if range.nulls {
        conditions.push(
            key.iter()
                .map(|k| format!("{} IS NULL", src(k)))
                .collect::<Vec<_>>()
                .join(" AND "),
        );
    }
    if let Some(lo) = &range.lo {
        conditions.push(compare(table, key, ">", lo, &mut p));
    }
    if let Some(hi) = &range.hi {
        conditions.push(compare(table, key, "<=", hi, &mut p));
    }
    if let Window::Since {
        cursor,
        high,
        guard,
        lookback_seconds,
    } = window
    {
        if let Some(bound) = since(table, cursor, *high, *guard, *lookback_seconds, &mut p) {
            conditions.push(bound);
        }
    }
    let order = order_columns(table, window);
    if let Some(after) = after.filter(|a| a.len() == order.len() && !a.is_empty()) {
        conditions.push(compare(table, &order, ">", after, &mut p));
    }
    conditions.extend(table.filters.iter().map(|f| filter(table, f, &mut p)));
    if !conditions.is_empty() {
        sql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
    }
    if !order.is_empty() {
        let order: Vec<String> = order.iter().map(|c| src(c)).collect();
        sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
    }
    Query { sql, params: p.0 }
}

fn since(
    table: &Table,
    cursor: &Cursor,
    high: Option<&str>,
    guard: Option<&str>,
    lookback: f64,
    p: &mut Params,
) -> Option<String> {
    let column = src(&cursor.column);
    let ty = type_of(table, &cursor.column);
    if cursor.kind == CursorKind::Integer {
        return high.map(|h| format!("{column} >= {}", p.typed(h, ty)));
    }
    let mark = match (high, guard) {
        (None, None) => return None,
        (Some(h), None) => p.typed(h, ty),
        (None, Some(g)) => p.typed(g, "timestamptz"),
        (Some(h), Some(g)) => format!("LEAST({}, {})", p.typed(h, ty), p.typed(g, "timestamptz")),
    };
    let seconds = p.typed(&lookback.to_string(), "float8");
    Some(format!(
        "{column} >= ({mark} - make_interval(secs => {seconds}))"
    ))
}

fn filter(table: &Table, f: &Filter, p: &mut Params) -> String {
    let column = src(&f.column);
    let ty = type_of(table, &f.column);
    let one = |p: &mut Params| p.typed(&f.values[0], ty);
    match f.op {
        FilterOp::Eq => format!("{column} = {}", one(p)),
        FilterOp::Ne => format!("{column} <> {}", one(p)),
        FilterOp::Lt => format!("{column} < {}", one(p)),
        FilterOp::Le => format!("{column} <= {}", one(p)),
        FilterOp::Gt => format!("{column} > {}", one(p)),
        FilterOp::Ge => format!("{column} >= {}", one(p)),
        FilterOp::In => format!(
            "{column} = ANY({})",
            p.typed(&array_literal(&f.values), &format!("{ty}[]"))
        ),
        FilterOp::NotIn => format!(
            "NOT ({column} = ANY({}))",
            p.typed(&array_literal(&f.values), &format!("{ty}[]"))
        ),
        FilterOp::Like => format!("{column}::text LIKE {}::text", p.bind(Some(&f.values[0]))),
        FilterOp::NotLike => format!(
            "{column}::text NOT LIKE {}::text",
            p.bind(Some(&f.values[0]))
        ),
        FilterOp::IsNull => format!("{column} IS NULL"),
        FilterOp::IsNotNull => format!("{column} IS NOT NULL"),
    }
}

/// An array literal `{"a","b"}` for one bound parameter: elements are quoted and escaped, so a value is always
/// one element, whatever it contains.
fn array_literal(values: &[String]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|v| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", items.join(","))
}

/// A page sample of the key, sorted in the key's order, as text: partition bounds come from it.
pub fn sample_keys(table: &Table) -> String {
    let keys: Vec<String> = table.primary_key.iter().map(|k| src(k)).collect();
    let text: Vec<String> = keys.iter().map(|k| format!("{k}::text")).collect();
    format!(
        "SELECT {} FROM {} AS {SRC} TABLESAMPLE SYSTEM (CAST($1::text AS float8)) ORDER BY {}",
        text.join(", "),
        qualified(table),
        keys.join(", ")
    )
}

/// The cursor's current maximum, the start of the oldest transaction still writing (other than ours), and whether
/// this login can see every session's transactions (superuser or pg_read_all_stats).
pub fn watermark(table: &Table, cursor: &Cursor) -> String {
    format!(
        "SELECT (SELECT max({c})::text FROM {t} AS {SRC}), \
                (SELECT min(xact_start)::text FROM pg_stat_activity \
                  WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()), \
                (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) \
                  OR pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')",
        c = src(&cursor.column),
        t = qualified(table)
    )
}

/// A sample of the JSON objects of one column, for typing its flattened columns.
pub fn sample_json(table: &Table, column: &Column) -> String {
    let name = quote_ident(&column.name);
    let typeof_fn = if Decoder::from_u8(column.decoder) == Decoder::Json {
        "json_typeof"
    } else {
        "jsonb_typeof"
    };
    format!(
        "SELECT {name} FROM {} WHERE {typeof_fn}({name}) = 'object' LIMIT $1",
        qualified(table)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FivetranType;

    fn col(name: &str, source_type: &str, decoder: Decoder) -> Column {
        Column {
            name: name.into(),
            source_type: source_type.into(),
            fivetran_type: FivetranType::String,
            decoder: decoder as u8,
            flattened: false,
            nullable: false,
        }
    }

    fn table() -> Table {
        Table::new(
            "Sales".into(),
            "order\"; DROP TABLE x; --".into(),
            vec![
                col("id", "bigint", Decoder::Int8),
                col("select", "text", Decoder::Text),
                col("tags", "text[]", Decoder::Array),
                col(
                    "updated_at",
                    "timestamp with time zone",
                    Decoder::TimestampTz,
                ),
            ],
            vec!["id".into(), "select".into()],
        )
    }

    fn texts(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn identifiers_are_quoted_and_keys_bound() {
        let q = read(
            &table(),
            &Partition::default(),
            Some(&texts(&["7", "x"])),
            &Window::Full,
        );
        assert_eq!(
            q.sql,
            "SELECT \"id\", \"select\", to_jsonb(\"tags\"), \"updated_at\" FROM \"Sales\".\"order\"\"; DROP TABLE x; --\" AS src \
             WHERE (src.\"id\", src.\"select\") > (CAST($1::text AS bigint), CAST($2::text AS text)) ORDER BY src.\"id\", src.\"select\""
        );
        assert_eq!(q.params, vec![Some("7".into()), Some("x".into())]);
    }

    #[test]
    fn partitions_windows_and_filters_are_all_bound() {
        let mut t = table();
        t.filters = vec![
            Filter {
                column: "select".into(),
                op: FilterOp::In,
                values: texts(&["a\"b", "c'); --"]),
            },
            Filter {
                column: "id".into(),
                op: FilterOp::IsNotNull,
                values: vec![],
            },
        ];
        let cursor = Cursor {
            column: "updated_at".into(),
            kind: CursorKind::Time,
        };
        let range = Partition {
            lo: Some(texts(&["1", "a"])),
            hi: Some(texts(&["9", "z"])),
            nulls: false,
        };
        let window = Window::Since {
            cursor: &cursor,
            high: Some("2026-01-01 00:00:00+00"),
            guard: Some("2025-12-31 23:00:00+00"),
            lookback_seconds: 600.0,
        };
        let q = read(
            &t,
            &range,
            Some(&texts(&["2026-01-01 00:00:00+00", "5", "b"])),
            &window,
        );
        assert_eq!(
            q.sql.split(" WHERE ").nth(1).unwrap(),
            "(src.\"id\", src.\"select\") > (CAST($1::text AS bigint), CAST($2::text AS text)) \
             AND (src.\"id\", src.\"select\") <= (CAST($3::text AS bigint), CAST($4::text AS text)) \
             AND src.\"updated_at\" >= (LEAST(CAST($5::text AS timestamp with time zone), CAST($6::text AS timestamptz)) - make_interval(secs => CAST($7::text AS float8))) \
             AND (src.\"updated_at\", src.\"id\", src.\"select\") > (CAST($8::text AS timestamp with time zone), CAST($9::text AS bigint), CAST($10::text AS text)) \
             AND src.\"select\" = ANY(CAST($11::text AS text[])) AND src.\"id\" IS NOT NULL \
             ORDER BY src.\"updated_at\", src.\"id\", src.\"select\""
        );
        assert_eq!(q.params[10].as_deref(), Some(r#"{"a\"b","c'); --"}"#));
        assert_eq!(q.params.len(), 11);
        let nulls = read(
            &t,
            &Partition {
                lo: None,
                hi: None,
                nulls: true,
            },
            None,
            &Window::Full,
        );
        assert!(
            nulls
                .sql
                .contains("WHERE src.\"id\" IS NULL AND src.\"select\" IS NULL AND"),
            "{}",
            nulls.sql
        );
    }

    #[test]
    fn an_empty_table_has_no_lower_bound_yet() {
        let cursor = Cursor {
            column: "updated_at".into(),
            kind: CursorKind::Time,
        };
        let window = Window::Since {
            cursor: &cursor,
            high: None,
            guard: None,
            lookback_seconds: 0.0,
        };
        let q = read(&table(), &Partition::default(), None, &window);
        assert!(!q.sql.contains("WHERE"), "{}", q.sql);
        let int = Cursor {
            column: "id".into(),
            kind: CursorKind::Integer,
        };
        let window = Window::Since {
            cursor: &int,
            high: Some("41"),
            guard: Some("2025-01-01"),
            lookback_seconds: 60.0,
        };
        let q = read(&table(), &Partition::default(), None, &window);
        assert!(
            q.sql.contains(
                "WHERE src.\"id\" >= CAST($1::text AS bigint) ORDER BY src.\"id\", src.\"select\""
            ),
            "{}",
            q.sql
        );
    }
}
