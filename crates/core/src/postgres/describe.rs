//! Describing a query for the library: its result columns and their types, from the server's own description of
//! the prepared statement (no rows are read), mapped exactly as table columns are.

use super::errors;
use super::types::{map_type, PgType};
use crate::error::Result;
use crate::fetch::Fetch;
use crate::model::{Column, Table};
use tokio_postgres::Client;

const TYPES: &str =
    "SELECT format_type(c.o, c.m), COALESCE(b.oid, t.oid), COALESCE(b.typname, t.typname)::text,
       COALESCE(b.typtype, t.typtype)::text, COALESCE(b.typcategory, t.typcategory)::text,
       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE c.m END
  FROM unnest($1::oid[], $2::int4[]) WITH ORDINALITY AS c(o, m, n)
  JOIN pg_type t ON t.oid = c.o LEFT JOIN pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype
 ORDER BY c.n";

/// A table-shaped description of `query`, read as one stream (a query has no key to partition or resume by).
pub async fn describe(client: &Client, query: &str) -> Result<(Table, Vec<String>)> {
    let context = "describing the query";
    let statement = client
        .prepare(query)
        .await
        .map_err(|e| errors::query(context, e))?;
    let names: Vec<String> = statement
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    crate::read::distinct_query_columns(&names)?;
    let oids: Vec<u32> = statement
        .columns()
        .iter()
        .map(|c| c.type_().oid())
        .collect();
    let mods: Vec<i32> = statement
        .columns()
        .iter()
        .map(|c| c.type_modifier())
        .collect();
    let rows = client
        .query(TYPES, &[&oids, &mods])
        .await
        .map_err(|e| errors::query(context, e))?;
    let mut warnings = Vec::new();
    let mut columns = Vec::with_capacity(rows.len());
    for (name, r) in names.into_iter().zip(&rows) {
        let (type_name, kind, category): (String, String, String) = (r.get(2), r.get(3), r.get(4));
        let pg = PgType {
            oid: r.get(1),
            name: &type_name,
            kind: kind.chars().next().unwrap_or(' '),
            category: category.chars().next().unwrap_or(' '),
            typmod: r.get(5),
        };
        let (decoder, fivetran_type, fallback) = map_type(&pg);
        let source_type: String = r.get(0);
        if fallback {
            warnings.push(format!(
                "query column {name}: type {source_type} has no exact mapping; read as text"
            ));
        }
        columns.push(Column {
            name,
            source_type,
            fivetran_type,
            fetch: Fetch::Postgres(decoder),
            flattened: false,
            nullable: true,
        });
    }
    let mut table = Table::new(String::new(), "query".into(), columns, vec![]);
    table.cursor = Err("a query has no cursor".into());
    table.query = Some(query.to_string());
    Ok((table, warnings))
}
