//! A catch-up read's transient failures (a connection reset, a terminated backend, a server restart, a
//! serialization failure) retried in place by the engine's policy (`max_retries`, `retry_sleep_seconds`), from the
//! last position handed over. A peek always starts at the slot's confirmed position, which a catch-up never moves
//! (only the next sync's start does, to a durable checkpoint), so a retry reads the same messages again in the same
//! order: it skips the transactions whose every event was handed over and, in the transaction a batch boundary
//! cut, the data messages already handed over. Nothing is skipped that was not handed over, nothing is handed over
//! twice, and the `committed` positions the batches carry only grow (a retry acknowledges nothing).

use crate::changes::Lsn;
use crate::error::Result;
use crate::messages::Messages;
use crate::retry::Policy;
use std::future::Future;

/// What a read has handed over so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Handed {
    /// The end of the last transaction every event of which was handed over.
    pub committed: Option<Lsn>,
    /// The transaction a batch boundary cut (its commit LSN, from its Begin) and how many of its data messages
    /// (insert, update, delete, truncate) were handed over.
    pub open: Option<(Lsn, u64)>,
}

impl Handed {
    /// Data messages of the transaction committing at `lsn` to skip: the ones already handed over.
    pub fn skip_in(&self, lsn: Lsn) -> u64 {
        match self.open {
            Some((open, seen)) if open == lsn => seen,
            _ => 0,
        }
    }

    fn describe(&self) -> String {
        let after = self
            .committed
            .map_or("the slot's position".to_string(), |c| c.to_string());
        match self.open {
            Some((lsn, seen)) if seen > 0 => format!(
                "after {after} and the first {seen} changes of the transaction committing at {lsn}, already handed over"
            ),
            _ => format!("after {after}"),
        }
    }
}

/// Runs `attempt` (given what was handed over, it returns what is handed over then, and how it ended) until one
/// succeeds, fails permanently or the retries are used up. An attempt that handed something over starts a fresh
/// schedule: a long catch-up survives separate blips, a dead server still fails.
pub async fn retrying<F, Fut>(
    slot: &str,
    retry: Policy,
    log: &Messages,
    mut attempt: F,
) -> Result<()>
where
    F: FnMut(Handed) -> Fut,
    Fut: Future<Output = (Handed, Result<()>)>,
{
    let what = format!("reading replication slot {slot}");
    let mut handed = Handed::default();
    let mut schedule = retry.schedule();
    loop {
        let (now, result) = attempt(handed).await;
        let Err(e) = result else {
            return Ok(());
        };
        if now != handed {
            schedule = retry.schedule();
        }
        handed = now;
        let delay = schedule.next(&what, e, log)?;
        log.info(format!("{what}: the retry resumes {}", handed.describe()));
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_cut_transaction_skips_messages() {
        let cut = Lsn(0x2000);
        let h = Handed {
            committed: Some(Lsn(0x1000)),
            open: Some((cut, 7)),
        };
        assert_eq!(h.skip_in(cut), 7);
        assert_eq!(h.skip_in(Lsn(0x3000)), 0);
        assert_eq!(Handed::default().skip_in(cut), 0);
        assert!(h
            .describe()
            .contains("first 7 changes of the transaction committing at 0/2000"));
    }
}
