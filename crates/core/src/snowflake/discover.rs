//! Tables, columns and declared primary keys from the session database's INFORMATION_SCHEMA and `SHOW PRIMARY
//! KEYS`, row counts from the catalog (no `COUNT(*)`); views only when `tables` names them.

use super::client::Client;
use super::decode::{key_text, kind};
use super::pace::Paced;
use super::sql::{self, SfSql};
use super::types::{flattens, map};
use crate::catalog::{self, Names};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::fetch::Fetch;
use crate::flatten::Flattener;
use crate::model::{Column, Table};
use crate::statement;
use futures_util::TryStreamExt;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Rows of a statement as text (None for NULL), whatever form the service answered in (Arrow, or the JSON rowset
/// of SHOW commands), every chunk included.
pub async fn text_rows(
    client: &Arc<Client>,
    sql: &str,
    params: &[Option<String>],
    what: &str,
) -> Result<Vec<Vec<Option<String>>>> {
    Ok(named_rows(client, sql, params, what).await?.1)
}

/// `text_rows` with the answer's column names.
pub async fn named_rows(
    client: &Arc<Client>,
    sql: &str,
    params: &[Option<String>],
    what: &str,
) -> Result<(Vec<String>, Vec<Vec<Option<String>>>)> {
    let answer = client.query(sql, params, what).await?;
    let names: Vec<String> = answer.columns.iter().map(|c| c.name.clone()).collect();
    if answer.inline.is_empty() && answer.chunks.is_empty() {
        if let Some(rows) = answer.json_rows {
            return Ok((names, rows));
        }
    }
    let columns = answer.columns.clone();
    let batches: Vec<_> = answer
        .batches(client.http.clone(), Paced::off(), 4, what.to_string())
        .try_collect()
        .await?;
    let mut rows = Vec::new();
    for b in &batches {
        let kinds: Vec<_> = columns
            .iter()
            .zip(b.schema().fields())
            .map(|(c, f)| kind(c, f))
            .collect();
        for r in 0..b.num_rows() {
            let row = (0..b.num_columns())
                .map(|i| {
                    let array = b.column(i);
                    if array.is_null(r) {
                        return Ok(None);
                    }
                    key_text(array.as_ref(), r, kinds[i]).map(Some)
                })
                .collect::<std::result::Result<Vec<_>, String>>()
                .map_err(|m| Error::Conversion(format!("{what}: {m}")))?;
            rows.push(row);
        }
    }
    Ok((names, rows))
}

/// The column names of a statement's answer, for SHOW commands whose column order is not promised.
fn at(names: &[String], wanted: &str) -> Option<usize> {
    names.iter().position(|n| n.eq_ignore_ascii_case(wanted))
}

fn cell(row: &[Option<String>], i: usize) -> String {
    row.get(i).cloned().flatten().unwrap_or_default()
}

pub async fn discover(client: &Arc<Client>, config: &Config) -> Result<(Vec<Table>, Vec<String>)> {
    let mut warnings = Vec::new();
    let named = |schema: &str, name: &str| {
        config.selection.tables.iter().any(|t| {
            t.eq_ignore_ascii_case(name) || t.eq_ignore_ascii_case(&format!("{schema}.{name}"))
        })
    };
    let mut found: Vec<(u32, Table, bool)> = Vec::new();
    for r in text_rows(client, sql::TABLES, &[], "reading the table catalog").await? {
        let mut t = Table::new(cell(&r, 0), cell(&r, 1), vec![], vec![]);
        t.row_estimate = r.get(2).cloned().flatten().and_then(|n| n.parse().ok());
        t.identity = r.get(3).cloned().flatten();
        found.push((found.len() as u32, t, true));
    }
    let mut views = Vec::new();
    for r in text_rows(client, sql::VIEWS, &[], "reading the view catalog").await? {
        let (schema, name) = (cell(&r, 0), cell(&r, 1));
        if named(&schema, &name) {
            found.push((
                found.len() as u32,
                Table::new(schema, name, vec![], vec![]),
                true,
            ));
        } else {
            views.push((schema, name, "view"));
        }
    }
    let kept = catalog::select(found, config, Names::CaseInsensitive, &views, &mut warnings)?;
    let mut by_name: HashMap<(String, String), Table> = kept
        .into_iter()
        .map(|(_, t, _)| ((t.schema.clone(), t.name.clone()), t))
        .collect();
    for r in text_rows(client, sql::COLUMNS, &[], "reading the column catalog").await? {
        let Some(t) = by_name.get_mut(&(cell(&r, 0), cell(&r, 1))) else {
            continue;
        };
        let number = |i: usize| {
            r.get(i)
                .cloned()
                .flatten()
                .and_then(|n| n.parse::<i64>().ok())
        };
        let (declared, fivetran_type, family) = map(&cell(&r, 3), number(4), number(5));
        t.columns.push(Column {
            name: cell(&r, 2),
            source_type: declared,
            fivetran_type,
            fetch: Fetch::Snowflake(family),
            flattened: false,
            nullable: !cell(&r, 6).eq_ignore_ascii_case("NO"),
        });
    }
    primary_keys(client, &mut by_name, &mut warnings).await?;
    let mut tables: Vec<Table> = by_name.into_values().collect();
    if config.flatten.enabled {
        for t in &mut tables {
            sample_json(client, t, config, &mut warnings).await?;
        }
    }
    let config = resolve_case(config, &tables);
    let (tables, warnings) = catalog::finish(tables, &config, None, warnings)?;
    check_filter_values(client, &tables).await?;
    Ok((tables, warnings))
}

/// Declared primary keys, schema by schema, in key order. Snowflake does not enforce them: one line says so for
/// the tables that have one, since rows sharing a key value would land as one row in the destination.
async fn primary_keys(
    client: &Arc<Client>,
    by_name: &mut HashMap<(String, String), Table>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let schemas: BTreeSet<String> = by_name.keys().map(|(s, _)| s.clone()).collect();
    for schema in schemas {
        let what = format!("reading the primary keys of schema {schema}");
        let (names, rows) = named_rows(client, &sql::primary_keys(&schema), &[], &what).await?;
        let (Some(s), Some(t), Some(c)) = (
            at(&names, "schema_name"),
            at(&names, "table_name"),
            at(&names, "column_name"),
        ) else {
            return Err(super::errors::malformed(
                &what,
                "SHOW PRIMARY KEYS without schema_name, table_name, column_name",
            ));
        };
        let seq = at(&names, "key_sequence");
        let mut keys: Vec<(String, i64, String)> = rows
            .iter()
            .filter(|r| cell(r, s) == schema)
            .map(|r| {
                (
                    cell(r, t),
                    seq.map_or(0, |q| cell(r, q).parse().unwrap_or(0)),
                    cell(r, c),
                )
            })
            .collect();
        // Stable by key position: rows of one position (fakesnow numbers every column 1) keep the service's order.
        keys.sort_by_key(|(table, seq, _)| (table.clone(), *seq));
        for (table, _, column) in keys {
            if let Some(t) = by_name.get_mut(&(schema.clone(), table)) {
                t.primary_key.push(column);
            }
        }
    }
    let mut keyed: Vec<String> = by_name
        .values()
        .filter(|t| !t.primary_key.is_empty())
        .map(Table::qualified)
        .collect();
    keyed.sort();
    if !keyed.is_empty() {
        warnings.push(format!(
            "Snowflake does not enforce primary keys ({}): rows sharing a key value land as one row in the destination; \
             check with SELECT <key>, COUNT(*) ... GROUP BY <key> HAVING COUNT(*) > 1",
            keyed.join(", ")
        ));
    }
    Ok(())
}

/// OBJECT and VARIANT columns holding objects flatten into typed columns, from a sample of their values.
async fn sample_json(
    client: &Arc<Client>,
    t: &mut Table,
    config: &Config,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let f = &config.flatten;
    let flattener = Flattener::new(&f.separator, f.depth, &[], f.sample_rows)
        .max_columns(f.max_columns)
        .reserve(t.columns.iter().map(|c| c.name.clone()));
    for i in 0..t.columns.len() {
        let Fetch::Snowflake(family) = t.columns[i].fetch else {
            continue;
        };
        if !flattens(family) {
            continue;
        }
        let what = format!(
            "sampling JSON column {} of {}",
            t.columns[i].name,
            t.qualified()
        );
        let sql = sql::sample_json(t, &t.columns[i].name, f.sample_rows);
        let samples: Vec<serde_json::Value> = text_rows(client, &sql, &[], &what)
            .await?
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .filter_map(|text| serde_json::from_str(&text).ok())
            .collect();
        if !samples.iter().any(|v| v.is_object()) {
            continue;
        }
        match flattener.sample(&t.columns[i].name, samples) {
            Some(flat) => {
                t.columns[i].flattened = true;
                t.flat_columns.extend(flat);
            }
            None => warnings.push(flattener.wide_warning(&t.qualified(), &t.columns[i].name)),
        }
    }
    Ok(())
}

/// Snowflake folds unquoted names to upper case: a configured column (`timestamp_column = updated_at`, seed 000's
/// spelling) that no table has as written means the upper-case column, when one exists.
fn resolve_case(config: &Config, tables: &[Table]) -> Config {
    let exact = |name: &str| {
        tables
            .iter()
            .any(|t| t.columns.iter().any(|c| c.name == name))
    };
    let folded = |name: &str| {
        let upper = name.to_ascii_uppercase();
        if !exact(name) && exact(&upper) {
            upper
        } else {
            name.to_string()
        }
    };
    let mut config = config.clone();
    for column in config.incremental.cursor_columns.values_mut().flatten() {
        *column = folded(column);
    }
    if let Some(soft) = config.incremental.soft_delete_column.as_mut() {
        *soft = folded(soft);
    }
    config
}

/// Every typed filter value cast by the service now, so that a wrong one fails before anything is written.
async fn check_filter_values(client: &Arc<Client>, tables: &[Table]) -> Result<()> {
    for t in tables {
        for (column, value, check) in statement::filter_value_checks(&SfSql, t) {
            match client
                .query(&check.sql, &check.params, "checking table_filters")
                .await
            {
                Ok(_) => {}
                Err(Error::Query { message, .. }) => {
                    return Err(statement::bad_filter_value(t, &column, &value, &message))
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}
