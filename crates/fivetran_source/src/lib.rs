//! The Partner SDK source connector of connector_accel: Fivetran's `fivetran_sdk.v2` gRPC
//! protocol, served from Rust.

/// The `fivetran_sdk.v2` messages, the `SourceConnector` server trait and its client, generated
/// by build.rs from our `proto/` files.
pub mod proto {
    // Generated code spells out full paths (`::prost::alloc::string::String`).
    #![allow(unused_qualifications)]
    tonic::include_proto!("fivetran_sdk.v2");
}

#[cfg(test)]
mod tests;
