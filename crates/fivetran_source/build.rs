//! Generates the fivetran_sdk.v2 messages, client and server from proto/ at build time.
//!
//! protox parses the .proto files in Rust, so neither a developer nor Fivetran's partner build
//! needs `protoc` installed; tonic-prost-build turns the descriptor set into code in OUT_DIR.

use std::path::Path;

const PROTO_DIR: &str = "proto";
const PROTOS: [&str; 2] = ["connector_sdk.proto", "common.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!(
            "cargo:rerun-if-changed={}",
            Path::new(PROTO_DIR).join(proto).display()
        );
    }
    // google/protobuf/timestamp.proto comes from protox's bundled well-known types; prost-build
    // maps `.google.protobuf` to `::prost_types`, so nothing is generated for it.
    let descriptors = protox::compile(PROTOS, [PROTO_DIR])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
