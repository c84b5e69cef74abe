//! Tables, columns, Fivetran types and cells: the values every source converts into, once.

use chrono::{NaiveDate, NaiveDateTime};
use std::sync::Arc;

/// A Fivetran column type, as `schema()` declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FivetranType {
    Boolean,
    Short,
    Int,
    Long,
    Float,
    Double,
    Decimal { precision: u8, scale: u8 },
    NaiveDate,
    NaiveDatetime,
    UtcDatetime,
    Binary,
    Xml,
    String,
    Json,
}

impl FivetranType {
    /// The name the Connector SDK takes in `schema()`.
    pub fn name(self) -> &'static str {
        match self {
            FivetranType::Boolean => "BOOLEAN",
            FivetranType::Short => "SHORT",
            FivetranType::Int => "INT",
            FivetranType::Long => "LONG",
            FivetranType::Float => "FLOAT",
            FivetranType::Double => "DOUBLE",
            FivetranType::Decimal { .. } => "DECIMAL",
            FivetranType::NaiveDate => "NAIVE_DATE",
            FivetranType::NaiveDatetime => "NAIVE_DATETIME",
            FivetranType::UtcDatetime => "UTC_DATETIME",
            FivetranType::Binary => "BINARY",
            FivetranType::Xml => "XML",
            FivetranType::String => "STRING",
            FivetranType::Json => "JSON",
        }
    }
}

/// One column of a source table.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// The source's own spelling of the type, e.g. `numeric(12,2)`.
    pub source_type: String,
    pub fivetran_type: FivetranType,
    /// How the source that found it fetches and decodes it.
    pub fetch: crate::fetch::Fetch,
    /// Set when the column is emitted as flattened JSON rather than as itself.
    pub flattened: bool,
    pub nullable: bool,
}

/// A column made by flattening a JSON object column, typed from a sample of rows.
#[derive(Debug, Clone)]
pub struct FlatColumn {
    pub name: String,
    pub fivetran_type: FivetranType,
}

/// A source table as discovered from the catalog.
#[derive(Debug, Clone)]
pub struct Table {
    pub schema: String,
    pub name: String,
    pub columns: Vec<Column>,
    /// Primary key column names, in key order, from the real constraint (empty when the table has none).
    pub primary_key: Vec<String>,
    /// Rows according to catalog statistics; None when the table was never analysed.
    pub row_estimate: Option<i64>,
    pub flat_columns: Vec<FlatColumn>,
    /// The column incremental syncs follow, or why there is none.
    pub cursor: Result<Cursor, String>,
    /// A column whose set value (true, non-zero, any timestamp) means the row is deleted.
    pub soft_delete: Option<String>,
    /// Row filters, validated against the columns; every read applies them.
    pub filters: Vec<Filter>,
    /// A query read in place of a table (the library's `read_arrow` of a query); it has no key to partition by.
    pub query: Option<String>,
    /// Read the table's own rows only, not those of tables that inherit from it (PostgreSQL's `ONLY`): those are
    /// synced as tables of their own.
    pub own_rows_only: bool,
    /// What the source calls this very table (PostgreSQL's OID, SQL Server's object_id): a table dropped and
    /// created again under the same name has another, so the connector can tell that it is not the table it synced.
    pub identity: Option<String>,
    /// Columns a read does not select but its filters still compare, and so bind values as (a key-only read).
    pub unselected: Vec<Column>,
}

/// What kind of values a cursor column holds; a look-back window applies only to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorKind {
    Time,
    Integer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub column: String,
    pub kind: CursorKind,
}

/// Comparison operators a row filter may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Like,
    NotLike,
    IsNull,
    IsNotNull,
}

impl FilterOp {
    pub fn parse(text: &str) -> Option<FilterOp> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "=" | "==" | "eq" => FilterOp::Eq,
            "!=" | "<>" | "ne" => FilterOp::Ne,
            "<" | "lt" => FilterOp::Lt,
            "<=" | "le" => FilterOp::Le,
            ">" | "gt" => FilterOp::Gt,
            ">=" | "ge" => FilterOp::Ge,
            "in" => FilterOp::In,
            "not in" => FilterOp::NotIn,
            "like" => FilterOp::Like,
            "not like" => FilterOp::NotLike,
            "is null" => FilterOp::IsNull,
            "is not null" => FilterOp::IsNotNull,
            _ => return None,
        })
    }

    /// How many values the operator takes: none, one, or a list.
    pub fn arity(self) -> Arity {
        match self {
            FilterOp::IsNull | FilterOp::IsNotNull => Arity::None,
            FilterOp::In | FilterOp::NotIn => Arity::List,
            _ => Arity::One,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    None,
    One,
    List,
}

/// `column op values`: values are text, bound as parameters and cast to the column's type by the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub column: String,
    pub op: FilterOp,
    pub values: Vec<String>,
}

impl Table {
    /// A table with these columns and key, and nothing decided yet: no estimate, flattened columns, cursor,
    /// soft-delete column, filters or query.
    pub fn new(
        schema: String,
        name: String,
        columns: Vec<Column>,
        primary_key: Vec<String>,
    ) -> Table {
        Table {
            schema,
            name,
            columns,
            primary_key,
            row_estimate: None,
            flat_columns: vec![],
            cursor: Err(String::new()),
            soft_delete: None,
            filters: vec![],
            query: None,
            own_rows_only: false,
            identity: None,
            unselected: vec![],
        }
    }

    /// The same table read for its keys alone (and the soft-delete column, which says whether a key is a deleted
    /// row): what delete reconciliation scans, an index-only scan where the index covers it. Its filters still
    /// apply, typed as before. A table without a key is its own key (every column, as its row hash is made).
    pub fn keys_only(&self) -> Table {
        if self.primary_key.is_empty() {
            return self.clone();
        }
        let mut keys = self.clone();
        let wanted = |c: &Column| {
            self.primary_key.contains(&c.name)
                || self.soft_delete.as_deref() == Some(c.name.as_str())
        };
        let (mut kept, dropped): (Vec<Column>, Vec<Column>) =
            self.columns.iter().cloned().partition(|c| wanted(c));
        kept.iter_mut().for_each(|c| c.flattened = false);
        keys.columns = kept;
        keys.unselected = dropped;
        keys.flat_columns.clear();
        keys
    }

    /// `schema.table`, as configuration and state name it.
    pub fn qualified(&self) -> String {
        if self.query.is_some() {
            return "the query".into();
        }
        format!("{}.{}", self.schema, self.name)
    }
}

/// One value, converted from the driver's row once, then turned into a Python object or an Arrow value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f32),
    Double(f64),
    Text(String),
    /// An exact decimal number as text.
    Decimal(String),
    Bytes(Vec<u8>),
    Date(NaiveDate),
    /// A timestamp without time zone.
    Timestamp(NaiveDateTime),
    /// An instant, in UTC.
    TimestampUtc(NaiveDateTime),
    Json(serde_json::Value),
    /// The columns a flattened JSON object became, with interned names.
    Flat(Vec<(Arc<str>, Cell)>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::{Fetch, PgFetch};

    fn column(name: &str) -> Column {
        Column {
            name: name.into(),
            source_type: "integer".into(),
            fivetran_type: FivetranType::Int,
            fetch: Fetch::Postgres(PgFetch::Int4),
            flattened: name == "doc",
            nullable: true,
        }
    }

    #[test]
    fn a_key_only_table_selects_its_key_and_soft_delete_column_and_still_types_its_filters() {
        let columns = ["a", "id", "doc", "gone"].map(column).to_vec();
        let mut t = Table::new("s".into(), "t".into(), columns, vec!["id".into()]);
        t.soft_delete = Some("gone".into());
        t.flat_columns = vec![FlatColumn {
            name: "doc_x".into(),
            fivetran_type: FivetranType::Int,
        }];
        let keys = t.keys_only();
        let names: Vec<&str> = keys.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "gone"]);
        assert!(keys.flat_columns.is_empty());
        let hidden: Vec<&str> = keys.unselected.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(hidden, ["a", "doc"]);
        // a table without a key is keyed by its whole row: it reads every column
        let keyless = Table::new(
            "s".into(),
            "u".into(),
            ["a", "b"].map(column).to_vec(),
            vec![],
        );
        assert_eq!(keyless.keys_only().columns.len(), 2);
    }
}
