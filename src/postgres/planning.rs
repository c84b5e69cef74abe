//! The queries that plan a read: a page sample of the key (never a scan of the table), and the incremental
//! watermark with the start of the oldest open writer.

use super::errors;
use super::sql;
use crate::error::Result;
use crate::model::Table;
use crate::source::Watermark;
use postgres_types::Type;
use tokio_postgres::Client;

/// The keys (as text, in key order) of a SYSTEM page sample of about `percent` of `table` that cut it into
/// `wanted` partitions (see `sql::sample_keys`).
pub async fn sample_keys(
    client: &Client,
    table: &Table,
    percent: f64,
    wanted: usize,
) -> Result<Vec<Vec<String>>> {
    let (percent, wanted) = (percent.to_string(), wanted.to_string());
    let rows = client
        .query_typed(
            &sql::sample_keys(table),
            &[(&percent, Type::TEXT), (&wanted, Type::TEXT)],
        )
        .await
        .map_err(|e| errors::query(&format!("sampling the keys of {}", table.qualified()), e))?;
    let width = table.primary_key.len();
    Ok(rows
        .iter()
        .filter_map(|r| {
            (0..width)
                .map(|i| r.get::<_, Option<String>>(i))
                .collect::<Option<Vec<_>>>()
        })
        .collect())
}

pub async fn watermark(client: &Client, table: &Table) -> Result<Option<Watermark>> {
    let Ok(cursor) = &table.cursor else {
        return Ok(None);
    };
    let row = client
        .query_typed_one(&sql::watermark(table, cursor), &[])
        .await
        .map_err(|e| errors::query(&format!("reading the cursor of {}", table.qualified()), e))?;
    Ok(Some(Watermark {
        high: row.get(0),
        guard: row.get(1),
        sees_all: row.get::<_, Option<bool>>(2).unwrap_or(false),
        future: row.get(3),
    }))
}
