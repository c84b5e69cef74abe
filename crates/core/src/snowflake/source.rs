//! Snowflake behind the `Source` interface. One client (one HTTP connection pool, one logged-in session) serves
//! every call: Snowflake runs a session's statements side by side, so partitions need no sessions of their own.

use super::client::Client;
use super::decode::{key_text, kind};
use super::pace::Paced;
use super::{describe, discover, preprocess, read, sql};
use crate::config::{Config, Preprocessing, SnowflakeConnection};
use crate::error::{Error, Result};
use crate::messages::Messages;
use crate::model::Table;
use crate::read::{Batch, ReadRequest};
use crate::source::{Discovered, Source, Watermark};
use futures_util::future::BoxFuture;
use futures_util::TryStreamExt;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::Receiver;

pub struct SnowflakeSource {
    conn: Arc<SnowflakeConnection>,
    /// Made on first use (building TLS cannot fail the configuration's parse); dropped by `close_idle`.
    client: Mutex<Option<Arc<Client>>>,
}

impl SnowflakeSource {
    pub fn new(conn: SnowflakeConnection) -> Self {
        SnowflakeSource {
            conn: Arc::new(conn),
            client: Mutex::new(None),
        }
    }

    fn client(&self) -> Result<Arc<Client>> {
        let mut held = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = held.as_ref() {
            return Ok(c.clone());
        }
        let c = Client::new(self.conn.clone())?;
        *held = Some(c.clone());
        Ok(c)
    }

    fn with_client<T: Send + 'static>(
        &self,
        work: impl FnOnce(Arc<Client>) -> BoxFuture<'static, Result<T>>,
    ) -> BoxFuture<'static, Result<T>> {
        match self.client() {
            Ok(c) => work(c),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }
}

impl Source for SnowflakeSource {
    fn name(&self) -> &'static str {
        "Snowflake"
    }

    fn discover(&self, config: Arc<Config>) -> BoxFuture<'static, Result<Discovered>> {
        self.with_client(|c| Box::pin(async move { discover::discover(&c, &config).await }))
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
        self.with_client(|c| {
            Box::pin(async move {
                let what = format!("{}: sampling keys", table.qualified());
                let rows =
                    discover::text_rows(&c, &sql::sample_keys(&table, percent), &[], &what).await?;
                rows.into_iter()
                    .map(|r| {
                        r.into_iter()
                            .map(|v| {
                                v.ok_or_else(|| Error::Conversion(format!("{what}: a NULL key")))
                            })
                            .collect()
                    })
                    .collect()
            })
        })
    }

    /// No open-writer guard: late commits are covered by `incremental_lookback_seconds`.
    fn watermark(&self, table: Arc<Table>) -> BoxFuture<'static, Result<Option<Watermark>>> {
        self.with_client(|c| {
            Box::pin(async move {
                let Ok(cursor) = &table.cursor else {
                    return Ok(None);
                };
                let what = format!("{}: reading the cursor", table.qualified());
                let answer = c.query(&sql::watermark(&table, cursor), &[], &what).await?;
                let columns = answer.columns.clone();
                let batches: Vec<_> = answer
                    .batches(c.http.clone(), Paced::off(), 1, what.clone())
                    .try_collect()
                    .await?;
                let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
                    return Ok(Some(mark(None, None)));
                };
                let kinds: Vec<_> = columns
                    .iter()
                    .zip(b.schema().fields())
                    .map(|(c, f)| kind(c, f))
                    .collect();
                let text = |i: usize| {
                    let a = b.column(i);
                    (!a.is_null(0))
                        .then(|| key_text(a.as_ref(), 0, kinds[i]))
                        .transpose()
                };
                let fail = |m: String| Error::Conversion(format!("{what}: {m}"));
                let high = text(0).map_err(fail)?;
                let future = text(1).map_err(fail)?.and_then(|n| n.parse::<i64>().ok());
                Ok(Some(mark(high, future)))
            })
        })
    }

    fn describe_query(&self, query: String) -> BoxFuture<'static, Result<(Table, Vec<String>)>> {
        self.with_client(|c| Box::pin(async move { describe::describe(&c, &query).await }))
    }

    fn close_idle(&self) {
        let taken = self.client.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(c) = taken {
            crate::runtime::get().spawn(async move { c.logout().await });
        }
    }

    fn read(&self, request: ReadRequest) -> Receiver<Result<Batch>> {
        match self.client() {
            Ok(c) => crate::read::spawn(request, |req, tx| read::run(c, req, tx)),
            Err(e) => crate::read::spawn(request, |_, _| async move { Err(e) }),
        }
    }

    /// On the one session the reads use: they start after it, so they see what the statements committed.
    fn preprocess(
        &self,
        preprocessing: Preprocessing,
        state: BTreeMap<String, String>,
        log: Messages,
    ) -> BoxFuture<'static, Result<u64>> {
        self.with_client(|c| {
            Box::pin(async move {
                let statements =
                    crate::preprocess::statements(&sql::SfSql, &preprocessing, &state)?;
                preprocess::run(&c, &statements, &log).await
            })
        })
    }
}

fn mark(high: Option<String>, future: Option<i64>) -> Watermark {
    Watermark {
        high,
        guard: None,
        sees_all: true,
        future,
        zone: None,
        note: None,
    }
}
