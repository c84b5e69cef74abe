//! Preprocessing statements run on the source before a sync (seed 000's feature, off by default). `{name}` takes a
//! state value as a bound text parameter (`$n::text`; cast it in the statement where another type is needed);
//! `{table}` runs the statement once per listed table with that table's quoted name. All statements run in one
//! transaction: they all apply, or none does.

use super::errors;
use super::sql::quote_ident;
use crate::config::Preprocessing;
use crate::error::{Error, Result};
use crate::messages::Messages;
use std::collections::BTreeMap;
use tokio_postgres::Client;

/// A statement ready to run, with its bound values.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Option<String>>,
}

fn table_name(spec: &str) -> String {
    spec.split('.')
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(".")
}

/// Expands one template for one table (or none). An unknown `{name}` is an error: running the raw template, as
/// the seed did, would execute something nobody wrote.
fn expand(
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
            sql.push_str(&table_name(table.unwrap_or_default()));
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
            sql.push_str(&format!("${}::text", params.len()));
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
pub fn statements(p: &Preprocessing, state: &BTreeMap<String, String>) -> Result<Vec<Statement>> {
    let mut out = Vec::new();
    for template in &p.statements {
        if template.contains("{table}") {
            for table in &p.tables {
                out.push(expand(template, Some(table), state)?);
            }
        } else {
            out.push(expand(template, None, state)?);
        }
    }
    Ok(out)
}

/// Runs the statements in one transaction, logging each (values are not logged: they may be anything).
pub async fn run(client: &mut Client, statements: &[Statement], log: &Messages) -> Result<u64> {
    let context = "running preprocessing_sql";
    let tx = client
        .transaction()
        .await
        .map_err(|e| errors::query(context, e))?;
    let mut changed = 0;
    for (i, s) in statements.iter().enumerate() {
        log.info(format!(
            "preprocessing {}/{}: {}",
            i + 1,
            statements.len(),
            s.sql
        ));
        changed += tx
            .execute_raw(s.sql.as_str(), s.params.iter())
            .await
            .map_err(|e| errors::query(&format!("{context} (statement {})", i + 1), e))?;
    }
    tx.commit().await.map_err(|e| errors::query(context, e))?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> BTreeMap<String, String> {
        BTreeMap::from([(
            "last_completed_at".to_string(),
            "2026-01-01'; DROP TABLE x; --".to_string(),
        )])
    }

    #[test]
    fn state_values_are_bound_and_tables_quoted() {
        let p = Preprocessing {
            statements: vec![
                "UPDATE {table} SET flag = true WHERE changed > {last_completed_at}::timestamptz"
                    .into(),
                "SELECT '{\"json\": 1}'::jsonb".into(),
            ],
            tables: vec!["shop.orders".into(), "we\"ird".into()],
        };
        let out = statements(&p, &state()).unwrap();
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
    fn an_unknown_placeholder_is_an_error_not_raw_sql() {
        let p = Preprocessing {
            statements: vec!["DELETE FROM t WHERE id = {nope}".into()],
            tables: vec![],
        };
        let err = statements(&p, &state()).unwrap_err().to_string();
        assert!(
            err.contains("'preprocessing_sql'")
                && err.contains("{nope}")
                && err.contains("last_completed_at"),
            "{err}"
        );
    }
}
