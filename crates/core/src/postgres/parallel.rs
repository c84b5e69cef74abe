//! Running a read's partitions: at most `workers` at once, each on its own connection, all importing one snapshot
//! exported by a coordinating session, so every partition sees the same committed data. A partition broken by a
//! transient error reconnects after a backoff and resumes after the last key it queued.

use super::errors;
use super::read::{resumable, Decoding, PgRows};
use super::sessions::{self, Session, Sessions};
use super::sql::Postgres;
use crate::engine::{self, Progress};
use crate::error::{Error, Result};
use crate::read::{PartRead, ReadRequest, Tx};
use crate::statement::Query;
use postgres_types::Type;
use std::sync::Arc;
use tokio_postgres::RowStream;

const READ_ONLY: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

pub async fn run(sessions: Arc<Sessions>, req: Arc<ReadRequest>, tx: Tx) -> Result<()> {
    let exporting = req.parts.len() > 1 && req.snapshot.is_none();
    // Every worker's first session is opened now, beside the export, instead of one after another; later
    // partitions reuse the sessions earlier ones hand back.
    sessions.warm(req.concurrency() + usize::from(exporting));
    let exporter = if exporting {
        export(&sessions, &req).await
    } else {
        None
    };
    let snapshot = req
        .snapshot
        .clone()
        .or_else(|| exporter.as_ref().map(|(_, id)| id.clone()));
    let result = engine::run_partitions(&req, &tx, |part, slot| {
        let (sessions, req, tx, snapshot) =
            (sessions.clone(), req.clone(), tx.clone(), snapshot.clone());
        async move { partition(sessions, req, part, snapshot, slot, tx).await }
    })
    .await;
    if let Some((session, _)) = exporter {
        sessions::finish(&sessions, session, "ROLLBACK; RESET application_name");
    }
    result
}

/// A session holding a REPEATABLE READ transaction open, and the id of its exported snapshot. Without one (the
/// server refused, or a standby that cannot export) each partition reads its own snapshot; the incremental
/// high-water mark was taken before the read, so changes between those snapshots are picked up next sync.
async fn export(sessions: &Sessions, req: &ReadRequest) -> Option<(Session, String)> {
    let what = format!("{}: exporting a snapshot", req.table.qualified());
    let exported =
        crate::retry::run(req.retry, &what, &req.log, || export_snapshot(sessions)).await;
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

/// Starts a REPEATABLE READ transaction on a session and exports its snapshot, in one round trip. The snapshot
/// stays importable as long as the returned session is kept in that transaction.
pub async fn export_snapshot(sessions: &Sessions) -> Result<(Session, String)> {
    let what = "exporting a snapshot";
    let mut session = sessions.take().await?;
    let begin = format!("SET application_name = 'connector_accel snapshot'; {READ_ONLY}");
    let (begun, row) = session
        .pipelined(&begin, |c| {
            c.query_typed_one("SELECT pg_export_snapshot()", &[])
        })
        .await?;
    begun.map_err(|e| errors::query(what, e))?;
    let id = row.map_err(|e| errors::query(what, e))?.get::<_, String>(0);
    Ok((session, id))
}

/// Reads one partition to its end, retrying transient failures (see `engine::retrying`).
async fn partition(
    sessions: Arc<Sessions>,
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
            sessions: sessions.clone(),
            req: req.clone(),
            part: part.clone(),
            slot,
            tx: tx.clone(),
        };
        Box::pin(async move { attempt.sessions.clearing_on_error(attempt.stream(p)).await })
    })
    .await
}

/// One attempt at a partition, owning what it needs so that a retry starts from a clean slate.
struct Attempt {
    sessions: Arc<Sessions>,
    req: Arc<ReadRequest>,
    part: PartRead,
    slot: usize,
    tx: Tx,
}

impl Attempt {
    async fn stream(&self, p: &mut Progress<Option<String>>) -> Result<()> {
        let req = &self.req;
        let mut session = self.sessions.take().await?;
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
        // The watchdog covers the statement's start too: a statement waiting for a lock has sent nothing yet.
        let opened = crate::read::next_row(
            req.read_timeout,
            &context,
            self.open(&mut session, &query, &context, &mut p.extra),
        )
        .await;
        let (in_snapshot, stream) = match opened {
            Ok(opened) => opened,
            // The server just answered (lock_timeout ran out), so the session can ask who holds the lock, once
            // the snapshot's aborted transaction is ended. Not after the watchdog: that session may never answer.
            Err(e) if e.sqlstate() == Some(super::locks::LOCK_NOT_AVAILABLE) => {
                let _ = session.client.batch_execute("ROLLBACK").await;
                return Err(super::locks::explain(&session.client, &req.table, e).await);
            }
            Err(e) => return Err(e),
        };
        // Room for about one batch in flight between the socket and the batch builder.
        let queued = req.limits.planned().batch_size.clamp(4096, 65536);
        let mut rows = PgRows::new(stream, Decoding::new(req), context, queued);
        let resume = resumable(&req.table);
        let finished =
            engine::pump(req, &self.part, self.slot, &self.tx, resume, &mut rows, p).await?;
        // Not finished: the reader was closed; stop, and let the session go (the server ends its transaction).
        if finished {
            let end = if in_snapshot {
                "COMMIT; RESET application_name"
            } else {
                "RESET application_name"
            };
            sessions::finish(&self.sessions, session, end);
        }
        Ok(())
    }

    /// Starts the partition's statement, in the shared snapshot when there is one, in one round trip: the
    /// session's name, the snapshot import and the statement (with its parameter types given, so there is no
    /// separate prepare) go out together. Whether it reads in the snapshot, and its rows.
    async fn open(
        &self,
        session: &mut Session,
        query: &Query,
        context: &str,
        snapshot: &mut Option<String>,
    ) -> Result<(bool, RowStream)> {
        let name = format!(
            "SET application_name = 'connector_accel partition {}'",
            self.part.index + 1
        );
        // The id comes from pg_export_snapshot (hex digits and dashes); SET TRANSACTION SNAPSHOT takes no parameter.
        if let Some(id) = snapshot.as_deref() {
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                self.without_snapshot(snapshot)?;
            }
        }
        let import = snapshot
            .as_deref()
            .map(|id| format!("{name}; {READ_ONLY}; SET TRANSACTION SNAPSHOT '{id}'"));
        let params = || query.params.iter().map(|v| (v, Type::TEXT));
        let batch = import.as_deref().unwrap_or(&name);
        let (imported, stream) = session
            .pipelined(batch, |c| c.query_typed_raw(&query.sql, params()))
            .await?;
        match imported {
            Ok(()) => Ok((
                import.is_some(),
                stream.map_err(|e| errors::query(context, e))?,
            )),
            Err(e) if e.as_db_error().is_none() => Err(errors::query(context, e)),
            Err(_) => {
                self.without_snapshot(snapshot)?;
                session
                    .client
                    .batch_execute("ROLLBACK")
                    .await
                    .map_err(|e| errors::query(context, e))?;
                let stream = session
                    .client
                    .query_typed_raw(&query.sql, params())
                    .await
                    .map_err(|e| errors::query(context, e))?;
                Ok((false, stream))
            }
        }
    }

    /// The shared snapshot could not be imported because it is gone (its session ended, e.g. terminated): this
    /// partition and later attempts read their own snapshot instead, which the warning says.
    fn without_snapshot(&self, snapshot: &mut Option<String>) -> Result<()> {
        let id = snapshot.take().unwrap_or_default();
        // A snapshot the caller gave (a plan's) promised one consistent state: reading fresh data instead would
        // silently break that promise.
        if self.req.snapshot.is_some() {
            return Err(Error::config(
                "snapshot",
                format!(
                    "snapshot {id} is gone (the session that exported it closed), so {} cannot be read as of it; \
                     export a new snapshot and plan again, or read without one (read_partition(..., fresh_snapshot=True))",
                    self.req.table.qualified()
                ),
            ));
        }
        self.req.log.warning(format!(
            "{} partition {}: the shared snapshot is gone; this partition continues on its own snapshot",
            self.req.table.qualified(),
            self.part.index + 1
        ));
        Ok(())
    }
}
