//! Resource monitoring: a sampler thread reads memory and CPU (sysinfo) once a second and publishes the limits the
//! readers follow. Readers only load atomics, so monitoring never blocks the pipeline (the seeds block 1 s per
//! check). Memory is the host's, or the container's when a cgroup limits it; CPU is what *other* processes use,
//! because our own load is the work we were asked to do, while others' load (a database on the same host, other
//! jobs) is what we should make room for.

use crate::messages::Messages;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const MEMORY_HIGH: f64 = 80.0;
pub const MEMORY_CRITICAL: f64 = 90.0;
pub const CPU_HIGH: f64 = 85.0;
pub const CPU_CRITICAL: f64 = 95.0;
/// The smallest batch pressure can push a read down to.
const MIN_BATCH: usize = 100;

/// One sample: percent of memory in use, percent of all cores used by other processes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub memory_pct: f64,
    pub cpu_pct: f64,
}

/// What the readers may use at the moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub batch_size: usize,
    pub queue_depth: usize,
    pub workers: usize,
}

/// The limits a reading allows, given the planned ones: memory above 80% halves batches and queue, above 90% cuts
/// them to a quarter and one batch in flight; CPU above 85% halves the workers, above 95% leaves one. Below the
/// thresholds the planned limits come back.
pub fn adjust(planned: Limits, r: Reading) -> Limits {
    let (batch_size, queue_depth) = if r.memory_pct >= MEMORY_CRITICAL {
        (planned.batch_size / 4, 1)
    } else if r.memory_pct >= MEMORY_HIGH {
        (planned.batch_size / 2, planned.queue_depth / 2)
    } else {
        (planned.batch_size, planned.queue_depth)
    };
    let workers = if r.cpu_pct >= CPU_CRITICAL {
        1
    } else if r.cpu_pct >= CPU_HIGH {
        planned.workers / 2
    } else {
        planned.workers
    };
    Limits {
        batch_size: batch_size.max(MIN_BATCH.min(planned.batch_size)),
        queue_depth: queue_depth.max(1),
        workers: workers.max(1),
    }
}

/// The live limits one read follows, updated by the sampler.
#[derive(Debug)]
pub struct Shared {
    planned: Limits,
    batch_size: AtomicUsize,
    queue_depth: AtomicUsize,
    workers: AtomicUsize,
}

impl Shared {
    pub fn new(planned: Limits) -> Arc<Self> {
        Arc::new(Shared {
            planned,
            batch_size: AtomicUsize::new(planned.batch_size),
            queue_depth: AtomicUsize::new(planned.queue_depth),
            workers: AtomicUsize::new(planned.workers),
        })
    }

    pub fn planned(&self) -> Limits {
        self.planned
    }

    pub fn current(&self) -> Limits {
        Limits {
            batch_size: self.batch_size.load(Ordering::Relaxed),
            queue_depth: self.queue_depth.load(Ordering::Relaxed),
            workers: self.workers.load(Ordering::Relaxed),
        }
    }

    /// Applies a reading; logs a change once, with the reading that caused it.
    pub fn apply(&self, r: Reading, what: &str, log: &Messages) {
        let before = self.current();
        let now = adjust(self.planned, r);
        if now == before {
            return;
        }
        self.batch_size.store(now.batch_size, Ordering::Relaxed);
        self.queue_depth.store(now.queue_depth, Ordering::Relaxed);
        self.workers.store(now.workers, Ordering::Relaxed);
        log.info(format!(
            "{what}: memory {:.0}%, other processes' CPU {:.0}%: batch {} -> {}, queue {} -> {}, workers {} -> {}",
            r.memory_pct,
            r.cpu_pct,
            before.batch_size,
            now.batch_size,
            before.queue_depth,
            now.queue_depth,
            before.workers,
            now.workers
        ));
    }
}

/// The sampler thread of one read; it stops when this is dropped.
pub struct Monitor {
    stop: Arc<AtomicBool>,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Monitor {
    pub fn start(shared: Arc<Shared>, what: String, log: Messages) -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("connector-accel-monitor".into())
            .spawn(move || {
                let Some(mut sampler) = Sampler::new() else {
                    return;
                };
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_secs(1));
                    if let Some(reading) = sampler.read() {
                        shared.apply(reading, &what, &log);
                    }
                }
            });
        if spawned.is_err() {
            // No thread, no adjustments: the read goes on with its planned limits.
            stop.store(true, Ordering::Relaxed);
        }
        Monitor { stop }
    }
}

struct Sampler {
    system: sysinfo::System,
    pid: sysinfo::Pid,
    cores: f64,
    /// This process's share of all cores at the last reading (percent), which `Reading::cpu_pct` leaves out.
    own_pct: f64,
}

impl Sampler {
    /// None where the platform offers no figures: the read then keeps its planned limits.
    fn new() -> Option<Self> {
        let mut system = sysinfo::System::new().ok()?;
        let pid = sysinfo::Pid::from_u32(std::process::id());
        // CPU figures are deltas between two refreshes, for the machine and for a process alike. Priming only the
        // machine made the first reading count all of our own fetchers' CPU as other processes' load, and throttle
        // the read it was measuring.
        system.refresh_cpu_usage();
        refresh_own(&mut system, pid);
        Some(Sampler {
            pid,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
            system,
            own_pct: 0.0,
        })
    }

    fn read(&mut self) -> Option<Reading> {
        let s = &mut self.system;
        s.refresh_memory();
        s.refresh_cpu_usage();
        refresh_own(s, self.pid);
        let (total, available) = match s.cgroup_limits() {
            Some(c) if c.total_memory > 0 => (c.total_memory, c.free_memory),
            _ => (s.total_memory(), s.available_memory()),
        };
        if total == 0 {
            return None;
        }
        let own = s.process(self.pid).map_or(0.0, |p| p.cpu_usage() as f64) / self.cores;
        self.own_pct = own;
        Some(Reading {
            memory_pct: 100.0 * (total.saturating_sub(available)) as f64 / total as f64,
            cpu_pct: (s.global_cpu_usage() as f64 - own).max(0.0),
        })
    }
}

fn refresh_own(system: &mut sysinfo::System, pid: sysinfo::Pid) {
    system.refresh_processes_specifics(
        sysinfo::ProcessesToUpdate::Some(&[pid]),
        false,
        sysinfo::ProcessRefreshKind::nothing().with_cpu(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLANNED: Limits = Limits {
        batch_size: 5000,
        queue_depth: 8,
        workers: 4,
    };

    fn at(memory_pct: f64, cpu_pct: f64) -> Reading {
        Reading {
            memory_pct,
            cpu_pct,
        }
    }

    #[test]
    fn pressure_shrinks_and_relief_restores() {
        assert_eq!(adjust(PLANNED, at(50.0, 50.0)), PLANNED);
        assert_eq!(
            adjust(PLANNED, at(85.0, 10.0)),
            Limits {
                batch_size: 2500,
                queue_depth: 4,
                workers: 4
            }
        );
        assert_eq!(
            adjust(PLANNED, at(93.0, 10.0)),
            Limits {
                batch_size: 1250,
                queue_depth: 1,
                workers: 4
            }
        );
        assert_eq!(
            adjust(PLANNED, at(10.0, 90.0)),
            Limits {
                batch_size: 5000,
                queue_depth: 8,
                workers: 2
            }
        );
        assert_eq!(adjust(PLANNED, at(10.0, 99.0)).workers, 1);
        let small = Limits {
            batch_size: 150,
            queue_depth: 1,
            workers: 1,
        };
        assert_eq!(
            adjust(small, at(95.0, 99.0)),
            Limits {
                batch_size: 100,
                queue_depth: 1,
                workers: 1
            }
        );
    }

    #[test]
    fn each_change_is_logged_once_with_its_reading() {
        let log = Messages::default();
        let shared = Shared::new(PLANNED);
        shared.apply(at(85.0, 10.0), "shop.orders", &log);
        shared.apply(at(86.0, 12.0), "shop.orders", &log);
        assert_eq!(shared.current().batch_size, 2500);
        shared.apply(at(40.0, 12.0), "shop.orders", &log);
        assert_eq!(shared.current(), PLANNED);
        let logged = log.take();
        assert_eq!(logged.len(), 2, "{logged:?}");
        assert!(logged[0].1.contains("memory 85%") && logged[0].1.contains("batch 5000 -> 2500"));
        assert!(logged[1].1.contains("batch 2500 -> 5000"));
    }

    /// This process's CPU time so far (user and system), from /proc/self/stat in clock ticks of 10 ms.
    fn own_cpu_seconds() -> f64 {
        let stat = std::fs::read_to_string("/proc/self/stat").expect("Linux");
        let after_name = &stat[stat.rfind(')').expect("stat format") + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the state that follows the name
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        ticks as f64 / 100.0
    }

    #[test]
    fn the_first_sample_counts_our_own_cpu_as_ours() {
        // Keep every core busy from this process, as a read's fetchers do: the first reading must count that load
        // as our own (what the kernel says we used over the same interval), not as other processes'. Compared with
        // the kernel's figure rather than a threshold, so that other load on the host cannot make it fail.
        let stop = Arc::new(AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let burners: Vec<_> = (0..cores)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    }
                    x
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let (cpu_before, started) = (own_cpu_seconds(), std::time::Instant::now());
        let mut s = Sampler::new().expect("sysinfo works on Linux");
        std::thread::sleep(Duration::from_millis(1000));
        s.read().expect("figures");
        let (cpu_used, elapsed) = (
            own_cpu_seconds() - cpu_before,
            started.elapsed().as_secs_f64(),
        );
        stop.store(true, Ordering::Relaxed);
        burners.into_iter().for_each(|b| {
            b.join().ok();
        });
        let kernel_pct = 100.0 * cpu_used / elapsed / cores as f64;
        assert!(
            kernel_pct > 1.0,
            "the burners ran: {kernel_pct:.1}% of all cores"
        );
        assert!(
            (s.own_pct - kernel_pct).abs() <= 0.25 * kernel_pct + 2.0,
            "the first reading counted {:.1}% of all cores as ours; the kernel says {kernel_pct:.1}%",
            s.own_pct
        );
    }

    #[test]
    fn the_sampler_reads_this_machine() {
        let mut s = Sampler::new().expect("sysinfo works on Linux");
        std::thread::sleep(Duration::from_millis(300));
        let r = s.read().expect("memory figures");
        assert!(r.memory_pct > 0.0 && r.memory_pct <= 100.0, "{r:?}");
        assert!(r.cpu_pct >= 0.0 && r.cpu_pct <= 100.5, "{r:?}");
    }
}
