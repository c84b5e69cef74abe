//! Preprocessing statements run on the source before a sync (seed 000's feature, off by default), expanded the same
//! way for every source that runs them. `{name}` takes a state value as a bound text parameter (the dialect's
//! `bound_text`: `$n::text` on PostgreSQL, `:n` bound as TEXT on Snowflake; cast it in the statement where another
//! type is needed); `{table}` runs the statement once per listed table with that table's name quoted by the
//! dialect. Each source runs them in one transaction of its own (`postgres/preprocess.rs`, `snowflake/preprocess.rs`).

use crate::config::Preprocessing;
use crate::error::{Error, Result};
use crate::statement::Dialect;
use std::collections::BTreeMap;

/// A statement ready to run, with its bound values.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Option<String>>,
}

fn table_name(d: &dyn Dialect, spec: &str) -> String {
    spec.split('.')
        .map(|part| d.quote(part))
        .collect::<Vec<_>>()
        .join(".")
}

/// Expands one template for one table (or none). An unknown `{name}` is an error: running the raw template, as
/// the seed did, would execute something nobody wrote.
fn expand(
    d: &dyn Dialect,
    template: &str,
    table: Option<&str>,
    state: &BTreeMap<String, String>,
) -> Result<Statement> {
    let mut sql = String::with_capacity(template.len());
    let mut params: Vec<Option<String>> = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        sql.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        let closed = after[name_len..].starts_with('}');
        if name.is_empty() || !closed || name.starts_with(|c: char| c.is_ascii_digit()) {
            sql.push('{');
            rest = after;
            continue;
        }
        if name == "table" {
            sql.push_str(&table_name(d, table.unwrap_or_default()));
        } else {
            let value = state.get(name).ok_or_else(|| {
                Error::config(
                    "preprocessing_sql",
                    format!(
                        "uses {{{name}}}, which the state does not have; use one of: table, {}",
                        keys(state)
                    ),
                )
            })?;
            params.push(Some(value.clone()));
            sql.push_str(&d.bound_text(params.len()));
        }
        rest = &after[name_len + 1..];
    }
    sql.push_str(rest);
    Ok(Statement { sql, params })
}

fn keys(state: &BTreeMap<String, String>) -> String {
    state.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// Every statement to run, in order: a template with `{table}` once per table, any other once.
pub fn statements(
    d: &dyn Dialect,
    p: &Preprocessing,
    state: &BTreeMap<String, String>,
) -> Result<Vec<Statement>> {
    let mut out = Vec::new();
    for template in &p.statements {
        if template.contains("{table}") {
            for table in &p.tables {
                out.push(expand(d, template, Some(table), state)?);
            }
        } else {
            out.push(expand(d, template, None, state)?);
        }
    }
    Ok(out)
}

/// What a source logs before it runs statement `i` (values are not logged: they may be anything).
pub fn announce(i: usize, of: usize, s: &Statement) -> String {
    format!("preprocessing {}/{of}: {}", i + 1, s.sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::sql::Postgres;
    use crate::snowflake::sql::SfSql;

    fn state() -> BTreeMap<String, String> {
        BTreeMap::from([(
            "last_completed_at".to_string(),
            "2026-01-01'; DROP TABLE x; --".to_string(),
        )])
    }

    fn orders() -> Preprocessing {
        Preprocessing {
            statements: vec![
                "UPDATE {table} SET flag = true WHERE changed > {last_completed_at}::timestamptz"
                    .into(),
                "SELECT '{\"json\": 1}'::jsonb".into(),
            ],
            tables: vec!["shop.orders".into(), "we\"ird".into()],
        }
    }

    #[test]
    fn state_values_are_bound_and_tables_quoted() {
        let out = statements(&Postgres, &orders(), &state()).unwrap();
        assert_eq!(
            out.len(),
            3,
            "one statement per table, then the other once (not N^2)"
        );
        assert_eq!(
            out[0].sql,
            "UPDATE \"shop\".\"orders\" SET flag = true WHERE changed > $1::text::timestamptz"
        );
        assert_eq!(
            out[0].params,
            vec![Some("2026-01-01'; DROP TABLE x; --".to_string())]
        );
        assert_eq!(
            out[1].sql,
            "UPDATE \"we\"\"ird\" SET flag = true WHERE changed > $1::text::timestamptz"
        );
        assert_eq!(out[2].sql, "SELECT '{\"json\": 1}'::jsonb");
        assert!(out[2].params.is_empty());
    }

    #[test]
    fn snowflake_binds_the_same_values_in_its_own_placeholders() {
        let out = statements(&SfSql, &orders(), &state()).unwrap();
        assert_eq!(
            out[0].sql,
            "UPDATE \"shop\".\"orders\" SET flag = true WHERE changed > :1::timestamptz"
        );
        assert_eq!(
            out[0].params,
            statements(&Postgres, &orders(), &state()).unwrap()[0].params
        );
    }

    #[test]
    fn an_unknown_placeholder_is_an_error_not_raw_sql() {
        let p = Preprocessing {
            statements: vec!["DELETE FROM t WHERE id = {nope}".into()],
            tables: vec![],
        };
        let err = statements(&SfSql, &p, &state()).unwrap_err().to_string();
        assert!(
            err.contains("'preprocessing_sql'")
                && err.contains("{nope}")
                && err.contains("last_completed_at"),
            "{err}"
        );
    }
}
