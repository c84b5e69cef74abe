//! `serve`: the Partner SDK server (`fivetran_source`) run from the wheel. The interpreter only starts it; every
//! request is served in Rust, on the process's one runtime.

use crate::wait::wait;
use connector_accel_core::error::Error;
use pyo3::prelude::*;

/// Serves `fivetran_sdk.v2.SourceConnector` on `port` (all interfaces) until Ctrl-C; `source` picks the form.
#[pyfunction]
#[pyo3(signature = (port = fivetran_source::DEFAULT_PORT, source = "postgres"))]
pub fn serve(py: Python<'_>, port: u16, source: &str) -> PyResult<()> {
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
    let served = wait(py, async move {
        match server.await {
            Ok(result) => result.map_err(|m| Error::config("port", m)),
            Err(e) => Err(Error::Internal(format!("the server task ended: {e}"))),
        }
    });
    // Ctrl-C (or any error) ends the server: its sessions close with it.
    let _ = stop.send(());
    served
}
