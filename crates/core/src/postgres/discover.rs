//! Catalog discovery: tables, columns with their real types, primary keys from constraints, row estimates from
//! statistics (never a COUNT(*)), and the flattened columns of JSON objects from a sample.

use super::decode;
use super::errors;
use super::sessions::Session;
use super::sql;
use super::types::{decoder, map_type, Decoder, PgType};
use crate::catalog::{self, Names};
use crate::config::Config;
use crate::error::Result;
use crate::fetch::Fetch;
use crate::flatten::Flattener;
use crate::model::{Column, Table};
use crate::statement;
use postgres_types::Type;
use std::collections::HashMap;
use tokio_postgres::Client;

const TABLES: &str = "SELECT c.oid, n.nspname::text, c.relname::text,
       CASE WHEN c.relkind = 'p' THEN (SELECT sum(GREATEST(ch.reltuples, 0))::float8 FROM pg_inherits i
                                       JOIN pg_class ch ON ch.oid = i.inhrelid WHERE i.inhparent = c.oid)
            ELSE c.reltuples::float8 END,
       has_table_privilege(c.oid, 'SELECT'),
       c.relkind = 'r' AND EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent = c.oid),
       c.relrowsecurity AND row_security_active(c.oid)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
   AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
 ORDER BY 2, 3";

/// Views and materialized views, only to say so when `tables` names one.
const VIEWS: &str = "SELECT n.nspname::text, c.relname::text, c.relkind::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('v', 'm') AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'";

fn views(rows: Vec<tokio_postgres::Row>) -> Vec<(String, String, &'static str)> {
    rows.iter()
        .map(|r| {
            let kind = if r.get::<_, String>(2) == "m" {
                "materialized view"
            } else {
                "view"
            };
            (r.get(0), r.get(1), kind)
        })
        .collect()
}

const COLUMNS: &str = "SELECT a.attrelid, a.attname::text, format_type(a.atttypid, a.atttypmod),
       COALESCE(b.oid, t.oid), COALESCE(b.typname, t.typname)::text, COALESCE(b.typtype, t.typtype)::text,
       COALESCE(b.typcategory, t.typcategory)::text, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
       NOT a.attnotnull
  FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype
 WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attrelid, a.attnum";

const PRIMARY_KEYS: &str = "SELECT c.conrelid, a.attname::text
  FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
 WHERE c.contype = 'p' AND c.conrelid = ANY($1)
 ORDER BY c.conrelid, k.ord";

fn first_char(s: &str) -> char {
    s.chars().next().unwrap_or(' ')
}

/// The selected tables, smallest first, with warnings about what will not arrive as itself.
/// The catalogue queries go out without a separate prepare, the independent ones together, so discovery costs
/// two round trips on an open session.
pub async fn discover(session: &mut Session, config: &Config) -> Result<(Vec<Table>, Vec<String>)> {
    let mut warnings = Vec::new();
    let (_, listed) = session
        .pipelined("", |c| async move {
            futures_util::try_join!(c.query_typed(TABLES, &[]), c.query_typed(VIEWS, &[]))
        })
        .await?;
    let (listed, view_rows) = listed.map_err(|e| errors::query("reading the table catalog", e))?;
    let client = &session.client;
    // Tables whose row-level security filters what this login reads (it is not their owner, or they FORCE it,
    // and it has no BYPASSRLS): a sync of them is a subset of their rows.
    let filtered: std::collections::HashSet<u32> = listed
        .iter()
        .filter(|r| r.get::<_, Option<bool>>(6).unwrap_or(false))
        .map(|r| r.get(0))
        .collect();
    let mut found: Vec<(u32, Table, bool)> = listed
        .iter()
        .map(|r| {
            let estimate: Option<f64> = r.get(3);
            let mut table = Table::new(r.get(1), r.get(2), vec![], vec![]);
            table.row_estimate = estimate.filter(|e| *e >= 0.0).map(|e| e as i64);
            // A legacy INHERITS parent: its children are tables of their own, so it is read without them.
            table.own_rows_only = r.get(5);
            let oid: u32 = r.get(0);
            table.identity = Some(oid.to_string());
            (oid, table, r.get(4))
        })
        .collect();
    found = catalog::select(
        found,
        config,
        Names::Exact,
        &views(view_rows),
        &mut warnings,
    )?;
    for (_, t, _) in found.iter().filter(|(oid, _, _)| filtered.contains(oid)) {
        warnings.push(format!(
            "table {}: row-level security is on and this login does not bypass it, so the sync reads only the rows \
             its policies show this login and the destination will not hold the others; sync as the table's owner \
             (without FORCE ROW LEVEL SECURITY) or as a role WITH BYPASSRLS to read every row",
            t.qualified()
        ));
    }
    let oids: Vec<u32> = found.iter().map(|(oid, _, _)| *oid).collect();
    let mut by_oid: HashMap<u32, Table> = found.into_iter().map(|(oid, t, _)| (oid, t)).collect();
    let oid_param = [(
        &oids as &(dyn postgres_types::ToSql + Sync),
        Type::OID_ARRAY,
    )];
    let (columns, keys) = futures_util::join!(
        client.query_typed(COLUMNS, &oid_param),
        client.query_typed(PRIMARY_KEYS, &oid_param)
    );
    let columns = columns.map_err(|e| errors::query("reading columns", e))?;
    add_columns(columns, &mut by_oid, &mut warnings);
    let keys = keys.map_err(|e| errors::query("reading primary keys", e))?;
    for row in keys {
        if let Some(t) = by_oid.get_mut(&row.get::<_, u32>(0)) {
            t.primary_key.push(row.get(1));
        }
    }
    let mut tables: Vec<Table> = oids.iter().filter_map(|o| by_oid.remove(o)).collect();
    if config.flatten.enabled {
        for t in &mut tables {
            sample_flattened(client, config, t, &mut warnings).await?;
        }
    }
    let (tables, warnings) = catalog::finish(tables, config, None, warnings)?;
    check_filter_values(client, &tables).await?;
    Ok((tables, warnings))
}

/// Every typed filter value cast by the server now, so a wrong one fails before anything is written.
async fn check_filter_values(client: &Client, tables: &[Table]) -> Result<()> {
    for t in tables {
        for (column, value, check) in statement::filter_value_checks(&sql::Postgres, t) {
            let value_param = [(
                &check.params[0] as &(dyn postgres_types::ToSql + Sync),
                Type::TEXT,
            )];
            if let Err(e) = client.query_typed(&check.sql, &value_param).await {
                let Some(db) = e.as_db_error() else {
                    return Err(errors::query("checking table_filters", e));
                };
                return Err(statement::bad_filter_value(
                    t,
                    &column,
                    &value,
                    db.message(),
                ));
            }
        }
    }
    Ok(())
}

fn add_columns(
    rows: Vec<tokio_postgres::Row>,
    by_oid: &mut HashMap<u32, Table>,
    warnings: &mut Vec<String>,
) {
    for r in rows {
        let Some(table) = by_oid.get_mut(&r.get::<_, u32>(0)) else {
            continue;
        };
        let (name, source_type): (String, String) = (r.get(1), r.get(2));
        let (kind, category): (String, String) = (r.get(5), r.get(6));
        let type_name: String = r.get(4);
        let pg = PgType {
            oid: r.get(3),
            name: &type_name,
            kind: first_char(&kind),
            category: first_char(&category),
            typmod: r.get(7),
        };
        let (decoder, fivetran_type, fallback) = map_type(&pg);
        if fallback {
            warnings.push(format!(
                "table {} column {name}: type {source_type} has no exact mapping; it is synced as its text form (STRING)",
                table.qualified()
            ));
        }
        table.columns.push(Column {
            name,
            source_type,
            fivetran_type,
            fetch: Fetch::Postgres(decoder),
            flattened: false,
            nullable: r.get(8),
        });
    }
}

/// Marks the JSON columns as flattened and types their flattened columns from a sample of objects.
async fn sample_flattened(
    client: &Client,
    config: &Config,
    table: &mut Table,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let flattener = Flattener::new(
        &config.flatten.separator,
        config.flatten.depth,
        &[],
        config.flatten.sample_rows,
    )
    .max_columns(config.flatten.max_columns);
    for i in 0..table.columns.len() {
        let decoder = decoder(&table.columns[i]);
        if !matches!(decoder, Decoder::Json | Decoder::Jsonb) {
            continue;
        }
        let rows = client
            .query(
                &sql::sample_json(table, &table.columns[i]),
                &[&config.flatten.sample_rows],
            )
            .await
            .map_err(|e| {
                errors::query(
                    &format!(
                        "sampling JSON column {} of {}",
                        table.columns[i].name,
                        table.qualified()
                    ),
                    e,
                )
            })?;
        let mut samples = Vec::with_capacity(rows.len());
        for row in &rows {
            let raw: super::read::Raw = row.get(0);
            if let Some(bytes) = raw.0 {
                if let Ok((crate::model::Cell::Json(v), _)) =
                    decode::decode(decoder, table.columns[i].fivetran_type, bytes)
                {
                    samples.push(v);
                }
            }
        }
        match flattener.sample(&table.columns[i].name, samples) {
            Some(flat) => {
                table.columns[i].flattened = true;
                table.flat_columns.extend(flat);
            }
            None => {
                warnings.push(flattener.wide_warning(&table.qualified(), &table.columns[i].name))
            }
        }
    }
    Ok(())
}
