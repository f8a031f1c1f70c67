//! `boxoffice-load`: fires a BUY rush at one or more running boxoffice nodes
//! and reports decisions/s, latency percentiles and double holds (table,
//! JSON, SVG plot). Exits non-zero if any ticket ended with two live orders.
//!
//! Build and run it from the workspace root, against nodes you started:
//!
//! ```sh
//! cargo build --release --locked -p boxoffice-load
//! target/release/boxoffice-load --target http://127.0.0.1:3000 --scenario hot --tickets 1 --buyers 1000
//! ```
//!
//! `boxoffice-load --help` lists the options; docs/BENCHMARKS.md has the
//! runs behind the published figures.

use std::process::ExitCode;

use boxoffice_load::LoadArgs;
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// The same allocator as the server, as when this tool was `boxoffice load`:
/// it shares the two cores with the nodes it loads, so its own cost is part
/// of every figure in docs/BENCHMARKS.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = LoadArgs::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("boxoffice-load: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let report = boxoffice_load::run(args).await?;
        anyhow::ensure!(
            report.double_holds == 0,
            "{} ticket(s) ended with two live orders",
            report.double_holds
        );
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("boxoffice-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}
