//! Running the preprocessing statements (`crate::preprocess` expands them) on Snowflake: between `BEGIN` and
//! `COMMIT` on the source's one session, rolled back when one fails, so they all apply or none does (a DDL
//! statement commits what came before it, as Snowflake commits before any DDL).

use super::client::Client;
use super::discover::named_rows;
use crate::error::Result;
use crate::messages::Messages;
use crate::preprocess::{announce, Statement};
use std::sync::Arc;

const CONTEXT: &str = "running preprocessing_sql";

/// Runs the statements in one transaction, logging each; returns the rows they inserted, updated or deleted.
pub async fn run(client: &Arc<Client>, statements: &[Statement], log: &Messages) -> Result<u64> {
    client.query("BEGIN", &[], CONTEXT).await?;
    match each(client, statements, log).await {
        Ok(changed) => {
            client.query("COMMIT", &[], CONTEXT).await?;
            Ok(changed)
        }
        Err(e) => {
            // The statement's error is what the user needs; a failed rollback ends with the session anyway.
            let _ = client.query("ROLLBACK", &[], CONTEXT).await;
            Err(e)
        }
    }
}

async fn each(client: &Arc<Client>, statements: &[Statement], log: &Messages) -> Result<u64> {
    let mut changed = 0;
    for (i, s) in statements.iter().enumerate() {
        log.info(announce(i, statements.len(), s));
        let what = format!("{CONTEXT} (statement {})", i + 1);
        let (names, rows) = named_rows(client, &s.sql, &s.params, &what).await?;
        changed += rows_changed(&names, &rows);
    }
    Ok(changed)
}

/// A DML statement answers with one row of counts named `number of rows inserted` (`updated`, `deleted`); the
/// multi-joined count repeats rows already counted. Any other answer changed nothing that can be counted.
fn rows_changed(names: &[String], rows: &[Vec<Option<String>>]) -> u64 {
    let counted = |name: &str| {
        ["inserted", "updated", "deleted"]
            .iter()
            .any(|op| name.eq_ignore_ascii_case(&format!("number of rows {op}")))
    };
    rows.iter()
        .flat_map(|row| names.iter().zip(row))
        .filter(|(name, _)| counted(name))
        .filter_map(|(_, v)| v.as_deref()?.parse::<u64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_rows_a_dml_statement_counts_are_summed() {
        let names = [
            "number of rows updated",
            "number of multi-joined rows updated",
        ]
        .map(String::from);
        let rows = vec![vec![Some("3".to_string()), Some("3".to_string())]];
        assert_eq!(rows_changed(&names, &rows), 3);
        let selected = vec![vec![Some("7".to_string())]];
        assert_eq!(rows_changed(&["N".to_string()], &selected), 0);
    }
}
