//! The `fivetran_source` executable Fivetran's partner build produces.

use fivetran_source::proto::source_connector_server::SERVICE_NAME;

fn main() -> std::process::ExitCode {
    // The server arrives with the engine (issue 22). Until then the binary only proves the
    // protocol layer links without libpython or protoc, and says plainly that it serves nothing.
    eprintln!("fivetran_source: {SERVICE_NAME} is not served by this build yet");
    std::process::ExitCode::FAILURE
}
