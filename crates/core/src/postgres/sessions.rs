//! PostgreSQL sessions in the shared pool (`crate::pool`): a session's settings go out with its first statement,
//! in the same round trip (`Session::pipelined`).

use super::connect::connect_unprepared;
use super::errors;
use crate::config::PgConnection as Connection;
use crate::error::Result;
use crate::pool::{Pool, Pooled};
use std::future::Future;
use std::sync::Arc;
use tokio_postgres::Client;

/// Settings every session gets: UTC and ISO text forms for the types that are read as text.
pub const SESSION_SETUP: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; \
     SET IntervalStyle = 'iso_8601'; SET extra_float_digits = 3; SET client_encoding = 'UTF8'";

/// A session, and its settings while they are still to be sent.
pub struct Session {
    pub client: Client,
    fresh: Option<Arc<str>>,
}

/// The settings of a session on `conn`: `SESSION_SETUP`, and how long a statement waits for a table lock (an
/// `ACCESS EXCLUSIVE` lock held by a migration would otherwise keep a read waiting, silent, for as long as it is
/// held).
pub fn setup(conn: &Connection) -> Arc<str> {
    let ms = (conn.lock_timeout_s * 1000.0).round().max(1.0) as u64;
    format!("{SESSION_SETUP}; SET lock_timeout = '{ms}ms'").into()
}

impl Session {
    pub fn new(client: Client, setup: Arc<str>) -> Self {
        Session {
            client,
            fresh: Some(setup),
        }
    }

    /// Runs `first(client)` with `then` (a simple-query batch, may be empty) sent ahead of it, and on a new
    /// session the settings ahead of both, in one round trip: the driver writes every request before it reads an
    /// answer. Each batch is its own implicit transaction, so the settings hold whatever `then` or `first` does.
    /// Fails only when the settings fail; the batch's and `first`'s results are for the caller to judge (when the
    /// batch fails, `first` ran after it in a failed state or not at all).
    pub async fn pipelined<'a, T, F>(
        &'a mut self,
        then: &str,
        first: impl FnOnce(&'a Client) -> F,
    ) -> Result<(PgResult<()>, PgResult<T>)>
    where
        F: Future<Output = PgResult<T>> + 'a,
    {
        let settings = self.fresh.take();
        let this: &'a Session = self;
        let client = &this.client;
        let (settings, batch, first) = futures_util::join!(
            optional(client, settings.as_deref().unwrap_or_default()),
            optional(client, then),
            first(client)
        );
        settings.map_err(|e| errors::query("setting up the session", e))?;
        Ok((batch, first))
    }

    /// The client, its settings sent first on a new session.
    pub async fn ready(&mut self) -> Result<&Client> {
        let (_, _) = self.pipelined("", |_| std::future::ready(Ok(()))).await?;
        Ok(&self.client)
    }
}

type PgResult<T> = std::result::Result<T, tokio_postgres::Error>;

async fn optional(client: &Client, batch: &str) -> PgResult<()> {
    if batch.is_empty() {
        Ok(())
    } else {
        client.batch_execute(batch).await
    }
}

impl Pooled for Session {
    fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

pub type Sessions = Pool<Session>;

/// A pool of sessions on `conn`, their settings sent with each one's first statement.
pub fn pool(conn: Arc<Connection>) -> Arc<Sessions> {
    let settings = setup(&conn);
    Pool::new(move || {
        let (conn, settings) = (conn.clone(), settings.clone());
        Box::pin(async move { Ok(Session::new(connect_unprepared(&conn).await?, settings)) })
    })
}

/// Ends `session`'s read with `batch` (e.g. "COMMIT") in the background, then keeps it; a session whose batch
/// fails is closed.
pub fn finish(sessions: &Arc<Sessions>, session: Session, batch: &'static str) {
    sessions.give_later(async move {
        let ended = session.client.batch_execute(batch).await;
        ended.is_ok().then_some(session)
    });
}
