//! The Partner SDK source connector of connector_accel: Fivetran's `fivetran_sdk.v2` gRPC protocol, served from
//! Rust over the engine (`connector_accel_core`), so that no Python runs per row. Built as the `fivetran_source`
//! executable for Fivetran's partner build, and started from the wheel by `python -m connector_accel serve`.

/// The `fivetran_sdk.v2` messages, the `SourceConnector` server trait and its client, generated
/// by build.rs from our `proto/` files.
pub mod proto {
    // Generated code spells out full paths (`::prost::alloc::string::String`).
    #![allow(unused_qualifications)]
    tonic::include_proto!("fivetran_sdk.v2");
}

/// The `SourceConnector` server trait, generated over `proto`'s messages with one exception: its `Update` streams
/// `wire::Encoded`, responses already encoded (build.rs).
pub mod server {
    #![allow(unused_qualifications)]
    include!(concat!(env!("OUT_DIR"), "/server/fivetran_sdk.v2.rs"));
}

pub mod batch;
pub mod identity;
pub mod logs;
pub mod naming;
pub mod records;
pub mod selection;
pub mod service;
pub mod state;
pub mod sync;
pub mod values;
pub mod wire;

use server::source_connector_server::SourceConnectorServer;
use std::net::{Ipv6Addr, SocketAddr};

/// Fivetran's limit on a message, both ways (tonic's default for decoding is 4 MiB).
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024 * 1024;
pub const DEFAULT_PORT: u16 = 50051;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub port: u16,
    /// The form shown: "postgres" or "sqlserver".
    pub source: &'static str,
}

/// `--port N` and `--source postgres|sqlserver`; an error names the argument and the fix.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        port: DEFAULT_PORT,
        source: "postgres",
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{name} needs a value"))
        };
        match name.as_str() {
            "--port" => {
                let text = value()?;
                options.port = text
                    .parse()
                    .map_err(|_| format!("--port: '{text}' is not a TCP port; pass a number from 1 to 65535"))?;
            }
            "--source" => {
                options.source = match value()?.as_str() {
                    "postgres" => "postgres",
                    "sqlserver" => "sqlserver",
                    "snowflake" => "snowflake",
                    other => return Err(format!("--source: '{other}' is not postgres, sqlserver or snowflake")),
                };
            }
            other => return Err(format!("unknown argument '{other}'; the arguments are --port N and --source postgres|sqlserver|snowflake")),
        }
    }
    Ok(options)
}

/// Serves the connector until `shutdown` resolves. Listens on [::] (IPv4 too, where the system maps it), as the
/// Partner SDK asks.
pub async fn serve(
    options: Options,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), String> {
    let address = SocketAddr::from((Ipv6Addr::UNSPECIFIED, options.port));
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(l) => l,
        // A host without IPv6 still serves IPv4.
        Err(_) => tokio::net::TcpListener::bind(("0.0.0.0", options.port))
            .await
            .map_err(|e| {
                format!(
                    "cannot listen on port {}: {e}; choose another with --port",
                    options.port
                )
            })?,
    };
    serve_on(listener, options.source, shutdown).await
}

/// Serves the connector on `listener` until `shutdown` resolves.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    source: &'static str,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), String> {
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    logs::info(&format!(
        "fivetran_sdk.v2.SourceConnector listening on port {}",
        bound.port()
    ));
    let service = SourceConnectorServer::new(service::Service { source })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            shutdown,
        )
        .await
        .map_err(|e| format!("the server stopped: {e}"))
}

#[cfg(test)]
mod tests;
