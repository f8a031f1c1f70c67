//! The reservation decision with a durable acknowledgement, three ways:
//!
//! - `actor`: boxoffice itself: the ticket's actor decides, the write goes
//!   through a sled transaction, the answer waits for a group-commit flush.
//! - `sled_tx`: the database-lock way: one sled transaction per request
//!   (read the ticket, refuse or write order + ticket), then its own flush.
//!   No actor: concurrent requests for one ticket conflict inside sled.
//! - `channel`: the raw limit: a tokio channel round trip to one task that
//!   owns a HashMap, no disk.
//!
//! Scenarios: one hot ticket × 1,000 concurrent buyers, and 10,000 tickets ×
//! 10 buyers. Criterion reports time per scenario (decisions/s through
//! `Throughput`); per-decision latency percentiles are printed at the end.
//!
//! `cargo bench --bench reservation` (BENCH_SPREAD_TICKETS=1000 for a quicker run).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use boxoffice::{
    config::Cli,
    domain::{Price, TicketId, Title, UserId},
    node::Node,
    ops::Ops,
};
use clap::Parser as _;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use tokio::runtime::Runtime;

const HOT_BUYERS: usize = 1_000;
const SPREAD_BUYERS: usize = 10;

fn spread_tickets() -> usize {
    std::env::var("BENCH_SPREAD_TICKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// Per-decision latencies, by benchmark name, for the closing table.
fn latencies() -> &'static Mutex<BTreeMap<String, Vec<Duration>>> {
    static L: OnceLock<Mutex<BTreeMap<String, Vec<Duration>>>> = OnceLock::new();
    L.get_or_init(Default::default)
}

fn record(name: &str, mut samples: Vec<Duration>) {
    let mut all = latencies().lock().unwrap();
    let entry = all.entry(name.to_owned()).or_default();
    // Keep memory bounded across many iterations.
    if entry.len() < 2_000_000 {
        entry.append(&mut samples);
    }
}

/// One way of deciding reservations.
#[derive(Clone)]
enum Way {
    Actor(Ops),
    SledTx(Arc<SledWay>),
    Channel(tokio::sync::mpsc::Sender<(u128, tokio::sync::oneshot::Sender<bool>)>),
}

struct SledWay {
    db: sled::Db,
    tickets: sled::Tree,
    orders: sled::Tree,
}

impl Way {
    /// Puts `n` fresh tickets up for sale; returns their ids.
    async fn tickets(&self, n: usize) -> Vec<TicketId> {
        match self {
            Way::Actor(ops) => {
                let tasks: Vec<_> = (0..n)
                    .map(|_| {
                        let ops = ops.clone();
                        tokio::spawn(async move {
                            let title = Title::parse("bench").unwrap();
                            let price = Price::from_cents(100).unwrap();
                            ops.create_ticket(UserId::new(), title, price).await
                        })
                    })
                    .collect();
                let mut ids = Vec::with_capacity(n);
                for t in tasks {
                    ids.push(t.await.unwrap().unwrap().id);
                }
                ids
            }
            Way::SledTx(s) => {
                let ids: Vec<TicketId> = (0..n).map(|_| TicketId::new()).collect();
                for id in &ids {
                    s.tickets.insert(id.as_bytes(), &[0u8]).unwrap();
                }
                s.db.flush_async().await.unwrap();
                ids
            }
            Way::Channel(_) => (0..n).map(|_| TicketId::new()).collect(),
        }
    }

    /// One BUY: true when this buyer got the ticket.
    async fn reserve(&self, ticket: TicketId, buyer: UserId, key: usize) -> bool {
        match self {
            Way::Actor(ops) => ops
                .buy(buyer, ticket, Some(key.to_string()), None)
                .await
                .is_ok(),
            Way::SledTx(s) => {
                let order = boxoffice::domain::OrderId::for_ticket(ticket);
                let won = (&s.tickets, &s.orders)
                    .transaction(|(tickets, orders)| {
                        use sled::transaction::ConflictableTransactionError as E;
                        match tickets.get(ticket.as_bytes())? {
                            Some(state) if state.as_ref() == [0u8] => {
                                orders.insert(order.as_bytes(), buyer.as_bytes())?;
                                tickets.insert(ticket.as_bytes(), order.as_bytes())?;
                                Ok(())
                            }
                            _ => Err(E::Abort(())),
                        }
                    })
                    .is_ok();
                // Durable acknowledgement: a winner waits for its own flush
                // (a refusal wrote nothing). Many concurrent `flush_async`
                // calls stall sled 0.34, so flush on the blocking pool.
                if won {
                    let db = s.db.clone();
                    tokio::task::spawn_blocking(move || db.flush())
                        .await
                        .unwrap()
                        .unwrap();
                }
                won
            }
            Way::Channel(tx) => {
                let (reply, rx) = tokio::sync::oneshot::channel();
                tx.send((u128::from_be_bytes(*ticket.as_bytes()), reply))
                    .await
                    .unwrap();
                rx.await.unwrap()
            }
        }
    }
}

use sled::Transactional;

struct Ways {
    rt: Runtime,
    ways: Vec<(&'static str, Way)>,
    _dirs: Vec<tempfile::TempDir>,
    _node: Node,
}

fn ways() -> Ways {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (ways, dirs, node) = rt.block_on(async {
        // The same node the server runs, without its HTTP port in use.
        let actor_dir = tempfile::tempdir().unwrap();
        let cli = Cli::parse_from([
            "boxoffice",
            "--http-addr",
            "127.0.0.1:0",
            "--data-dir",
            actor_dir.path().to_str().unwrap(),
            "--jwt-key",
            "bench-only-key",
            // Buyers here hold many tickets at once.
            "--max-holds-per-user",
            "0",
        ]);
        let node = Node::builder(cli.serve).start().await.unwrap();
        let ops = node.ops().clone();

        let sled_dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new()
            .path(sled_dir.path())
            .flush_every_ms(None)
            .open()
            .unwrap();
        let sled_way = SledWay {
            tickets: db.open_tree("tickets").unwrap(),
            orders: db.open_tree("orders").unwrap(),
            db,
        };

        let (tx, mut rx) =
            tokio::sync::mpsc::channel::<(u128, tokio::sync::oneshot::Sender<bool>)>(4096);
        tokio::spawn(async move {
            let mut held: HashMap<u128, bool> = HashMap::new();
            while let Some((ticket, reply)) = rx.recv().await {
                let slot = held.entry(ticket).or_insert(false);
                let won = !*slot;
                *slot = true;
                let _ = reply.send(won);
            }
        });
        (
            vec![
                ("actor", Way::Actor(ops)),
                ("sled_tx", Way::SledTx(Arc::new(sled_way))),
                ("channel", Way::Channel(tx)),
            ],
            vec![actor_dir, sled_dir],
            node,
        )
    });
    Ways {
        rt,
        ways,
        _dirs: dirs,
        _node: node,
    }
}

/// Runs one rush: every (ticket, buyer) pair at once; returns the wall time.
async fn rush(way: &Way, tickets: &[TicketId], buyers: usize, name: &str) -> Duration {
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(tickets.len() * buyers);
    for (k, t) in tickets.iter().enumerate() {
        for b in 0..buyers {
            let (way, t) = (way.clone(), *t);
            tasks.push(tokio::spawn(async move {
                let sent = Instant::now();
                let won = way.reserve(t, UserId::new(), k * buyers + b).await;
                (won, sent.elapsed())
            }));
        }
    }
    let mut wins = HashMap::<TicketId, usize>::new();
    let mut lat = Vec::with_capacity(tasks.len());
    for (i, task) in tasks.into_iter().enumerate() {
        let (won, l) = task.await.unwrap();
        lat.push(l);
        if won {
            *wins.entry(tickets[i / buyers]).or_default() += 1;
        }
    }
    let took = start.elapsed();
    assert!(
        wins.values().all(|n| *n == 1),
        "{name}: a ticket had two winners"
    );
    assert_eq!(
        wins.len(),
        tickets.len(),
        "{name}: every ticket has exactly one winner"
    );
    record(name, lat);
    took
}

fn bench(c: &mut Criterion) {
    let w = ways();
    let spread = spread_tickets();
    let mut group = c.benchmark_group("reserve");
    group
        .sample_size(10)
        .sampling_mode(criterion::SamplingMode::Flat)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1));
    for (scenario, tickets, buyers) in [
        ("hot_1x1000", 1, HOT_BUYERS),
        ("spread", spread, SPREAD_BUYERS),
    ] {
        group.throughput(Throughput::Elements((tickets * buyers) as u64));
        for (name, way) in &w.ways {
            let id = format!("{scenario}/{name}");
            group.bench_with_input(BenchmarkId::new(scenario, name), way, |b, way| {
                b.iter_custom(|iters| {
                    w.rt.block_on(async {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let ids = way.tickets(tickets).await;
                            total += rush(way, &ids, buyers, &id).await;
                        }
                        total
                    })
                })
            });
        }
    }
    group.finish();
}

fn percentiles() {
    println!("\nper-decision latency (all iterations):");
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>10}",
        "benchmark", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for (name, mut lat) in std::mem::take(&mut *latencies().lock().unwrap()) {
        lat.sort_unstable();
        let at =
            |q: f64| lat[((q * lat.len() as f64) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3;
        println!(
            "{name:<22} {:>10.3} {:>10.3} {:>10.3} {:>10.3}",
            at(0.5),
            at(0.9),
            at(0.99),
            at(1.0)
        );
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    percentiles();
}
