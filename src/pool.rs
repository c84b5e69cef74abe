//! Sessions kept for reuse, whatever the database. Over a distant link every new session costs TCP, TLS and login
//! round trips before its first statement, so discovery, planning and every partition of every table take their
//! sessions from here: an idle one first, then one already on its way (opened ahead of need by `warm`, or being
//! handed back), and only then a new one.

use crate::error::Result;
use futures_util::future::BoxFuture;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// At most this many idle sessions are kept (the most workers a read can have).
const MAX_IDLE: usize = crate::config::MAX_WORKERS as usize;

/// What a pool needs of a session type.
pub trait Pooled: Send + 'static {
    /// Whether the session is known to be unusable (its connection ended).
    fn is_closed(&self) -> bool;
}

type Opener<S> = Arc<dyn Fn() -> BoxFuture<'static, Result<S>> + Send + Sync>;

pub struct Pool<S: Pooled> {
    open: Opener<S>,
    idle: Mutex<Idle<S>>,
    changed: Notify,
}

struct Idle<S> {
    ready: Vec<S>,
    /// Sessions being opened or handed back in the background: worth waiting for instead of opening another.
    coming: usize,
}

impl<S: Pooled> Pool<S> {
    pub fn new(
        open: impl Fn() -> BoxFuture<'static, Result<S>> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Pool {
            open: Arc::new(open),
            idle: Mutex::new(Idle {
                ready: Vec::new(),
                coming: 0,
            }),
            changed: Notify::new(),
        })
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Idle<S>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle session, one on its way, or a new one.
    pub async fn take(&self) -> Result<S> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut idle = self.idle();
                while let Some(session) = idle.ready.pop() {
                    if !session.is_closed() {
                        return Ok(session);
                    }
                }
                if idle.coming == 0 {
                    break;
                }
            }
            changed.await;
        }
        (self.open)().await
    }

    /// Keeps `session` for the next taker. Only a session in the state a new one is in (no transaction, no
    /// statement under way, no state beyond its settings) may be given back.
    pub fn give(&self, session: S) {
        self.arrive(Some(session), false);
    }

    /// Forgets the idle sessions: after a failure they may be broken as well, and a retry should not spend its
    /// attempts finding out one by one.
    pub fn clear(&self) {
        self.idle().ready.clear();
    }

    /// Opens up to `n` sessions in the background (fewer when some are idle or on their way already), so the reads
    /// that follow do not wait on connection setup one after another.
    pub fn warm(self: &Arc<Self>, n: usize) {
        let missing = {
            let mut idle = self.idle();
            let missing = n.saturating_sub(idle.ready.len() + idle.coming);
            idle.coming += missing;
            missing
        };
        for _ in 0..missing {
            let pool = self.clone();
            tokio::spawn(async move {
                let opened = (pool.open)().await;
                pool.arrive(opened.ok(), true);
            });
        }
    }

    /// Takes back the session `back` yields (None: it could not be made reusable) in the background.
    pub fn give_later(self: &Arc<Self>, back: impl Future<Output = Option<S>> + Send + 'static) {
        self.idle().coming += 1;
        let pool = self.clone();
        tokio::spawn(async move {
            let session = back.await;
            pool.arrive(session, true);
        });
    }

    fn arrive(&self, session: Option<S>, was_coming: bool) {
        let mut idle = self.idle();
        if was_coming {
            idle.coming -= 1;
        }
        if let Some(session) = session.filter(|s| !s.is_closed()) {
            if idle.ready.len() < MAX_IDLE {
                idle.ready.push(session);
            }
        }
        drop(idle);
        self.changed.notify_waiters();
    }
}
