//! The one tokio runtime of the process.

use std::sync::{Arc, Mutex};
use tokio::runtime::Runtime;

static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);

/// The process's runtime, made on first use. A forked child (multiprocessing, ProcessPoolExecutor) inherits the
/// parent's runtime without its worker threads, so a new process id gets a runtime of its own; the inherited one
/// is leaked on purpose, since dropping it would wait for threads that do not exist in the child.
pub fn get() -> Arc<Runtime> {
    let pid = std::process::id();
    let mut slot = RUNTIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match slot.as_ref() {
        Some((owner, rt)) if *owner == pid => rt.clone(),
        _ => {
            if let Some((_, inherited)) = slot.take() {
                std::mem::forget(inherited);
            }
            let rt = Arc::new(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get().max(2)))
                    .thread_name("connector-accel")
                    .enable_all()
                    .build()
                    .expect("the tokio runtime cannot start: the process is out of threads or file descriptors"),
            );
            *slot = Some((pid, rt.clone()));
            rt
        }
    }
}
