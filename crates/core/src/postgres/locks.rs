//! A statement that waited `lock_timeout` for a table lock: which sessions hold the lock it waited for, so that the
//! retry's line and the final error name them instead of a bare "canceling statement due to lock timeout".

use super::sql::quote_ident;
use crate::error::Error;
use crate::model::Table;
use tokio_postgres::Client;

/// PostgreSQL's lock_not_available: `lock_timeout` ran out.
pub const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Who holds an `ACCESS EXCLUSIVE` lock on the table (the only mode that keeps a read waiting): pid, when its
/// current or last query started, and its state. No query text: it may hold values.
const HOLDERS: &str =
    "SELECT l.pid, coalesce(a.query_start::text, 'unknown'), coalesce(a.state, 'unknown') \
     FROM pg_locks AS l LEFT JOIN pg_stat_activity AS a ON a.pid = l.pid \
     WHERE l.locktype = 'relation' AND l.relation = to_regclass($1::text) AND l.granted \
       AND l.mode = 'AccessExclusiveLock' AND l.pid <> pg_backend_pid() ORDER BY l.pid";

/// `err` with the lock's holders and the fix, when it is a lock time-out on `table`; any other error as it is.
pub async fn explain(client: &Client, table: &Table, err: Error) -> Error {
    let Error::Query {
        message,
        sqlstate: Some(code),
        number,
        transient,
    } = err
    else {
        return err;
    };
    if code != LOCK_NOT_AVAILABLE {
        return Error::Query {
            message,
            sqlstate: Some(code),
            number,
            transient,
        };
    }
    let name = format!(
        "{}.{}",
        quote_ident(&table.schema),
        quote_ident(&table.name)
    );
    let holders = match client.query(HOLDERS, &[&name]).await {
        Ok(rows) if !rows.is_empty() => rows
            .iter()
            .map(|r| {
                format!(
                    "session pid {} (query started {}, {})",
                    r.get::<_, i32>(0),
                    r.get::<_, String>(1),
                    r.get::<_, String>(2)
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => "a session that has let go of it since".to_string(),
    };
    Error::Query {
        message: format!(
            "{message}: table {} is locked ACCESS EXCLUSIVE by {holders}; the read waits 'lock_timeout_seconds' for \
             it each attempt (end that session with pg_terminate_backend(pid), or let its migration finish)",
            table.qualified()
        ),
        sqlstate: Some(code),
        number,
        transient,
    }
}
