//! Running the preprocessing statements (`crate::preprocess` expands them) on PostgreSQL: all in one transaction,
//! so they all apply, or none does.

use super::errors;
use crate::error::Result;
use crate::messages::Messages;
use crate::preprocess::{announce, Statement};
use tokio_postgres::Client;

/// Runs the statements in one transaction, logging each; returns the rows they changed.
pub async fn run(client: &mut Client, statements: &[Statement], log: &Messages) -> Result<u64> {
    let context = "running preprocessing_sql";
    let tx = client
        .transaction()
        .await
        .map_err(|e| errors::query(context, e))?;
    let mut changed = 0;
    for (i, s) in statements.iter().enumerate() {
        log.info(announce(i, statements.len(), s));
        changed += tx
            .execute_raw(s.sql.as_str(), s.params.iter())
            .await
            .map_err(|e| errors::query(&format!("{context} (statement {})", i + 1), e))?;
    }
    tx.commit().await.map_err(|e| errors::query(context, e))?;
    Ok(changed)
}
