//! The queries that plan a read: partition bounds from a page sample of the key (never a scan of the table), and
//! the incremental watermark.

use super::read::resumable;
use super::sql;
use crate::error::{Error, Result};
use crate::model::Table;
use crate::plan::{self, Partition};
use tokio_postgres::Client;

/// Sampled keys per wanted partition, and the least sample: SYSTEM sampling takes whole pages, whose keys are
/// often contiguous, so the sample needs many pages (about 2,000) to follow the distribution; that is still a
/// second or so of random reads on a billion-row table.
pub const SAMPLE_PER_PARTITION: u64 = 1000;
pub const SAMPLE_MIN: u64 = 200_000;

/// `wanted` key ranges covering `table`, cut where its keys really are. A table without a usable key, or whose
/// sample comes back empty (statistics far off), is one range.
pub async fn partitions(client: &Client, table: &Table, wanted: usize) -> Result<Vec<Partition>> {
    if wanted <= 1 || !resumable(table) {
        return Ok(vec![Partition::default()]);
    }
    let percent = plan::sample_percent(
        table.row_estimate.unwrap_or(0),
        (wanted as u64 * SAMPLE_PER_PARTITION).max(SAMPLE_MIN),
    );
    let rows = client
        .query(&sql::sample_keys(table), &[&percent.to_string()])
        .await
        .map_err(|e| Error::query(&format!("sampling the keys of {}", table.qualified()), e))?;
    let width = table.primary_key.len();
    let sample: Vec<Vec<String>> = rows
        .iter()
        .filter_map(|r| {
            (0..width)
                .map(|i| r.get::<_, Option<String>>(i))
                .collect::<Option<Vec<_>>>()
        })
        .collect();
    let nullable = width == 1
        && table
            .columns
            .iter()
            .any(|c| c.name == table.primary_key[0] && c.nullable);
    Ok(plan::partitions(&sample, wanted, nullable))
}

/// Where incremental syncs stand: the cursor's maximum now, the start of the oldest transaction still writing
/// (its rows may carry older cursor values once committed), and whether this login could see every session.
#[derive(Debug, Clone, Default)]
pub struct Watermark {
    pub high: Option<String>,
    pub guard: Option<String>,
    pub sees_all: bool,
}

pub async fn watermark(client: &Client, table: &Table) -> Result<Option<Watermark>> {
    let Ok(cursor) = &table.cursor else {
        return Ok(None);
    };
    let row = client
        .query_one(&sql::watermark(table, cursor), &[])
        .await
        .map_err(|e| Error::query(&format!("reading the cursor of {}", table.qualified()), e))?;
    Ok(Some(Watermark {
        high: row.get(0),
        guard: row.get(1),
        sees_all: row.get::<_, Option<bool>>(2).unwrap_or(false),
    }))
}
