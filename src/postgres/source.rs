//! PostgreSQL behind the `Source` interface: each call opens the sessions it needs on the shared runtime.

use super::connect::connect;
use super::types::Decoder;
use super::{describe, discover, parallel, planning, preprocess, read};
use crate::config::{Config, PgConnection, Preprocessing};
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

pub struct PgSource {
    conn: Arc<PgConnection>,
}

impl PgSource {
    pub fn new(conn: PgConnection) -> Self {
        PgSource {
            conn: Arc::new(conn),
        }
    }
}

impl Source for PgSource {
    fn name(&self) -> &'static str {
        "PostgreSQL"
    }

    fn discover(&self, config: Arc<Config>) -> BoxFuture<'static, Result<Discovered>> {
        let conn = self.conn.clone();
        Box::pin(async move {
            let client = connect(&conn).await?;
            discover::discover(&client, &config).await
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
            let client = connect(&conn).await?;
            planning::sample_keys(&client, &table, percent).await
        })
    }

    fn watermark(&self, table: Arc<Table>) -> BoxFuture<'static, Result<Option<Watermark>>> {
        let conn = self.conn.clone();
        Box::pin(async move {
            let client = connect(&conn).await?;
            planning::watermark(&client, &table).await
        })
    }

    fn read(&self, request: ReadRequest) -> Receiver<Result<Batch>> {
        let conn = self.conn.clone();
        crate::read::spawn(request, |req, tx| parallel::run(conn, req, tx))
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
        let conn = self.conn.clone();
        Box::pin(async move {
            let (client, id) = parallel::export_snapshot(&conn).await?;
            Ok(Snapshot {
                id,
                holder: Box::new(client),
            })
        })
    }

    fn describe_query(&self, query: String) -> BoxFuture<'static, Result<(Table, Vec<String>)>> {
        let conn = self.conn.clone();
        Box::pin(async move {
            let client = connect(&conn).await?;
            describe::describe(&client, &query).await
        })
    }

    fn preprocess(
        &self,
        preprocessing: Preprocessing,
        state: BTreeMap<String, String>,
        log: Messages,
    ) -> BoxFuture<'static, Result<u64>> {
        let conn = self.conn.clone();
        Box::pin(async move {
            let statements = preprocess::statements(&preprocessing, &state)?;
            let mut client = connect(&conn).await?;
            preprocess::run(&mut client, &statements, &log).await
        })
    }
}
