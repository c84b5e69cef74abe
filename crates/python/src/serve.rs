//! `serve`: the Partner SDK server (`fivetran_source`) run from the wheel. The interpreter only starts it; every
//! request is served in Rust, on the process's one runtime.

use connector_accel_core::error::Error;
use pyo3::prelude::*;

/// The Partner SDK's port, where `fivetran_source` is not linked in to say it.
#[cfg(not(feature = "server"))]
const DEFAULT_PORT: u16 = 50051;
#[cfg(feature = "server")]
const DEFAULT_PORT: u16 = fivetran_source::DEFAULT_PORT;

/// Serves `fivetran_sdk.v2.SourceConnector` on `port` (all interfaces) until Ctrl-C; `source` picks the form.
#[pyfunction]
#[pyo3(signature = (port = DEFAULT_PORT, source = "postgres"))]
pub fn serve(py: Python<'_>, port: u16, source: &str) -> PyResult<()> {
    run(py, port, source)
}

#[cfg(feature = "server")]
fn run(py: Python<'_>, port: u16, source: &str) -> PyResult<()> {
    let args = [
        "--port".to_string(),
        port.to_string(),
        "--source".into(),
        source.into(),
    ];
    let options = fivetran_source::parse_args(args)
        .map_err(|m| crate::exceptions::to_py(Error::config("source", m)))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runtime = connector_accel_core::runtime::get();
    let server = runtime.spawn(fivetran_source::serve(options, async {
        let _ = stopped.await;
    }));
    let served = crate::wait::wait(py, async move {
        match server.await {
            Ok(result) => result.map_err(|m| Error::config("port", m)),
            Err(e) => Err(Error::Internal(format!("the server task ended: {e}"))),
        }
    });
    // Ctrl-C (or any error) ends the server: its sessions close with it.
    let _ = stop.send(());
    served
}

/// A first `./scripts/demo.sh` builds the module without the server, to be quick; it says how to get it
/// (`python -m connector_accel serve` checks `HAS_SERVER` and says so before calling this).
#[cfg(not(feature = "server"))]
fn run(_py: Python<'_>, _port: u16, _source: &str) -> PyResult<()> {
    Err(crate::exceptions::to_py(Error::config(
        "serve",
        "this install was built without the Partner SDK server (a first ./scripts/demo.sh leaves it out to build \
         faster): run ./scripts/build.sh, or install the wheel, which has it",
    )))
}
