//! boxoffice-load: the BUY-rush load tool for boxoffice.
//!
//! A separate crate (and binary) so the server does not link an HTTP client
//! or a progress bar; it talks to the nodes only through their public HTTP
//! API and shares no code with the server. Run it against running nodes:
//!
//! ```sh
//! cargo run --release -p boxoffice-load -- --target http://127.0.0.1:3000 --scenario flash --tickets 2000 --buyers 10
//! ```
//!
//! Sets up a seller, buyers and tickets through the public API, fires the
//! rush spread over every target URL, then checks from the servers' own
//! state that no ticket ended up with two live orders, and reports
//! decisions/s and latency percentiles (table, JSON, SVG plot).

mod client;
mod report;

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use rand::seq::SliceRandom;
use tokio::sync::Barrier;

use self::client::{Api, Outcome};
pub use self::report::Report;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Scenario {
    /// Every buyer presses BUY on one ticket at the same instant.
    Hot,
    /// Many tickets; every buyer tries every ticket, in their own random order.
    Flash,
    /// Browsing (list and show) with buying mixed in, for --duration.
    Mixed,
    /// Pages of 50 tickets for sale, for --duration: half the first page,
    /// half a page behind a cursor at a random ticket. No buying.
    Browse,
}

/// Load a running cluster with a BUY rush and report decisions/s,
/// latency percentiles and double holds (see docs/BENCHMARKS.md).
///
/// Exits non-zero if any ticket ended with two live orders.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "boxoffice-load",
    version,
    after_help = "Logging: set RUST_LOG (default \"info\")."
)]
pub struct LoadArgs {
    /// Base URL(s) of the node(s) to load, comma-separated; requests are
    /// spread over all of them.
    #[arg(long, value_delimiter = ',', required = true)]
    pub target: Vec<String>,
    #[arg(long, value_enum, default_value = "hot")]
    pub scenario: Scenario,
    /// Tickets to put up for sale (hot uses the first only).
    #[arg(long, default_value_t = 1)]
    pub tickets: usize,
    /// Buyers to sign up.
    #[arg(long, default_value_t = 100)]
    pub buyers: usize,
    /// Stop the rush after this many seconds (mixed runs this long; default 10).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Requests in flight at once (hot ignores it: everyone goes at once).
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Write the results as JSON here, and an SVG latency plot beside it.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Label for the results (e.g. "boxoffice 1 node").
    #[arg(long, default_value = "boxoffice")]
    pub label: String,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// What one BUY did.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// When the request was sent.
    pub sent: Instant,
    pub latency: Duration,
    pub outcome: Outcome,
}

/// From the first BUY sent to the last answer received: the rush itself,
/// without set-up or connection warm-up.
fn rush_window(samples: &[Sample]) -> Duration {
    let first = samples.iter().map(|s| s.sent).min();
    let last = samples.iter().map(|s| s.sent + s.latency).max();
    match (first, last) {
        (Some(f), Some(l)) => l - f,
        _ => Duration::ZERO,
    }
}

pub async fn run(args: LoadArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.tickets >= 1 && args.buyers >= 1,
        "need at least one ticket and one buyer"
    );
    let api = Api::new(&args.target)?;
    let run_id = format!("{:x}", rand::random::<u32>());
    let bar = |len: usize, what: &str| report::progress(len, what, args.quiet);

    // --- setup ---------------------------------------------------------
    let seller = api
        .sign_up(0, &format!("seller-{run_id}@load.test"))
        .await
        .context("signing up the seller")?;
    let pb = bar(args.tickets, "creating tickets");
    let tickets = api
        .for_each(args.tickets, 64, |i| {
            let api = api.clone();
            let seller = seller.clone();
            let pb = pb.clone();
            async move {
                let t = api
                    .create_ticket(
                        i,
                        &seller,
                        &format!("Load ticket {i}"),
                        1 + (i % 500) as u64,
                    )
                    .await;
                pb.inc(1);
                t
            }
        })
        .await?;
    pb.finish_and_clear();
    let pb = bar(args.buyers, "signing up buyers");
    let buyers = api
        .for_each(args.buyers, 32, |i| {
            let api = api.clone();
            let pb = pb.clone();
            let email = format!("buyer-{run_id}-{i}@load.test");
            async move {
                let b = api.sign_up(i, &email).await;
                pb.inc(1);
                b
            }
        })
        .await?;
    pb.finish_and_clear();

    // --- the rush ------------------------------------------------------
    let deadline = args
        .duration
        .map(|s| Instant::now() + Duration::from_secs(s));
    let started = Instant::now();
    let (samples, reads) = match args.scenario {
        Scenario::Hot => (hot(&api, &tickets[0], &buyers, &bar).await, 0),
        Scenario::Flash => (
            flash(&api, &tickets, &buyers, args.concurrency, deadline, &bar).await,
            0,
        ),
        Scenario::Mixed => {
            let until = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(10));
            mixed(&api, &tickets, &buyers, args.concurrency, until, &bar).await
        }
        Scenario::Browse => {
            let until = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(10));
            (
                browse(&api, &tickets, args.concurrency, until, &bar).await,
                0,
            )
        }
    };
    // Mixed counts reads too, so it keeps the wall clock of the whole run.
    let elapsed = match args.scenario {
        Scenario::Mixed => started.elapsed(),
        _ => rush_window(&samples),
    };

    // --- the servers' own account of what happened ----------------------
    let pb = bar(buyers.len(), "verifying");
    let double_holds = api.double_holds(&buyers, &pb).await?;
    pb.finish_and_clear();

    let report = Report::new(&args, samples, reads, elapsed, double_holds);
    report.print();
    if let Some(path) = &args.json {
        report.write(path)?;
    }
    Ok(report)
}

async fn hot(
    api: &Api,
    ticket: &str,
    buyers: &[client::Buyer],
    bar: &impl Fn(usize, &str) -> indicatif::ProgressBar,
) -> Vec<Sample> {
    let pb = bar(buyers.len(), "hot ticket rush");
    let start = Arc::new(Barrier::new(buyers.len()));
    let tasks: Vec<_> = buyers
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let (api, b, start, pb, ticket) = (
                api.clone(),
                b.clone(),
                start.clone(),
                pb.clone(),
                ticket.to_owned(),
            );
            tokio::spawn(async move {
                let mut line = api.line(i);
                line.open().await;
                start.wait().await;
                let s = line.buy(&b, &ticket).await;
                pb.inc(1);
                s
            })
        })
        .collect();
    let samples = join(tasks).await;
    pb.finish_and_clear();
    samples
}

/// `concurrency` connections, each sending its next BUY as soon as the last
/// is answered, through one list of every buyer's tickets (each buyer's in
/// their own random order, the buyers' lists interleaved).
async fn flash(
    api: &Api,
    tickets: &[String],
    buyers: &[client::Buyer],
    concurrency: usize,
    deadline: Option<Instant>,
    bar: &impl Fn(usize, &str) -> indicatif::ProgressBar,
) -> Vec<Sample> {
    let orders: Vec<Vec<usize>> = buyers
        .iter()
        .map(|_| {
            let mut order: Vec<usize> = (0..tickets.len()).collect();
            order.shuffle(&mut rand::rng());
            order
        })
        .collect();
    let work: Arc<[(usize, usize)]> = (0..tickets.len())
        .flat_map(|k| orders.iter().enumerate().map(move |(b, o)| (b, o[k])))
        .collect();
    let pb = bar(work.len(), "flash sale");
    let next = Arc::new(AtomicUsize::new(0));
    let width = concurrency.clamp(1, work.len());
    let start = Arc::new(Barrier::new(width));
    let (tickets, buyers): (Arc<[String]>, Arc<[client::Buyer]>) = (tickets.into(), buyers.into());
    let workers: Vec<_> = (0..width)
        .map(|w| {
            let mut line = api.line(w);
            let (work, next, start, pb) = (work.clone(), next.clone(), start.clone(), pb.clone());
            let (tickets, buyers) = (tickets.clone(), buyers.clone());
            tokio::spawn(async move {
                line.open().await;
                start.wait().await;
                let mut out = Vec::new();
                while deadline.is_none_or(|d| Instant::now() < d) {
                    let Some(&(b, t)) = work.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    out.push(line.buy(&buyers[b], &tickets[t]).await);
                    pb.inc(1);
                }
                out
            })
        })
        .collect();
    let samples = join_runs(workers).await;
    pb.finish_and_clear();
    samples
}

async fn mixed(
    api: &Api,
    tickets: &[String],
    buyers: &[client::Buyer],
    concurrency: usize,
    until: Instant,
    bar: &impl Fn(usize, &str) -> indicatif::ProgressBar,
) -> (Vec<Sample>, usize) {
    let (pb, ticker) = seconds_bar(until, "mixed browsing and buying (seconds)", bar);
    let reads = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|w| {
            let (api, tickets, buyers, reads) = (
                api.clone(),
                tickets.to_vec(),
                buyers.to_vec(),
                reads.clone(),
            );
            tokio::spawn(async move {
                let mut out = Vec::new();
                let mut line = api.line(w);
                let mut n = w;
                while Instant::now() < until {
                    n += 1;
                    let t = &tickets[rand::random_range(0..tickets.len())];
                    match rand::random_range(0..10) {
                        0 => {
                            api.list(n).await;
                            reads.fetch_add(1, Ordering::Relaxed);
                        }
                        1..=7 => {
                            api.show(n, t).await;
                            reads.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => out.push(line.buy(&buyers[n % buyers.len()], t).await),
                    }
                }
                out
            })
        })
        .collect();
    let samples = join_runs(workers).await;
    let _ = ticker.await;
    pb.finish_and_clear();
    (samples, reads.load(Ordering::Relaxed))
}

/// Shows a ticker of the seconds left until `until`.
fn seconds_bar(
    until: Instant,
    what: &str,
    bar: &impl Fn(usize, &str) -> indicatif::ProgressBar,
) -> (indicatif::ProgressBar, tokio::task::JoinHandle<()>) {
    let secs = until.saturating_duration_since(Instant::now()).as_secs() as usize;
    let pb = bar(secs.max(1), what);
    let ticker = {
        let pb = pb.clone();
        tokio::spawn(async move {
            while Instant::now() < until {
                tokio::time::sleep(Duration::from_secs(1)).await;
                pb.inc(1);
            }
        })
    };
    (pb, ticker)
}

async fn browse(
    api: &Api,
    tickets: &[String],
    concurrency: usize,
    until: Instant,
    bar: &impl Fn(usize, &str) -> indicatif::ProgressBar,
) -> Vec<Sample> {
    let (pb, ticker) = seconds_bar(until, "browsing pages (seconds)", bar);
    let tickets: Arc<[String]> = tickets.into();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|w| {
            let (api, tickets) = (api.clone(), tickets.clone());
            tokio::spawn(async move {
                let mut out = Vec::new();
                let mut n = w;
                while Instant::now() < until {
                    n += 1;
                    let after = rand::random_bool(0.5)
                        .then(|| tickets[rand::random_range(0..tickets.len())].as_str());
                    out.push(api.page(n, PAGE, after).await);
                }
                out
            })
        })
        .collect();
    let samples = join_runs(workers).await;
    let _ = ticker.await;
    pb.finish_and_clear();
    samples
}

/// Tickets per page in the browse scenario.
const PAGE: usize = 50;

/// The samples of every task that ran many requests, in task order.
async fn join_runs(tasks: Vec<tokio::task::JoinHandle<Vec<Sample>>>) -> Vec<Sample> {
    let mut out = Vec::new();
    for t in tasks {
        if let Ok(s) = t.await {
            out.extend(s);
        }
    }
    out
}

async fn join(tasks: Vec<tokio::task::JoinHandle<Sample>>) -> Vec<Sample> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok(s) = t.await {
            out.push(s);
        }
    }
    out
}
