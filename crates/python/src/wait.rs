//! Every blocking wait goes through `wait`: it detaches from the interpreter and checks for Ctrl-C a few times a
//! second, so a long read can be interrupted.

use crate::exceptions::ToPy;
use connector_accel_core::error::Result;
use pyo3::prelude::*;
use std::future::Future;
use std::time::Duration;

const SIGNAL_CHECK: Duration = Duration::from_millis(200);

pub fn wait<T, F>(py: Python<'_>, future: F) -> PyResult<T>
where
    F: Future<Output = Result<T>> + Send,
    T: Send,
{
    let runtime = connector_accel_core::runtime::get();
    let mut future = Box::pin(future);
    loop {
        let step = py.detach(|| {
            runtime.block_on(async { tokio::time::timeout(SIGNAL_CHECK, &mut future).await })
        });
        match step {
            Ok(result) => return result.py(),
            Err(_) => py.check_signals()?,
        }
    }
}
