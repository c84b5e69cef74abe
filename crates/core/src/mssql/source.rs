//! SQL Server behind the `Source` interface: each call opens the sessions it needs on the shared runtime.

use super::connect::{pool, Session};
use super::{discover, read};
use crate::config::{Config, MssqlConnection};
use crate::error::Result;
use crate::model::Table;
use crate::pool::Pool;
use crate::read::{Batch, ReadRequest};
use crate::source::{Discovered, Source, Watermark};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::mpsc::Receiver;

/// Every call takes its sessions from one pool, so that a sync logs in once per worker, not once per query.
pub struct MssqlSource {
    sessions: Arc<Pool<Session>>,
}

impl MssqlSource {
    pub fn new(conn: MssqlConnection) -> Self {
        MssqlSource {
            sessions: pool(Arc::new(conn)),
        }
    }
}

impl Source for MssqlSource {
    fn name(&self) -> &'static str {
        "SQL Server"
    }

    fn discover(&self, config: Arc<Config>) -> BoxFuture<'static, Result<Discovered>> {
        let sessions = self.sessions.clone();
        Box::pin(async move {
            let mut client = sessions.take().await?;
            let found = discover::discover(&mut client, &config).await?;
            sessions.give(client);
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
        _wanted: usize,
    ) -> BoxFuture<'static, Result<Vec<Vec<String>>>> {
        let sessions = self.sessions.clone();
        Box::pin(async move {
            let mut client = sessions.take().await?;
            let found = discover::sample_keys(&mut client, &table, percent).await?;
            sessions.give(client);
            Ok(found)
        })
    }

    /// SQL Server has no open-writer guard: late commits are covered by `incremental_lookback_seconds`.
    fn watermark(&self, table: Arc<Table>) -> BoxFuture<'static, Result<Option<Watermark>>> {
        let sessions = self.sessions.clone();
        Box::pin(async move {
            if table.cursor.is_err() {
                return Ok(None);
            }
            let mut client = sessions.take().await?;
            let (high, future) = discover::watermark(&mut client, &table).await?;
            sessions.give(client);
            Ok(Some(Watermark {
                high,
                guard: None,
                sees_all: true,
                future,
                zone: None,
                note: None,
            }))
        })
    }

    fn close_idle(&self) {
        self.sessions.clear();
    }

    fn read(&self, request: ReadRequest) -> Receiver<Result<Batch>> {
        let sessions = self.sessions.clone();
        crate::read::spawn(request, |req, tx| read::run(sessions, req, tx))
    }
}
