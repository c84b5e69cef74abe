//! Running a read's partitions: at most `workers` at once, each on its own connection, all importing one snapshot
//! exported by a coordinating session, so every partition sees the same committed data. A partition broken by a
//! transient error reconnects after a backoff and resumes after the last key it queued.

use super::connect::connect_as;
use super::errors;
use super::read::{resumable, Decoding, PgRows};
use super::sql::Postgres;
use crate::config::PgConnection as Connection;
use crate::engine::{self, Progress};
use crate::error::Result;
use crate::read::{PartRead, ReadRequest, Tx};
use std::sync::Arc;
use tokio_postgres::Client;

pub async fn run(conn: Arc<Connection>, req: Arc<ReadRequest>, tx: Tx) -> Result<()> {
    let exporter = if req.parts.len() > 1 && req.snapshot.is_none() {
        export(&conn, &req).await
    } else {
        None
    };
    let snapshot = req
        .snapshot
        .clone()
        .or_else(|| exporter.as_ref().map(|(_, id)| id.clone()));
    let result = engine::run_partitions(&req, &tx, |part, slot| {
        let (conn, req, tx, snapshot) = (conn.clone(), req.clone(), tx.clone(), snapshot.clone());
        async move { partition(conn, req, part, snapshot, slot, tx).await }
    })
    .await;
    drop(exporter);
    result
}

/// A session holding a REPEATABLE READ transaction open, and the id of its exported snapshot. Without one (the
/// server refused, or a standby that cannot export) each partition reads its own snapshot; the incremental
/// high-water mark was taken before the read, so changes between those snapshots are picked up next sync.
async fn export(conn: &Connection, req: &ReadRequest) -> Option<(Client, String)> {
    let what = format!("{}: exporting a snapshot", req.table.qualified());
    let exported = crate::retry::run(req.retry, &what, &req.log, || export_snapshot(conn)).await;
    match exported {
        Ok(found) => Some(found),
        Err(e) => {
            req.log.warning(format!(
                "{}: partitions read without a shared snapshot ({e})",
                req.table.qualified()
            ));
            None
        }
    }
}

/// Opens a session, starts a REPEATABLE READ transaction and exports its snapshot. The snapshot stays importable
/// as long as the returned client is kept.
pub async fn export_snapshot(conn: &Connection) -> Result<(Client, String)> {
    let what = "exporting a snapshot";
    let client = connect_as(conn, "connector_accel snapshot").await?;
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(|e| errors::query(what, e))?;
    let row = client
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .map_err(|e| errors::query(what, e))?;
    Ok((client, row.get::<_, String>(0)))
}

/// Reads one partition to its end, retrying transient failures (see `engine::retrying`).
async fn partition(
    conn: Arc<Connection>,
    req: Arc<ReadRequest>,
    part: PartRead,
    snapshot: Option<String>,
    slot: usize,
    tx: Tx,
) -> Result<()> {
    let progress = Progress {
        after: part.after.clone(),
        progressed: false,
        extra: snapshot,
    };
    let resume = resumable(&req.table);
    engine::retrying(&req, &part, resume, progress, |p| {
        let attempt = Attempt {
            conn: conn.clone(),
            req: req.clone(),
            part: part.clone(),
            slot,
            tx: tx.clone(),
        };
        Box::pin(async move { attempt.stream(p).await })
    })
    .await
}

/// One attempt at a partition, owning what it needs so that a retry starts from a clean slate.
struct Attempt {
    conn: Arc<Connection>,
    req: Arc<ReadRequest>,
    part: PartRead,
    slot: usize,
    tx: Tx,
}

impl Attempt {
    async fn stream(&self, p: &mut Progress<Option<String>>) -> Result<()> {
        let req = &self.req;
        let client = connect_as(
            &self.conn,
            &format!("connector_accel partition {}", self.part.index + 1),
        )
        .await?;
        let in_snapshot = self.import(&client, &mut p.extra).await?;
        let query = crate::statement::read(
            &Postgres,
            &req.table,
            &self.part.range,
            p.after.as_deref(),
            &req.span,
        );
        let context = format!(
            "reading {} partition {}",
            req.table.qualified(),
            self.part.index + 1
        );
        let stream = client
            .query_raw(&query.sql, query.params.iter())
            .await
            .map_err(|e| errors::query(&context, e))?;
        let mut rows = PgRows {
            stream: Box::pin(stream),
            decoding: Decoding::new(req),
            context,
        };
        let resume = resumable(&req.table);
        let finished =
            engine::pump(req, &self.part, self.slot, &self.tx, resume, &mut rows, p).await?;
        if finished && in_snapshot {
            let _ = client.batch_execute("COMMIT").await;
        }
        // Not finished: the reader was closed; stop, and let the connection go.
        Ok(())
    }

    /// Joins the shared snapshot. When it is gone (its session ended, e.g. terminated), this partition and later
    /// attempts read their own snapshot instead, which the warning says.
    async fn import(&self, client: &Client, snapshot: &mut Option<String>) -> Result<bool> {
        let Some(id) = snapshot.clone() else {
            return Ok(false);
        };
        let context = format!(
            "{} partition {}: importing the snapshot",
            self.req.table.qualified(),
            self.part.index + 1
        );
        let begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
        client
            .batch_execute(begin)
            .await
            .map_err(|e| errors::query(&context, e))?;
        // The id comes from pg_export_snapshot (hex digits and dashes); SET TRANSACTION SNAPSHOT takes no parameter.
        let valid = !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        let imported = if valid {
            client
                .batch_execute(&format!("SET TRANSACTION SNAPSHOT '{id}'"))
                .await
        } else {
            Ok(())
        };
        match imported {
            Ok(()) if valid => Ok(true),
            Err(e) if e.as_db_error().is_none() => Err(errors::query(&context, e)),
            // A snapshot the caller gave (a plan's) promised one consistent state: reading fresh data instead would
            // silently break that promise.
            _ if self.req.snapshot.is_some() => Err(crate::error::Error::config(
                "snapshot",
                format!(
                    "snapshot {id} is gone (the session that exported it closed), so {} cannot be read as of it; \
                     export a new snapshot and plan again, or read without one (read_partition(..., fresh_snapshot=True))",
                    self.req.table.qualified()
                ),
            )),
            _ => {
                self.req.log.warning(format!(
                    "{} partition {}: the shared snapshot is gone; this partition continues on its own snapshot",
                    self.req.table.qualified(),
                    self.part.index + 1
                ));
                *snapshot = None;
                client
                    .batch_execute("ROLLBACK")
                    .await
                    .map_err(|e| errors::query(&context, e))?;
                Ok(false)
            }
        }
    }
}
