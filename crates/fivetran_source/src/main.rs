//! `fivetran_source --port 50051 [--source postgres|sqlserver]`: the executable Fivetran's partner build makes.

/// Many small allocations made on one thread and freed on another; mimalloc handles that best (as in the wheel).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let options = match fivetran_source::parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(message) => {
            fivetran_source::logs::severe(&message);
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = connector_accel_core::runtime::get();
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match runtime.block_on(fivetran_source::serve(options, stop)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            fivetran_source::logs::severe(&message);
            std::process::ExitCode::FAILURE
        }
    }
}
