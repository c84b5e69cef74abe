//! The one skeleton of a table read, whatever the database: select list, key range, time window, resume position,
//! row filters and order. A `Dialect` supplies what differs: quoting, placeholders and casts, key comparison, the
//! look-back expression, select expressions and the list and pattern operators. Identifiers always go through the
//! dialect's `quote`; values are always bound parameters.

use crate::model::{Column, CursorKind, Filter, FilterOp, Table};
use crate::plan::Partition;
use crate::read::{order_columns, Span};

/// A statement and its parameters, all text (the statement casts each to the type it needs).
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub sql: String,
    pub params: Vec<Option<String>>,
}

/// How one database spells the parts of a read.
pub trait Dialect {
    /// A quoted identifier, safe for any name.
    fn quote(&self, name: &str) -> String;
    /// The text of the `n`th parameter (from 1).
    fn placeholder(&self, n: usize) -> String;
    /// A bound text value cast to `ty` by the database, so it compares in the column's own ordering.
    fn cast(&self, placeholder: &str, ty: &str) -> String;
    /// The alias of the table in reads, `src` as this dialect writes it: ORDER BY and WHERE name `src.col`, so
    /// they mean the column itself and never a same-named output column that was cast.
    fn alias(&self) -> &'static str;
    /// The type assumed for a name that is not a column.
    fn fallback_type(&self) -> &'static str;
    /// The table as it appears after FROM.
    fn from(&self, table: &Table) -> String {
        format!("{}.{}", self.quote(&table.schema), self.quote(&table.name))
    }
    /// What the reader selects for a column, named as the column.
    fn select_expr(&self, column: &Column) -> String;
    /// `left op right` over whole keys in their lexicographic order (`op` is `>` or `<=`). Spelled out by default
    /// (`a > x OR (a = x AND b > y)`; `<=` adds the all-equal case), for dialects without row-value comparison.
    fn compare(&self, left: &[String], op: &str, right: &[String]) -> String {
        let strict = if op.starts_with('>') { ">" } else { "<" };
        let equal = |j: usize| format!("{} = {}", left[j], right[j]);
        let mut terms = Vec::new();
        for i in 0..left.len() {
            let mut parts: Vec<String> = (0..i).map(equal).collect();
            parts.push(format!("{} {strict} {}", left[i], right[i]));
            terms.push(parts.join(" AND "));
        }
        if op.ends_with('=') {
            terms.push((0..left.len()).map(equal).collect::<Vec<_>>().join(" AND "));
        }
        format!("(({}))", terms.join(") OR ("))
    }
    /// Rows at or after the mark (`high`, or the oldest open writer `guard`), moved back by the look-back; None
    /// when there is no lower bound yet.
    fn since(&self, cursor: &SinceCursor, p: &mut Params<'_>) -> Option<String>;
    /// `column [NOT] IN values`, each value cast to `ty`.
    fn in_list(&self, column: &str, values: &[String], ty: &str, p: &mut Params<'_>) -> String {
        let items: Vec<String> = values.iter().map(|v| p.typed(v, ty)).collect();
        format!("{column} IN ({})", items.join(", "))
    }
    /// `column LIKE pattern`.
    fn like(&self, column: &str, pattern: &str, p: &mut Params<'_>) -> String {
        format!("{column} LIKE {}", p.bind(Some(pattern)))
    }
    /// The `n`th parameter as a text value the statement's author casts as needed (preprocessing's `{name}`).
    fn bound_text(&self, n: usize) -> String {
        self.placeholder(n)
    }
}

/// `since` for dialects with `DATEADD` and no open-writer guard (SQL Server, Snowflake): late commits are covered by
/// the look-back alone. DATEADD refuses `second` on a date, so a date cursor looks back whole days.
pub fn dateadd_since(c: &SinceCursor, p: &mut Params<'_>) -> Option<String> {
    let mark = p.typed(c.high?, c.ty);
    let column = &c.column;
    if c.kind == CursorKind::Integer || c.lookback_seconds <= 0.0 {
        return Some(format!("{column} >= {mark}"));
    }
    if c.ty.eq_ignore_ascii_case("date") {
        let days = (c.lookback_seconds / 86_400.0).ceil() as i64;
        return Some(format!("{column} >= DATEADD(day, {}, {mark})", -days));
    }
    Some(format!(
        "{column} >= DATEADD(second, {}, {mark})",
        -(c.lookback_seconds.ceil() as i64)
    ))
}

/// The cursor bound of an incremental read, as the dialect needs it.
pub struct SinceCursor<'a> {
    /// The cursor column, as `src.col`.
    pub column: String,
    pub ty: &'a str,
    pub kind: CursorKind,
    pub high: Option<&'a str>,
    pub guard: Option<&'a str>,
    pub lookback_seconds: f64,
}

/// The parameters of a statement being built.
pub struct Params<'d> {
    dialect: &'d dyn Dialect,
    values: Vec<Option<String>>,
}

impl<'d> Params<'d> {
    pub fn new(dialect: &'d dyn Dialect) -> Self {
        Params {
            dialect,
            values: Vec::new(),
        }
    }

    pub fn bind(&mut self, value: Option<&str>) -> String {
        self.values.push(value.map(str::to_string));
        self.dialect.placeholder(self.values.len())
    }

    pub fn typed(&mut self, value: &str, ty: &str) -> String {
        let placeholder = self.bind(Some(value));
        self.dialect.cast(&placeholder, ty)
    }

    pub fn into_values(self) -> Vec<Option<String>> {
        self.values
    }
}

/// A column as `src.col` in the dialect's quoting.
pub fn src(d: &dyn Dialect, name: &str) -> String {
    format!("{}.{}", d.alias(), d.quote(name))
}

/// The declared type of column `name`, which bound values are cast to.
pub fn type_of<'a>(d: &dyn Dialect, table: &'a Table, name: &str) -> &'a str {
    table
        .columns
        .iter()
        .chain(&table.unselected)
        .find(|c| c.name == name)
        .map_or(d.fallback_type(), |c| c.source_type.as_str())
}

fn compare(
    d: &dyn Dialect,
    table: &Table,
    columns: &[String],
    op: &str,
    values: &[String],
    p: &mut Params<'_>,
) -> String {
    let left: Vec<String> = columns.iter().map(|c| src(d, c)).collect();
    let right: Vec<String> = columns
        .iter()
        .zip(values)
        .map(|(c, v)| p.typed(v, type_of(d, table, c)))
        .collect();
    d.compare(&left, op, &right)
}

/// A read of `table`: the rows of `range` (all rows for the default range) in `span`, after the position `after`
/// (values of `order_columns`, as text), passing the table's filters, ordered for resuming.
pub fn read(
    d: &dyn Dialect,
    table: &Table,
    range: &Partition,
    after: Option<&[String]>,
    span: &Span,
) -> Query {
    let select: Vec<String> = table.columns.iter().map(|c| d.select_expr(c)).collect();
    let mut sql = format!(
        "SELECT {} FROM {} AS {}",
        select.join(", "),
        d.from(table),
        d.alias()
    );
    let mut p = Params::new(d);
    let mut conditions = Vec::new();
    let key = &table.primary_key;
    if let Some(lo) = &range.lo {
        conditions.push(compare(d, table, key, ">", lo, &mut p));
    }
    if let Some(hi) = &range.hi {
        conditions.push(compare(d, table, key, "<=", hi, &mut p));
    }
    if let Span::Since {
        cursor,
        high,
        guard,
        lookback_seconds,
    } = span
    {
        let bound = SinceCursor {
            column: src(d, &cursor.column),
            ty: type_of(d, table, &cursor.column),
            kind: cursor.kind,
            high: high.as_deref(),
            guard: guard.as_deref(),
            lookback_seconds: *lookback_seconds,
        };
        conditions.extend(d.since(&bound, &mut p));
    }
    let order = order_columns(table, span);
    if let Some(after) = after.filter(|a| a.len() == order.len() && !a.is_empty()) {
        conditions.push(compare(d, table, &order, ">", after, &mut p));
    }
    conditions.extend(table.filters.iter().map(|f| filter(d, table, f, &mut p)));
    if !conditions.is_empty() {
        sql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
    }
    if !order.is_empty() {
        let order: Vec<String> = order.iter().map(|c| src(d, c)).collect();
        sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
    }
    Query {
        sql,
        params: p.into_values(),
    }
}

fn filter(d: &dyn Dialect, table: &Table, f: &Filter, p: &mut Params<'_>) -> String {
    let column = src(d, &f.column);
    let ty = type_of(d, table, &f.column);
    let compare =
        |op: &str, p: &mut Params<'_>| format!("{column} {op} {}", p.typed(&f.values[0], ty));
    match f.op {
        FilterOp::Eq => compare("=", p),
        FilterOp::Ne => compare("<>", p),
        FilterOp::Lt => compare("<", p),
        FilterOp::Le => compare("<=", p),
        FilterOp::Gt => compare(">", p),
        FilterOp::Ge => compare(">=", p),
        FilterOp::In => d.in_list(&column, &f.values, ty, p),
        FilterOp::NotIn => format!("NOT ({})", d.in_list(&column, &f.values, ty, p)),
        FilterOp::Like => d.like(&column, &f.values[0], p),
        FilterOp::NotLike => format!("NOT ({})", d.like(&column, &f.values[0], p)),
        FilterOp::IsNull => format!("{column} IS NULL"),
        FilterOp::IsNotNull => format!("{column} IS NOT NULL"),
    }
}

/// One statement per typed filter value of `table`, casting it as reads will (`SELECT CAST(... AS type)`): run at
/// discovery, so a value of the wrong type fails before anything is written, naming the filter. LIKE patterns are
/// text and need no check.
pub fn filter_value_checks(d: &dyn Dialect, table: &Table) -> Vec<(String, String, Query)> {
    let mut checks = Vec::new();
    for f in &table.filters {
        if matches!(f.op, FilterOp::Like | FilterOp::NotLike) {
            continue;
        }
        let ty = type_of(d, table, &f.column);
        for value in &f.values {
            let mut p = Params::new(d);
            let sql = format!("SELECT {}", p.typed(value, ty));
            let query = Query {
                sql,
                params: p.into_values(),
            };
            checks.push((f.column.clone(), value.clone(), query));
        }
    }
    checks
}

/// The configuration error for a filter value the database cannot read as its column's type.
pub fn bad_filter_value(
    table: &Table,
    column: &str,
    value: &str,
    why: &str,
) -> crate::error::Error {
    let ty = table
        .columns
        .iter()
        .find(|c| c.name == column)
        .map_or("its type", |c| c.source_type.as_str());
    crate::error::Error::config(
        "table_filters",
        format!(
            "the value '{value}' for column {column} of {} is not a valid {ty} ({why}); fix the filter",
            table.qualified()
        ),
    )
}
