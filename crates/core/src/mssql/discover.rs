//! Tables, columns and primary keys from SQL Server's catalog views, row estimates from partition statistics.

use super::connect::Session;
use super::decode::key_text;
use super::errors;
use super::sql;
use super::types::{map, Catalogued};
use crate::catalog::{self, Names};
use crate::config::Config;
use crate::error::Result;
use crate::fetch::Fetch;
use crate::model::{Column, Table};
use crate::statement;
use std::collections::HashMap;
use tiberius::Row;

/// Epic Caboodle marks deleted rows in `_IsDeleted` (seed 003 reads it): it is the default soft-delete column.
const SEED_SOFT_DELETE: &str = "_IsDeleted";

async fn rows(client: &mut Session, statement: &str, what: &str) -> Result<Vec<Row>> {
    client
        .simple_query(statement)
        .await
        .map_err(|e| errors::query(what, e))?
        .into_first_result()
        .await
        .map_err(|e| errors::query(what, e))
}

fn text(row: &Row, i: usize) -> String {
    row.get::<&str, _>(i).unwrap_or_default().to_string()
}

fn int(row: &Row, i: usize) -> i32 {
    row.get::<i32, _>(i).unwrap_or_default()
}

pub async fn discover(client: &mut Session, config: &Config) -> Result<(Vec<Table>, Vec<String>)> {
    let mut warnings = Vec::new();
    let listed = rows(client, sql::TABLES, "reading the table catalog").await?;
    let found: Vec<(u32, Table, bool)> = listed
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut t = Table::new(text(r, 0), text(r, 1), vec![], vec![]);
            t.row_estimate = r.get::<i64, _>(2);
            t.identity = r.get::<i32, _>(3).map(|id| id.to_string());
            (i as u32, t, true)
        })
        .collect();
    let views: Vec<(String, String, &'static str)> =
        rows(client, sql::VIEWS, "reading the view catalog")
            .await?
            .iter()
            .map(|r| (text(r, 0), text(r, 1), "view"))
            .collect();
    let kept = catalog::select(found, config, Names::CaseInsensitive, &views, &mut warnings)?;
    let mut by_name: HashMap<(String, String), Table> = kept
        .into_iter()
        .map(|(_, t, _)| ((t.schema.clone(), t.name.clone()), t))
        .collect();
    let mut widths: HashMap<(String, String), i64> = HashMap::new();
    for r in rows(client, sql::COLUMNS, "reading the column catalog").await? {
        let Some(t) = by_name.get_mut(&(text(&r, 0), text(&r, 1))) else {
            continue;
        };
        let type_name = text(&r, 3);
        *widths.entry((text(&r, 0), text(&r, 1))).or_default() +=
            super::estimate::column_bytes(&type_name, int(&r, 4));
        let (declared, fivetran_type, select, warning) = map(&Catalogued {
            type_name: &type_name,
            max_length: int(&r, 4),
            precision: int(&r, 5),
            scale: int(&r, 6),
        });
        let name = text(&r, 2);
        if let Some(w) = warning {
            warnings.push(format!(
                "table {} column {name} ({type_name}): {w}",
                t.qualified()
            ));
        }
        t.columns.push(Column {
            name,
            source_type: declared,
            fivetran_type,
            fetch: Fetch::Mssql(select),
            flattened: false,
            nullable: int(&r, 7) != 0,
        });
    }
    for r in rows(client, sql::PRIMARY_KEYS, "reading primary keys").await? {
        if let Some(t) = by_name.get_mut(&(text(&r, 0), text(&r, 1))) {
            t.primary_key.push(text(&r, 2));
        }
    }
    if super::estimate::needed(&by_name) {
        // Without VIEW DATABASE STATE the counts cannot be read: the catalog's 0 stands.
        if let Ok(found) = rows(
            client,
            super::estimate::DATA_PAGES,
            "reading data page counts",
        )
        .await
        {
            super::estimate::from_pages(&found, &mut by_name, &widths, &mut warnings);
        }
    }
    let tables: Vec<Table> = by_name.into_values().collect();
    let (tables, warnings) = catalog::finish(tables, config, Some(SEED_SOFT_DELETE), warnings)?;
    check_filter_values(client, &tables).await?;
    Ok((tables, warnings))
}

/// Every typed filter value cast by the server now, so a wrong one fails before anything is written.
async fn check_filter_values(client: &mut Session, tables: &[Table]) -> Result<()> {
    for t in tables {
        for (column, value, check) in statement::filter_value_checks(&sql::TSql, t) {
            let params: Vec<&dyn tiberius::ToSql> = check
                .params
                .iter()
                .map(|v| v as &dyn tiberius::ToSql)
                .collect();
            let outcome = match client.query(check.sql.as_str(), &params).await {
                Ok(stream) => stream.into_results().await.map(|_| ()),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => {}
                Err(tiberius::error::Error::Server(e)) => {
                    return Err(statement::bad_filter_value(t, &column, &value, e.message()))
                }
                Err(e) => return Err(errors::query("checking table_filters", e)),
            }
        }
    }
    Ok(())
}

/// Key values (as text) of a page sample of `table`, in key order.
pub async fn sample_keys(
    client: &mut Session,
    table: &Table,
    percent: f64,
) -> Result<Vec<Vec<String>>> {
    let what = format!("{}: sampling keys", table.qualified());
    let found = rows(client, &sql::sample_keys(table, percent), &what).await?;
    found
        .into_iter()
        .map(|r| {
            r.cells()
                .map(|(_, v)| {
                    key_text(v).map_err(|m| crate::error::Error::Conversion(format!("{what}: {m}")))
                })
                .collect()
        })
        .collect()
}

/// The cursor's current maximum as text (None for an empty table).
/// The cursor's maximum as text, capped at the server's clock (None for an empty table), and how many rows are
/// stamped after that clock.
pub async fn watermark(
    client: &mut Session,
    table: &Table,
) -> Result<(Option<String>, Option<i64>)> {
    let Ok(cursor) = &table.cursor else {
        return Ok((None, None));
    };
    let what = format!("{}: reading the cursor", table.qualified());
    let found = rows(client, &sql::watermark(table, cursor), &what).await?;
    let Some(row) = found.first() else {
        return Ok((None, None));
    };
    let future = row.get::<i64, _>(1);
    let Some((_, v)) = row.cells().next() else {
        return Ok((None, future));
    };
    if super::decode::is_null(v) {
        return Ok((None, future));
    }
    let high = key_text(v).map_err(|m| crate::error::Error::Conversion(format!("{what}: {m}")))?;
    Ok((Some(high), future))
}
