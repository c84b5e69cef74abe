//! Retrying transient failures with exponential backoff and jitter (backon). What to resume after a retry is the
//! caller's business (a partition resumes after its last key); this module only decides whether and when.

use crate::error::{Error, Result};
use crate::messages::Messages;
use backon::{BackoffBuilder, ExponentialBuilder};
use std::future::Future;
use std::time::Duration;

/// The longest single pause, jitter included, whatever the attempt number says (a `retry_sleep_seconds` above it
/// is its own cap).
const MAX_DELAY: Duration = Duration::from_secs(300);

/// `max_retries` attempts after the first, starting at `retry_sleep_seconds` and doubling, each with jitter.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub max_retries: u32,
    pub first_delay: Duration,
}

impl Policy {
    pub fn new(max_retries: u32, retry_sleep_seconds: f64) -> Self {
        Policy {
            max_retries,
            first_delay: Duration::from_secs_f64(retry_sleep_seconds.max(0.0)),
        }
    }

    /// A fresh schedule of pauses; it ends (None) when the retries are used up.
    pub fn schedule(&self) -> Schedule {
        let cap = MAX_DELAY.max(self.first_delay);
        // backon adds its jitter (up to one more delay) after its own cap, so the cap is applied again here.
        let delays = ExponentialBuilder::default()
            .with_min_delay(self.first_delay)
            .with_max_delay(cap)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.max_retries as usize)
            .build()
            .map(move |d| d.min(cap));
        Schedule {
            delays: Box::new(delays),
            attempt: 0,
            max: self.max_retries,
        }
    }
}

/// The pauses left for one piece of work. A read that made progress since its last failure starts a new schedule,
/// so a many-hour read survives many separate network blips while a dead server still fails after `max_retries`.
pub struct Schedule {
    delays: Box<dyn Iterator<Item = Duration> + Send>,
    attempt: u32,
    max: u32,
}

impl Schedule {
    /// After `error` while doing `what`: the pause before the next attempt (logged with the error class and the
    /// attempt number), or the error itself when it is permanent or the retries are used up.
    pub fn next(&mut self, what: &str, error: Error, log: &Messages) -> Result<Duration> {
        if !error.is_transient() {
            return Err(error);
        }
        let Some(delay) = self.delays.next() else {
            return Err(give_up(error, self.max));
        };
        self.attempt += 1;
        log.warning(format!(
            "{what}: transient error ({}), retry {}/{} in {:.1}s: {error}",
            error.sqlstate().unwrap_or("connection"),
            self.attempt,
            self.max,
            delay.as_secs_f64()
        ));
        Ok(delay)
    }
}

fn give_up(error: Error, max: u32) -> Error {
    let suffix = format!(" (gave up after {max} retries; raise 'max_retries' or 'retry_sleep_seconds' if the source needs longer to recover)");
    match error {
        Error::Connect {
            message,
            sqlstate,
            number,
            ..
        } => Error::Connect {
            message: message + &suffix,
            sqlstate,
            number,
            transient: false,
        },
        Error::Query {
            message,
            sqlstate,
            number,
            ..
        } => Error::Query {
            message: message + &suffix,
            sqlstate,
            number,
            transient: false,
        },
        other => other,
    }
}

/// Runs `work` until it succeeds, fails permanently, or the retries are used up.
pub async fn run<T, F, Fut>(policy: Policy, what: &str, log: &Messages, mut work: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut schedule = policy.schedule();
    loop {
        match work().await {
            Ok(value) => return Ok(value),
            Err(e) => tokio::time::sleep(schedule.next(what, e, log)?).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transient() -> Error {
        Error::Query {
            message: "terminating connection due to administrator command".into(),
            sqlstate: Some("57P01".into()),
            number: None,
            transient: true,
        }
    }

    #[test]
    fn transient_errors_retry_until_the_budget_is_spent() {
        let log = Messages::default();
        let mut s = Policy::new(2, 0.01).schedule();
        assert!(s.next("read", transient(), &log).is_ok());
        assert!(s.next("read", transient(), &log).is_ok());
        let err = s.next("read", transient(), &log).unwrap_err();
        assert!(err.to_string().contains("gave up after 2 retries"), "{err}");
        assert!(!err.is_transient());
        let logged = log.take();
        assert_eq!(logged.len(), 2);
        assert!(
            logged[1].1.contains("57P01") && logged[1].1.contains("retry 2/2"),
            "{logged:?}"
        );
    }

    #[test]
    fn permanent_errors_fail_at_once() {
        let log = Messages::default();
        let mut s = Policy::new(5, 0.01).schedule();
        let denied = Error::Query {
            message: "permission denied for table secrets".into(),
            sqlstate: Some("42501".into()),
            number: None,
            transient: false,
        };
        assert!(s.next("read", denied, &log).is_err());
        assert!(log.take().is_empty());
    }

    #[test]
    fn delays_grow_and_stay_capped() {
        let log = Messages::default();
        let mut s = Policy::new(30, 1.0).schedule();
        let delays: Vec<Duration> = (0..30)
            .map(|_| s.next("x", transient(), &log).unwrap())
            .collect();
        assert!(delays[0] >= Duration::from_secs(1) && delays[0] < Duration::from_secs(3));
        assert!(delays[4] >= Duration::from_secs(16));
        assert!(
            delays.iter().all(|d| *d <= MAX_DELAY),
            "no pause is longer than the cap, jitter included: {delays:?}"
        );
        assert!(
            delays[20..].contains(&MAX_DELAY),
            "late pauses reach the cap"
        );
    }
}
