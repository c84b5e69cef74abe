//! The queries that plan a read: a page sample of the key (never a scan of the table), and the incremental
//! watermark with the start of the oldest open writer.

use super::errors;
use super::locks;
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
    if table.primary_key.len() == 1 {
        return sample_quantiles(client, table, percent, wanted).await;
    }
    let (percent, parts) = (percent.to_string(), wanted.to_string());
    let rows = match client
        .query_typed(
            &sql::sample_keys(table),
            &[(&percent, Type::TEXT), (&parts, Type::TEXT)],
        )
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            let err = errors::query(&format!("sampling the keys of {}", table.qualified()), e);
            return Err(locks::explain(client, table, err).await);
        }
    };
    let width = table.primary_key.len();
    let mut cuts = Vec::with_capacity(rows.len());
    for r in &rows {
        let keys = (0..width)
            .map(|i| r.get::<_, Option<String>>(i + 2))
            .collect::<Option<Vec<_>>>();
        if let Some(keys) = keys {
            cuts.push((r.get::<_, i64>(0), r.get::<_, i64>(1), keys));
        }
    }
    Ok(spread(&cuts, wanted as i64))
}

/// `sample_keys` of a single-column key: its quantiles j/`wanted` (see `sql::sample_quantiles`).
async fn sample_quantiles(
    client: &Client,
    table: &Table,
    percent: f64,
    wanted: usize,
) -> Result<Vec<Vec<String>>> {
    let fractions: Vec<String> = (0..wanted)
        .map(|j| (j as f64 / wanted as f64).to_string())
        .collect();
    let (percent, fractions) = (percent.to_string(), format!("{{{}}}", fractions.join(",")));
    let params: [(&(dyn postgres_types::ToSql + Sync), Type); 2] =
        [(&percent, Type::TEXT), (&fractions, Type::TEXT)];
    match client
        .query_typed(&sql::sample_quantiles(table), &params)
        .await
    {
        Ok(rows) => Ok(rows
            .iter()
            .filter_map(|r| r.get::<_, Option<String>>(0))
            .map(|k| vec![k])
            .collect()),
        Err(e) => {
            let err = errors::query(&format!("sampling the keys of {}", table.qualified()), e);
            Err(locks::explain(client, table, err).await)
        }
    }
}

/// The sample as `plan::partitions` reads it for `wanted` partitions: `wanted` keys, the j-th being the one of rank
/// j·n/wanted (a key repeats when the sample has fewer than `wanted`).
fn spread(cuts: &[(i64, i64, Vec<String>)], wanted: i64) -> Vec<Vec<String>> {
    let Some(n) = cuts.first().map(|c| c.1) else {
        return Vec::new();
    };
    (0..wanted)
        .filter_map(|j| {
            let rank = j * n / wanted;
            cuts.iter().find(|c| c.0 == rank).map(|c| c.2.clone())
        })
        .collect()
}

pub async fn watermark(client: &Client, table: &Table) -> Result<Option<Watermark>> {
    let Ok(cursor) = &table.cursor else {
        return Ok(None);
    };
    let row = match client
        .query_typed_one(&sql::watermark(table, cursor), &[])
        .await
    {
        Ok(row) => row,
        Err(e) => {
            let err = errors::query(&format!("reading the cursor of {}", table.qualified()), e);
            return Err(locks::explain(client, table, err).await);
        }
    };
    let (mut high, mut note): (Option<String>, Option<String>) = (row.get(0), None);
    if let (crate::model::CursorKind::Integer, Some(h)) = (cursor.kind, high.clone()) {
        let (capped, warning) = super::jumps::capped(client, table, cursor, h).await?;
        (high, note) = (Some(capped), warning);
    }
    Ok(Some(Watermark {
        high,
        guard: row.get(1),
        sees_all: row.get::<_, Option<bool>>(2).unwrap_or(false),
        future: row.get(3),
        zone: row.get(4),
        note,
    }))
}

#[cfg(test)]
mod tests {
    use super::spread;

    fn sample(n: i64) -> Vec<Vec<String>> {
        (0..n).map(|i| vec![format!("{i:05}")]).collect()
    }

    /// What the server sends (the ranks its filter keeps), spread again, cuts exactly where the whole sample does.
    #[test]
    fn spread_cut_points_give_the_partitions_of_the_whole_sample() {
        for n in [0_i64, 1, 2, 3, 7, 8, 9, 100, 1001] {
            for wanted in [2_i64, 3, 4, 8, 16] {
                let whole = sample(n);
                let kept: Vec<(i64, i64, Vec<String>)> = (0..n)
                    .filter(|rn| ((rn * wanted + n - 1) / n) * n < (rn + 1) * wanted)
                    .map(|rn| (rn, n, whole[rn as usize].clone()))
                    .collect();
                assert!(kept.len() as i64 <= wanted, "n={n} wanted={wanted}");
                let spread = spread(&kept, wanted);
                assert_eq!(
                    crate::plan::partitions(&spread, wanted as usize),
                    crate::plan::partitions(&whole, wanted as usize),
                    "n={n} wanted={wanted}"
                );
            }
        }
    }
}
