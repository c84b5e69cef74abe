//! Sessions kept for reuse, whatever the database. Over a distant link every new session costs TCP, TLS and login
//! round trips before its first statement, so discovery, planning and every partition of every table take their
//! sessions from here: an idle one first, then one already on its way (opened ahead of need by `warm`, or being
//! handed back), and only then a new one.

use crate::error::Result;
use futures_util::future::BoxFuture;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// At most this many idle sessions are kept (the most workers a read can have).
const MAX_IDLE: usize = crate::config::MAX_WORKERS as usize;

/// An idle session older than this is closed instead of reused: a firewall or the server may have dropped it
/// silently in the meantime (a long-lived process between two syncs, say), and finding that out costs a timeout.
const MAX_IDLE_AGE: Duration = Duration::from_secs(60);

/// What a pool needs of a session type.
pub trait Pooled: Send + 'static {
    /// Whether the session is known to be unusable (its connection ended).
    fn is_closed(&self) -> bool;
}

type Opener<S> = Arc<dyn Fn() -> BoxFuture<'static, Result<S>> + Send + Sync>;

pub struct Pool<S: Pooled> {
    open: Opener<S>,
    max_idle_age: Duration,
    idle: Mutex<Idle<S>>,
    changed: Notify,
}

struct Idle<S> {
    ready: Vec<(S, Instant)>,
    /// Sessions being opened or handed back in the background: worth waiting for instead of opening another.
    coming: usize,
}

impl<S: Pooled> Pool<S> {
    pub fn new(
        open: impl Fn() -> BoxFuture<'static, Result<S>> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Self::with_max_idle_age(open, MAX_IDLE_AGE)
    }

    fn with_max_idle_age(
        open: impl Fn() -> BoxFuture<'static, Result<S>> + Send + Sync + 'static,
        max_idle_age: Duration,
    ) -> Arc<Self> {
        Arc::new(Pool {
            open: Arc::new(open),
            max_idle_age,
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
                while let Some((session, since)) = idle.ready.pop() {
                    if !session.is_closed() && since.elapsed() < self.max_idle_age {
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

    /// `attempt`'s result; after a failure the idle sessions are forgotten as well (see `clear`).
    pub async fn clearing_on_error<T>(
        &self,
        attempt: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let result = attempt.await;
        if result.is_err() {
            self.clear();
        }
        result
    }

    /// Opens up to `n` sessions in the background (fewer when some are idle or on their way already), so the reads
    /// that follow do not wait on connection setup one after another.
    pub fn warm(self: &Arc<Self>, n: usize) {
        let missing = {
            let mut idle = self.idle();
            let age = self.max_idle_age;
            idle.ready
                .retain(|(s, since)| !s.is_closed() && since.elapsed() < age);
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
                idle.ready.push((session, Instant::now()));
            }
        }
        drop(idle);
        self.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Fake {
        closed: bool,
    }

    impl Pooled for Fake {
        fn is_closed(&self) -> bool {
            self.closed
        }
    }

    fn counting(age: Duration) -> (Arc<Pool<Fake>>, Arc<AtomicUsize>) {
        let opened = Arc::new(AtomicUsize::new(0));
        let count = opened.clone();
        let pool = Pool::with_max_idle_age(
            move || {
                count.fetch_add(1, Ordering::SeqCst);
                Box::pin(async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok(Fake { closed: false })
                })
            },
            age,
        );
        (pool, opened)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn a_session_given_back_is_taken_again_instead_of_opening_one() {
        runtime().block_on(async {
            let (pool, opened) = counting(MAX_IDLE_AGE);
            let s = pool.take().await.unwrap();
            pool.give(s);
            let _again = pool.take().await.unwrap();
            assert_eq!(opened.load(Ordering::SeqCst), 1);
        });
    }

    #[test]
    fn warm_sessions_open_together_and_takers_wait_for_them() {
        runtime().block_on(async {
            let (pool, opened) = counting(MAX_IDLE_AGE);
            pool.warm(3);
            pool.warm(3); // already on their way: nothing more
            let taken = futures_util::future::join_all((0..3).map(|_| pool.take())).await;
            assert!(taken.iter().all(|t| t.is_ok()));
            assert_eq!(opened.load(Ordering::SeqCst), 3);
        });
    }

    #[test]
    fn a_session_on_its_way_back_is_waited_for() {
        runtime().block_on(async {
            let (pool, opened) = counting(MAX_IDLE_AGE);
            let s = pool.take().await.unwrap();
            pool.give_later(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some(s)
            });
            let _reused = pool.take().await.unwrap();
            assert_eq!(opened.load(Ordering::SeqCst), 1);
        });
    }

    #[test]
    fn closed_and_stale_sessions_are_not_reused() {
        runtime().block_on(async {
            let (pool, opened) = counting(MAX_IDLE_AGE);
            pool.give(Fake { closed: true });
            let _s = pool.take().await.unwrap();
            assert_eq!(
                opened.load(Ordering::SeqCst),
                1,
                "the closed one was skipped"
            );
            let (pool, opened) = counting(Duration::from_millis(30));
            pool.give(Fake { closed: false });
            tokio::time::sleep(Duration::from_millis(60)).await;
            let _s = pool.take().await.unwrap();
            assert_eq!(
                opened.load(Ordering::SeqCst),
                1,
                "the stale one was skipped"
            );
        });
    }
}
