//! PostgreSQL behind the `Source` interface: each call opens the sessions it needs on the shared runtime.

use super::sessions::{self, Sessions};
use super::types::Decoder;
use super::{describe, discover, parallel, planning, preprocess, read};
use crate::changes::{ChangeBatch, ChangeRequest, Lsn, SlotStatus};
use crate::config::{Config, PgConnection, Preprocessing, Replication};
use crate::error::Result;
use crate::fetch::Fetch;
use crate::messages::Messages;
use crate::model::Table;
use crate::read::{Batch, ReadRequest};
use crate::source::{Discovered, Snapshot, Source, Watermark};
use futures_util::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc::Receiver;

/// Every call takes its sessions from one pool, so that a sync or a library read opens each session once.
pub struct PgSource {
    sessions: Arc<Sessions>,
}

impl PgSource {
    pub fn new(conn: PgConnection) -> Self {
        PgSource {
            sessions: sessions::pool(Arc::new(conn)),
        }
    }
}

impl Source for PgSource {
    fn name(&self) -> &'static str {
        "PostgreSQL"
    }

    fn discover(&self, config: Arc<Config>) -> BoxFuture<'static, Result<Discovered>> {
        let sessions = self.sessions.clone();
        Box::pin(async move {
            let mut session = sessions.take().await?;
            let found = discover::discover(&mut session, &config).await?;
            sessions.give(session);
            Ok(found)
        })
    }

    fn resumable(&self, table: &Table) -> bool {
        read::resumable(table)
    }

    fn sample_keys(
        &self,
        table: Arc<Table>,
        percent: f64,
        wanted: usize,
    ) -> BoxFuture<'static, Result<Vec<Vec<String>>>> {
        let sessions = self.sessions.clone();
        Box::pin(async move {
            let mut session = sessions.take().await?;
            let found =
                planning::sample_keys(session.ready().await?, &table, percent, wanted).await?;
            sessions.give(session);
            Ok(found)
        })
    }

    fn watermark(&self, table: Arc<Table>) -> BoxFuture<'static, Result<Option<Watermark>>> {
        let sessions = self.sessions.clone();
        Box::pin(async move {
            let mut session = sessions.take().await?;
            let found = planning::watermark(session.ready().await?, &table).await?;
            sessions.give(session);
            Ok(found)
        })
    }

    fn close_idle(&self) {
        self.sessions.clear();
    }

    fn read(&self, request: ReadRequest) -> Receiver<Result<Batch>> {
        let sessions = self.sessions.clone();
        crate::read::spawn(request, |req, tx| parallel::run(sessions, req, tx))
    }

    /// JSON goes out as text: the server sends its text form instead of us parsing and re-serialising it.
    fn arrow_table(&self, table: &Table) -> Table {
        let mut plain = table.clone();
        plain.flat_columns.clear();
        for c in plain.columns.iter_mut() {
            c.flattened = false;
            if matches!(c.fetch, Fetch::Postgres(Decoder::Json | Decoder::Jsonb)) {
                c.fetch = Fetch::Postgres(Decoder::CastText);
            }
        }
        plain
    }

    fn shares_snapshots(&self) -> bool {
        true
    }

    fn export_snapshot(&self) -> BoxFuture<'static, Result<Snapshot>> {
        let sessions = self.sessions.clone();
        Box::pin(async move {
            let (session, id) = parallel::export_snapshot(&sessions).await?;
            Ok(Snapshot {
                id,
                holder: Box::new(session.client),
            })
        })
    }

    fn describe_query(&self, query: String) -> BoxFuture<'static, Result<(Table, Vec<String>)>> {
        let sessions = self.sessions.clone();
        Box::pin(async move {
            let mut session = sessions.take().await?;
            let found = describe::describe(session.ready().await?, &query).await?;
            sessions.give(session);
            Ok(found)
        })
    }

    fn open_replication(
        &self,
        replication: Replication,
        tables: Vec<Arc<Table>>,
        after: Option<Lsn>,
    ) -> BoxFuture<'static, Result<(SlotStatus, Vec<Arc<Table>>)>> {
        let sessions = self.sessions.clone();
        Box::pin(async move {
            let mut session = sessions.take().await?;
            let found = super::replication::slot::open(
                session.ready().await?,
                &replication,
                &tables,
                after,
            )
            .await?;
            sessions.give(session);
            Ok(found)
        })
    }

    fn check_logical(&self) -> BoxFuture<'static, Result<()>> {
        let sessions = self.sessions.clone();
        Box::pin(async move {
            let mut session = sessions.take().await?;
            super::replication::slot::check_server(session.ready().await?).await?;
            sessions.give(session);
            Ok(())
        })
    }

    fn read_changes(
        &self,
        replication: Replication,
        request: ChangeRequest,
    ) -> Receiver<Result<ChangeBatch>> {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let (sessions, request) = (self.sessions.clone(), Arc::new(request));
        crate::runtime::get().spawn(async move {
            let run = super::replication::run(
                sessions,
                replication.slot,
                replication.publication,
                request,
                tx.clone(),
            );
            if let Err(e) = run.await {
                let _ = tx.send(Err(e)).await;
            }
        });
        rx
    }

    fn preprocess(
        &self,
        preprocessing: Preprocessing,
        state: BTreeMap<String, String>,
        log: Messages,
    ) -> BoxFuture<'static, Result<u64>> {
        let sessions = self.sessions.clone();
        Box::pin(async move {
            let statements =
                crate::preprocess::statements(&super::sql::Postgres, &preprocessing, &state)?;
            // Not given back: the statements may leave session state behind.
            let mut session = sessions.take().await?;
            session.ready().await?;
            preprocess::run(&mut session.client, &statements, &log).await
        })
    }
}
