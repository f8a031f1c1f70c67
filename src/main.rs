//! The `boxoffice` command: serve a node (the default), or reshard the
//! data dirs of a stopped cluster. `boxoffice --help` lists the flags.

use std::process::ExitCode;

use boxoffice::{
    config::{Cli, Command, LogFormat, ServeArgs},
    logs::JsonSpanFields,
    node::Node,
};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// glibc's malloc showed up as ~10% of a BUY rush's profile; mimalloc
/// handles the many small, short-lived allocations of a request better.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("boxoffice: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        None => serve(runtime, cli.serve),
        Some(Command::Serve(args)) => serve(runtime, *args),
        Some(Command::Reshard(args)) => runtime.block_on(reshard(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("boxoffice: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Serves until SIGTERM, then, once every task (and with them every handle
/// on the store) has ended, leaves sled's files ready for a quick start.
fn serve(runtime: tokio::runtime::Runtime, args: ServeArgs) -> anyhow::Result<()> {
    runtime.block_on(run_node(&args))?;
    runtime.shutdown_timeout(std::time::Duration::from_secs(10));
    // The data is safe either way: a failure only leaves the next start
    // to read sled's log back.
    if let Err(e) = boxoffice::node::checkpoint(&args) {
        tracing::warn!("{e:#}");
    }
    Ok(())
}

async fn run_node(args: &ServeArgs) -> anyhow::Result<()> {
    let node = Node::builder(args.clone()).start().await?;
    let addr = node.local_addr()?;
    // Handlers go in before we announce ourselves: a SIGTERM that arrives
    // right after start must still mean a clean shutdown, not a kill.
    let shutdown = shutdown_signal()?;
    // On stdout, for people and for scripts that start us on port 0.
    println!("boxoffice listening on http://{addr}");
    tracing::info!(%addr, data_dir = %args.data_dir.display(), "serving");
    node.serve(shutdown).await
}

async fn reshard(args: boxoffice::config::ReshardArgs) -> anyhow::Result<()> {
    let members = args
        .peers
        .iter()
        .map(|p| boxoffice::cluster::placement::Member::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let plan = boxoffice::reshard::Plan {
        from: args.from,
        members,
        shards: args.shards,
        out: args.out,
    };
    let summary = boxoffice::reshard::run(&plan).await?;
    for (name, moved) in summary {
        println!(
            "{name}: {} users, {} tickets, {} orders, {} charges -> {}",
            moved.users,
            moved.tickets,
            moved.orders,
            moved.charges,
            plan.out.join(&name).display()
        );
    }
    Ok(())
}

/// ractor opens an info-level span for every actor it starts (two, with
/// its id formatted into each): 9 % of the request threads' CPU in a rush
/// of distinct tickets, where every BUY starts one. They are off unless
/// `RUST_LOG` names `ractor` itself; a request's own span still follows
/// its messages into the actors.
const QUIET_ACTOR_SPANS: &str = "ractor::actor=warn";

/// `RUST_LOG` (or `info`), with ractor's actor spans off unless it names them.
fn log_filter(rust_log: Option<&str>) -> EnvFilter {
    let spec = rust_log.filter(|s| !s.trim().is_empty()).unwrap_or("info");
    let (spec, filter) = match EnvFilter::try_new(spec) {
        Ok(filter) => (spec, filter),
        Err(e) => {
            eprintln!("ignoring RUST_LOG={spec:?}: {e}");
            ("info", EnvFilter::new("info"))
        }
    };
    let names_ractor = spec.split(',').any(|directive| {
        let target = directive.split(['=', '[']).next().unwrap_or("").trim();
        target == "ractor" || target.starts_with("ractor::")
    });
    if names_ractor {
        filter
    } else {
        filter.add_directive(QUIET_ACTOR_SPANS.parse().expect("a valid directive"))
    }
}

/// Logs go to stderr: JSON lines unless a person is watching (or asked).
fn init_logs(format: Option<LogFormat>) {
    use std::io::IsTerminal as _;
    let terminal = std::io::stderr().is_terminal();
    let filter = log_filter(std::env::var(EnvFilter::DEFAULT_ENV).ok().as_deref());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format.unwrap_or(if terminal {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    }) {
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .fmt_fields(JsonSpanFields)
            .init(),
        LogFormat::Pretty => logs.with_ansi(terminal).init(),
    }
}

/// Resolves on Ctrl-C or SIGTERM; the handlers are installed when this is
/// called. From then on a second signal ends the process at once.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    let first = signals()?;
    Ok(async move {
        first.await;
        tracing::info!("shutdown requested; a second signal stops at once");
        exit_on_second_signal();
    })
}

/// A clean stop waits for requests in flight and then writes sled's
/// snapshot, seconds after a rush; whoever signals again wants none of
/// that. Nothing is lost: every answered write is in the journal, and the
/// next start reads sled's log back instead. Watched on a thread of its
/// own, since the runtime is winding down.
fn exit_on_second_signal() {
    let watch = || -> std::io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            signals()?.await;
            Ok(())
        })
    };
    let _ = std::thread::Builder::new()
        .name("second-signal".into())
        .spawn(move || match watch() {
            Ok(()) => {
                tracing::warn!("second signal: stopping now, without the clean stop");
                std::process::exit(130);
            }
            Err(e) => tracing::warn!(error = %e, "a second signal cannot be watched for"),
        });
}

#[cfg(unix)]
fn signals() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = interrupt.recv() => {},
        }
    })
}

#[cfg(not(unix))]
fn signals() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

#[cfg(test)]
mod tests {
    use super::log_filter;

    #[test]
    fn actor_spans_are_off_unless_rust_log_names_them() {
        for rust_log in [
            None,
            Some(""),
            Some("debug"),
            Some("ractor_cluster=debug"),
            Some("ractor=nonsense"),
        ] {
            let filter = log_filter(rust_log).to_string();
            assert!(
                filter.contains("ractor::actor=warn"),
                "{rust_log:?}: {filter}"
            );
        }
        for rust_log in ["ractor=debug", "info,ractor::actor=trace"] {
            let filter = log_filter(Some(rust_log)).to_string();
            assert!(
                !filter.contains("ractor::actor=warn"),
                "{rust_log}: {filter}"
            );
        }
    }
}
