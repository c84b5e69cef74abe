//! Row filters: `table_filters` (a JSON object mapping a table to conditions) and seed 001's `region`. Parsed
//! when the configuration is read, checked against the catalog when tables are discovered, and always applied with
//! bound values.

use crate::error::{Error, Result};
use crate::model::{Arity, Filter, FilterOp, Table};
use serde_json::Value;

/// A condition as configured, before its table and column are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterSpec {
    /// `table` or `schema.table`.
    pub table: String,
    pub filter: Filter,
}

const KEY: &str = "table_filters";
const FORMAT: &str =
    r#"write it as {"schema.table": [{"column": "c", "operator": "=", "value": "v"}]}"#;

/// Parses `table_filters`. Empty text and `{}` mean no filters (the seed's default).
pub fn parse(text: Option<&str>) -> Result<Vec<FilterSpec>> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(Vec::new());
    };
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Error::config(KEY, format!("is not valid JSON ({e}); {FORMAT}")))?;
    let Value::Object(tables) = value else {
        return Err(Error::config(
            KEY,
            format!("is not a JSON object; {FORMAT}"),
        ));
    };
    let mut specs = Vec::new();
    for (table, conditions) in tables {
        let list = match conditions {
            Value::Array(list) => list,
            one @ Value::Object(_) => vec![one],
            _ => {
                return Err(Error::config(
                    KEY,
                    format!("the conditions of '{table}' are not a list; {FORMAT}"),
                ))
            }
        };
        for condition in list {
            specs.push(FilterSpec {
                table: table.clone(),
                filter: condition_of(&table, &condition)?,
            });
        }
    }
    Ok(specs)
}

fn condition_of(table: &str, c: &Value) -> Result<Filter> {
    let bad = |what: &str| Error::config(KEY, format!("a condition of '{table}' {what}; {FORMAT}"));
    let column = c
        .get("column")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("has no \"column\""))?;
    let op_text = c
        .get("operator")
        .or_else(|| c.get("op"))
        .and_then(Value::as_str)
        .unwrap_or("=");
    let op = FilterOp::parse(op_text).ok_or_else(|| {
        bad(&format!(
            "has operator '{op_text}'; use one of = != < <= > >= in, not in, like, not like, is null, is not null"
        ))
    })?;
    let value = c
        .get("value")
        .or_else(|| c.get("values"))
        .unwrap_or(&Value::Null);
    let values = match (op.arity(), value) {
        (Arity::None, _) => Vec::new(),
        (Arity::One, v) => {
            vec![scalar(v).ok_or_else(|| bad("needs one \"value\" (text, number or boolean)"))?]
        }
        (Arity::List, Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| {
                scalar(v)
                    .ok_or_else(|| bad("has a list item that is not text, a number or a boolean"))
            })
            .collect::<Result<_>>()?,
        (Arity::List, _) => {
            return Err(bad(&format!(
                "needs a non-empty list as \"value\" for '{op_text}'"
            )))
        }
    };
    Ok(Filter {
        column: column.to_string(),
        op,
        values,
    })
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Seed 001 kept only the `orders` rows of the configured `region`: the same filter, on every table named
/// `orders` that has a `region` column.
pub fn region(region: Option<&str>) -> Vec<FilterSpec> {
    region
        .map(|r| {
            vec![FilterSpec {
                table: "orders".into(),
                filter: Filter {
                    column: "region".into(),
                    op: FilterOp::Eq,
                    values: vec![r.to_string()],
                },
            }]
        })
        .unwrap_or_default()
}

fn names(spec: &str, t: &Table) -> bool {
    match spec.split_once('.') {
        Some((s, n)) => t.schema == s && t.name == n,
        None => t.name == spec,
    }
}

/// Attaches each table's filters, checking every named table and column exists. The `region` filter skips a
/// table without a `region` column, as the seed did.
pub fn attach(tables: &mut [Table], specs: &[FilterSpec], region: &[FilterSpec]) -> Result<()> {
    for spec in specs {
        let mut found = false;
        for t in tables.iter_mut().filter(|t| names(&spec.table, t)) {
            found = true;
            if !t.columns.iter().any(|c| c.name == spec.filter.column) {
                return Err(Error::config(
                    KEY,
                    format!(
                        "table {} has no column '{}' (names are case-sensitive); fix the filter",
                        t.qualified(),
                        spec.filter.column
                    ),
                ));
            }
            t.filters.push(spec.filter.clone());
        }
        if !found {
            return Err(Error::config(
                KEY,
                format!(
                    "table '{}' is not among the selected tables; fix the name or select it",
                    spec.table
                ),
            ));
        }
    }
    for spec in region {
        for t in tables.iter_mut().filter(|t| names(&spec.table, t)) {
            if t.columns.iter().any(|c| c.name == spec.filter.column) {
                t.filters.push(spec.filter.clone());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_with_their_values_as_text() {
        let specs = parse(Some(
            r#"{"shop.orders": [{"column": "region", "operator": "=", "value": "x'; DROP TABLE t; --"},
                                {"column": "qty", "op": "in", "value": [1, 2.5, true]}],
                "customers": {"column": "email", "operator": "is not null"}}"#,
        ))
        .unwrap();
        assert_eq!(specs.len(), 3);
        assert_eq!(specs[0].filter.values, vec!["x'; DROP TABLE t; --"]);
        assert_eq!(specs[1].filter.op, FilterOp::In);
        assert_eq!(specs[1].filter.values, vec!["1", "2.5", "true"]);
        assert_eq!(specs[2].table, "customers");
        assert!(specs[2].filter.values.is_empty());
        assert!(parse(Some("{}")).unwrap().is_empty());
        assert!(parse(None).unwrap().is_empty());
    }

    #[test]
    fn bad_filters_name_the_key_and_the_fix() {
        for (text, needle) in [
            ("[1]", "not a JSON object"),
            ("{nope", "not valid JSON"),
            (r#"{"t": [{"operator": "="}]}"#, "no \"column\""),
            (
                r#"{"t": [{"column": "c", "operator": "; DROP"}]}"#,
                "use one of",
            ),
            (
                r#"{"t": [{"column": "c", "operator": "in", "value": []}]}"#,
                "non-empty list",
            ),
            (
                r#"{"t": [{"column": "c", "operator": "=", "value": {"a": 1}}]}"#,
                "needs one",
            ),
        ] {
            let err = parse(Some(text)).unwrap_err().to_string();
            assert!(
                err.starts_with("configuration key 'table_filters'") && err.contains(needle),
                "{text}: {err}"
            );
        }
    }
}
