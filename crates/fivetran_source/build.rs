//! Generates the fivetran_sdk.v2 messages, client and server from proto/ at build time.
//!
//! protox parses the .proto files in Rust, so neither a developer nor Fivetran's partner build
//! needs `protoc` installed; tonic-prost-build turns the descriptor set into code in OUT_DIR.
//!
//! Two passes: the messages and the client (`crate::proto`), then the server alone (OUT_DIR/server), whose
//! `UpdateResponse` is `crate::wire::Encoded`, a response already encoded, byte for byte what prost would write
//! (the records are encoded straight from the rows, `crate::wire`); every other type is `crate::proto`'s.

use std::path::{Path, PathBuf};

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
    tonic_prost_build::configure()
        .build_server(false)
        .compile_fds(descriptors.clone())?;
    let server = PathBuf::from(std::env::var("OUT_DIR")?).join("server");
    std::fs::create_dir_all(&server)?;
    tonic_prost_build::configure()
        .build_client(false)
        .out_dir(&server)
        .extern_path(".fivetran_sdk.v2.UpdateResponse", "crate::wire::Encoded")
        .extern_path(".fivetran_sdk.v2", "crate::proto")
        .compile_fds(descriptors)?;
    Ok(())
}
