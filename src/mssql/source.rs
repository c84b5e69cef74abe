//! SQL Server behind the `Source` interface: each call opens the sessions it needs on the shared runtime.

use super::connect::connect;
use super::{discover, read};
use crate::config::{Config, MssqlConnection};
use crate::error::Result;
use crate::model::Table;
use crate::read::{Batch, ReadRequest};
use crate::source::{Discovered, Source, Watermark};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::mpsc::Receiver;

pub struct MssqlSource {
    conn: Arc<MssqlConnection>,
}

impl MssqlSource {
    pub fn new(conn: MssqlConnection) -> Self {
        MssqlSource {
            conn: Arc::new(conn),
        }
    }
}

impl Source for MssqlSource {
    fn name(&self) -> &'static str {
        "SQL Server"
    }

    fn discover(&self, config: Arc<Config>) -> BoxFuture<'static, Result<Discovered>> {
        let conn = self.conn.clone();
        Box::pin(async move {
            let mut client = connect(&conn).await?;
            discover::discover(&mut client, &config).await
        })
    }

    fn resumable(&self, table: &Table) -> bool {
        read::resumable(table)
    }

    fn sample_keys(
        &self,
        table: Arc<Table>,
        percent: f64,
    ) -> BoxFuture<'static, Result<Vec<Vec<String>>>> {
        let conn = self.conn.clone();
        Box::pin(async move {
            let mut client = connect(&conn).await?;
            discover::sample_keys(&mut client, &table, percent).await
        })
    }

    /// SQL Server has no open-writer guard: late commits are covered by `incremental_lookback_seconds`.
    fn watermark(&self, table: Arc<Table>) -> BoxFuture<'static, Result<Option<Watermark>>> {
        let conn = self.conn.clone();
        Box::pin(async move {
            if table.cursor.is_err() {
                return Ok(None);
            }
            let mut client = connect(&conn).await?;
            let (high, future) = discover::watermark(&mut client, &table).await?;
            Ok(Some(Watermark {
                high,
                guard: None,
                sees_all: true,
                future,
            }))
        })
    }

    fn read(&self, request: ReadRequest) -> Receiver<Result<Batch>> {
        let conn = self.conn.clone();
        crate::read::spawn(request, |req, tx| read::run(conn, req, tx))
    }
}
