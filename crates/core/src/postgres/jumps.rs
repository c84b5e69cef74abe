//! An integer cursor's mark must not jump to a typo. A time cursor is capped by the clock; an integer one has no
//! clock, so one stray value (99999999999999 among epoch milliseconds) would move the mark past every later
//! change for good. The cap here can only be too low, never too high: a row above it is read again each sync
//! (the lower bound is inclusive), never hidden.
//!
//! Two caps, the lower wins: the column's sequence (serial or identity), whose last value no generated value
//! passes; and the largest value below a jump far outside the column's spread, among its top distinct values.

use super::errors;
use super::sql::{qualified, quote_ident};
use crate::error::Result;
use crate::model::{Cursor, Table};
use crate::statement::src;
use postgres_types::Type;
use tokio_postgres::Client;

/// How many of the largest distinct values are looked at: up to this many typos are caught at once; past that,
/// the values above a jump are taken as real (a new id range) and the mark follows them.
const TOP: i64 = 11;
/// A jump is "far outside the spread" when it is this many times the range of the values below it.
const FACTOR: i128 = 100;

/// The cap on the mark, from the largest distinct values (largest first), the column's minimum and its sequence's
/// last value; None when nothing caps it.
pub fn cap(top: &[i128], min: i128, sequence: Option<i128>) -> Option<i128> {
    let jump = top.windows(2).find_map(|w| {
        let (gap, rest) = (w[0] - w[1], w[1] - min);
        (gap > FACTOR * rest.max(1)).then_some(w[1])
    });
    match (jump, sequence) {
        (Some(j), Some(s)) => Some(j.min(s)),
        (j, s) => j.or(s),
    }
}

fn statement(table: &Table, cursor: &Cursor) -> String {
    let c = src(&super::sql::Postgres, &cursor.column);
    let t = qualified(table);
    format!(
        "SELECT ARRAY(SELECT DISTINCT {c}::text FROM {t} AS src ORDER BY 1 DESC LIMIT {TOP})::text[], \
                (SELECT min({c})::text FROM {t} AS src), \
                (SELECT CASE WHEN s IS NOT NULL AND has_sequence_privilege(s, 'SELECT') \
                        THEN pg_sequence_last_value(s)::text END \
                   FROM CAST(pg_get_serial_sequence($1::text, $2::text) AS regclass) AS s)"
    )
}

/// `high` capped, and the warning when the cap holds rows above it back (naming up to three of their keys).
pub async fn capped(
    client: &Client,
    table: &Table,
    cursor: &Cursor,
    high: String,
) -> Result<(String, Option<String>)> {
    let what = format!("reading the cursor of {}", table.qualified());
    let name = format!(
        "{}.{}",
        quote_ident(&table.schema),
        quote_ident(&table.name)
    );
    let row = client
        .query_typed_one(
            &statement(table, cursor),
            &[(&name, Type::TEXT), (&cursor.column, Type::TEXT)],
        )
        .await
        .map_err(|e| errors::query(&what, e))?;
    let number = |s: &str| s.parse::<i128>().ok();
    let top: Vec<i128> = row
        .get::<_, Vec<String>>(0)
        .iter()
        .filter_map(|s| number(s))
        .collect();
    let min = row.get::<_, Option<String>>(1).as_deref().and_then(number);
    let sequence = row.get::<_, Option<String>>(2).as_deref().and_then(number);
    let (Some(min), Some(high_n)) = (min, number(&high)) else {
        return Ok((high, None));
    };
    let Some(cap) = cap(&top, min, sequence).filter(|c| *c < high_n) else {
        return Ok((high, None));
    };
    let c = src(&super::sql::Postgres, &cursor.column);
    let keys: Vec<String> = table
        .primary_key
        .iter()
        .map(|k| src(&super::sql::Postgres, k))
        .collect();
    let key = match keys.len() {
        0 => "NULL::text".to_string(),
        1 => format!("{}::text", keys[0]),
        _ => format!("ROW({})::text", keys.join(", ")),
    };
    let above = client
        .query_typed_one(
            &format!(
                "SELECT count(*), (array_agg({key} ORDER BY {c} DESC))[1:3] FROM {} AS src \
                 WHERE {c} > CAST($1::text AS numeric)",
                qualified(table)
            ),
            &[(&cap.to_string(), Type::TEXT)],
        )
        .await
        .map_err(|e| errors::query(&what, e))?;
    let (count, sample): (i64, Option<Vec<Option<String>>>) = (above.get(0), above.get(1));
    let sample: Vec<String> = sample.unwrap_or_default().into_iter().flatten().collect();
    let why = match sequence {
        Some(s) if s == cap => format!("the last value of the column's sequence, {s}"),
        _ => format!("{cap}, below a jump far beyond the rest of its values"),
    };
    let warning = format!(
        "{}: cursor {} has {count} rows above {why} (largest {high}; key {}); the mark stops at {cap}, so those \
         rows are read again every sync and no later change is hidden behind them: correct the value if it is a \
         typo",
        table.qualified(),
        cursor.column,
        if sample.is_empty() { "unknown".to_string() } else { sample.join(", ") }
    );
    Ok((cap.to_string(), Some(warning)))
}

#[cfg(test)]
mod tests {
    use super::cap;

    #[test]
    fn a_typo_far_above_the_spread_is_capped_and_steady_growth_is_not() {
        let epoch_ms = [99_999_999_999_999, 1_733_011_200_500, 1_733_011_200_000];
        assert_eq!(
            cap(&epoch_ms, 1_600_000_000_000, None),
            Some(1_733_011_200_500)
        );
        let ids: Vec<i128> = (990..=1000).rev().collect();
        assert_eq!(cap(&ids, 1, None), None);
        assert_eq!(cap(&ids, 1, Some(995)), Some(995));
        // A lone value cannot be judged; two typos are caught as one jump.
        assert_eq!(cap(&[5], 5, None), None);
        assert_eq!(
            cap(&[10_000_000, 9_999_999, 100, 99, 1], 1, None),
            Some(100)
        );
    }
}
