//! `batch_delay_ms` (seed 000): the reads' result fetches (a read's statement, whose reply brings the first rows,
//! and each further chunk's download) start at least this far apart, so that a busy account is not hammered. One
//! pacer per source, shared by its partitions: a fetch takes the next free slot (the delay after the previous
//! slot, or now) and waits for it. Slots space the starts; downloads longer than the delay still overlap, as they
//! do unpaced. Each read counts what it was paced, for the line that says so.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

pub struct Pacer {
    delay: Duration,
    /// The next free slot; None before the first fetch.
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    pub fn new(delay: Duration) -> Arc<Pacer> {
        Arc::new(Pacer {
            delay,
            next: Mutex::new(None),
        })
    }

    /// The slot of a fetch asked for at `now`, taken.
    fn reserve(&self, now: Instant) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let at = next.map_or(now, |n| n.max(now));
        *next = Some(at + self.delay);
        at
    }

    /// Waits for this fetch's slot; how long it waited.
    async fn slot(&self) -> Duration {
        let now = Instant::now();
        let at = self.reserve(now);
        tokio::time::sleep_until(at).await;
        at.saturating_duration_since(now)
    }
}

/// One read's fetches through its source's pacer, counted.
pub struct Paced {
    pacer: Option<Arc<Pacer>>,
    fetches: AtomicU64,
    waited_ms: AtomicU64,
}

impl Paced {
    /// A read's share of `pacer`; nothing is paced when its delay is zero.
    pub fn new(pacer: &Arc<Pacer>) -> Arc<Paced> {
        Arc::new(Paced {
            pacer: (!pacer.delay.is_zero()).then(|| pacer.clone()),
            fetches: AtomicU64::new(0),
            waited_ms: AtomicU64::new(0),
        })
    }

    /// Fetches that are not a read's (discovery, the watermark): never paced.
    pub fn off() -> Arc<Paced> {
        Arc::new(Paced {
            pacer: None,
            fetches: AtomicU64::new(0),
            waited_ms: AtomicU64::new(0),
        })
    }

    /// Before a fetch: waits for its slot.
    pub async fn fetch(&self) {
        if let Some(p) = &self.pacer {
            let waited = p.slot().await;
            self.fetches.fetch_add(1, Ordering::Relaxed);
            self.waited_ms
                .fetch_add(waited.as_millis() as u64, Ordering::Relaxed);
        }
    }

    /// What the read of `table` was paced, when it was.
    pub fn summary(&self, table: &str) -> Option<String> {
        let p = self.pacer.as_ref()?;
        Some(format!(
            "{table}: batch_delay_ms paced {} result fetches, each started at least {} ms after the one before \
             ({:.1} s waited in all)",
            self.fetches.load(Ordering::Relaxed),
            p.delay.as_millis(),
            self.waited_ms.load(Ordering::Relaxed) as f64 / 1000.0
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_the_delay_apart_from_the_last_one_or_now() {
        let pacer = Pacer::new(Duration::from_millis(200));
        let t0 = Instant::now();
        let ms = |at: Instant| at.duration_since(t0).as_millis();
        let burst: Vec<u128> = (0..4).map(|_| ms(pacer.reserve(t0))).collect();
        assert_eq!(burst, [0, 200, 400, 600], "asked at once, they queue");
        let later = t0 + Duration::from_millis(1000);
        assert_eq!(ms(pacer.reserve(later)), 1000, "after a lull, now");
        assert_eq!(ms(pacer.reserve(later)), 1200);
    }

    #[test]
    fn a_zero_delay_paces_and_says_nothing() {
        let off = Paced::new(&Pacer::new(Duration::ZERO));
        crate::runtime::get().block_on(off.fetch());
        assert!(off.summary("S.T").is_none());
        let on = Paced::new(&Pacer::new(Duration::from_millis(1)));
        crate::runtime::get().block_on(on.fetch());
        let line = on.summary("S.T").unwrap_or_default();
        assert!(
            line.starts_with("S.T: batch_delay_ms paced 1 result fetches"),
            "{line}"
        );
    }
}
