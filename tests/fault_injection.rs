//! A slow disk, a stalled one, and kill -9: nothing a reader was shown
//! may vanish in a crash, and a stalled disk costs a 503, not a hang.
//!
//! Nodes run with `tests/fault/slow_fsync.c` preloaded. A write's 2xx waits
//! until its batch is in the store's journal and synced; these tests check
//! that reads do too (a GET, and a peer's catalog follower pulling the event
//! log): whatever a reader was shown must still be there after a SIGKILL
//! and a restart.
//!
//! How the store meets the shim: the writer appends each batch to its
//! journal with write() and fdatasync()s it (slowed by the shim) before it
//! applies the batch to sled, whose own pwrites (delayed in the hold test)
//! are synced only when a journal segment fills. So a batch's changes are
//! visible to nobody while its sync is slow, and a kill during that wait
//! must leave no trace of them that anyone saw.

mod common;

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use common::{email, slow_disk_env, Client, Nodes, Opts, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

/// Added to every fsync and sync_file_range: long enough that readers
/// reliably catch commits that are not on disk yet.
const FSYNC_DELAY_MS: u64 = 300;
/// Added to every pwrite in the hold test (see the module comment).
const WRITE_DELAY_MS: u64 = 300;

/// The slow node and its healthy peer in the two-node test.
const A: usize = 0;
const B: usize = 1;

const ROUNDS: usize = 3;
const SELLERS: usize = 4;
/// Ticket creations in flight through the slow node during a burst.
const IN_FLIGHT: usize = 40;
/// The longest burst before the kill (the kill usually comes sooner).
const BURST: Duration = Duration::from_secs(3);
/// How long the catalogs may take to agree with the truth after a restart.
const CONVERGE: Duration = Duration::from_secs(10);
/// At most this many lines per kind of problem in a failure message.
const SHOW: usize = 20;

/// Ticket creations from many concurrent loops, until stopped or until the
/// node they go through dies.
struct Burst {
    stop: Arc<AtomicBool>,
    /// Ids of the creations answered 201 so far.
    acked: Arc<Mutex<Vec<String>>>,
    /// Each loop ends with `Some(answer)` if a creation got an unexpected answer.
    loops: Vec<JoinHandle<Option<String>>>,
}

impl Burst {
    fn start(sessions: &[Client], writers: usize, tag: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let loops = (0..writers)
            .map(|w| {
                let c = sessions[w % sessions.len()].clone();
                let (acked, stop, tag) = (acked.clone(), stop.clone(), tag.to_owned());
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let body = json!({ "title": format!("{tag} {w}.{n}"), "price": 7 });
                        match c
                            .try_send(Method::POST, "/api/tickets", Some(body), &[])
                            .await
                        {
                            Ok((StatusCode::CREATED, t)) => acked.lock().unwrap().push(id_of(&t)),
                            // An overloaded node may say "try again": not acknowledged.
                            Ok((StatusCode::SERVICE_UNAVAILABLE, _)) => {
                                tokio::time::sleep(Duration::from_millis(50)).await
                            }
                            Ok((status, body)) => return Some(format!("{status} {body}")),
                            // The node was killed with this request in flight.
                            Err(_) => return None,
                        }
                        n += 1;
                    }
                    None
                })
            })
            .collect();
        Self { stop, acked, loops }
    }

    fn acked(&self) -> Vec<String> {
        self.acked.lock().unwrap().clone()
    }

    /// Stops the loops; returns every acknowledged id.
    async fn finish(self, what: &str) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        for l in self.loops {
            if let Some(answer) = l.await.expect("create loop") {
                panic!("{what}: a ticket creation was answered {answer}");
            }
        }
        std::mem::take(&mut *self.acked.lock().unwrap())
    }
}

/// Creates a ticket, retrying "try again" answers; returns its id.
async fn create(seller: &Client, title: &str) -> String {
    for _ in 0..50 {
        let (status, body) = seller
            .post("/api/tickets", json!({ "title": title, "price": 9 }))
            .await;
        match status {
            StatusCode::CREATED => return id_of(&body),
            StatusCode::SERVICE_UNAVAILABLE => tokio::time::sleep(Duration::from_millis(200)).await,
            _ => panic!("creating {title:?}: {status} {body}"),
        }
    }
    panic!("creating {title:?}: still unavailable after 50 tries")
}

fn id_of(t: &Value) -> String {
    t["id"].as_str().expect("id").to_owned()
}

/// Every ticket `node` lists, page by page: a list without a cursor stops
/// at 1,000, and three rounds of bursts list more than that.
async fn listed(node: &Server) -> Vec<Value> {
    let client = node.client();
    let mut all = Vec::new();
    let mut next = Some("/api/tickets?limit=1000".to_owned());
    while let Some(path) = next.take() {
        let (page, link) = client.get_page(&path).await;
        all.extend(page.as_array().cloned().unwrap_or_default());
        next = link;
    }
    all
}

/// Tickets that node `viewer` lists but their home does not have with the
/// same version and hold, with what the home answered.
async fn phantoms(nodes: &Nodes, homes: &[Client], viewer: usize) -> Vec<String> {
    let mut bad = Vec::new();
    for t in listed(&nodes.servers[viewer]).await {
        let id = id_of(&t);
        let home = nodes.home(&id);
        let (status, truth) = homes[home].get(&format!("/api/tickets/{id}")).await;
        if status != StatusCode::OK
            || truth["version"] != t["version"]
            || truth["orderId"] != t["orderId"]
        {
            bad.push(format!(
                "{id}: node-{viewer} lists version {} orderId {}; its home node-{home} answers {status} {truth}",
                t["version"], t["orderId"]
            ));
        }
    }
    bad
}

/// Ids in `ids` that some node does not list.
async fn unlisted(nodes: &Nodes, ids: &[String]) -> Vec<String> {
    let mut missing = Vec::new();
    for (i, node) in nodes.servers.iter().enumerate() {
        let shown: HashSet<String> = listed(node).await.iter().map(id_of).collect();
        for id in ids.iter().filter(|id| !shown.contains(*id)) {
            missing.push(format!(
                "{id} (home node-{}) is not listed by node-{i}",
                nodes.home(id)
            ));
        }
    }
    missing
}

/// A ticket of node-0's that node-1 did not list before this round and
/// whose creation has not been acknowledged.
fn new_on_a(nodes: &Nodes, before: &HashSet<String>, acked: &[String], id: &String) -> bool {
    nodes.home(id) == A && !before.contains(id) && !acked.contains(id)
}

fn section(title: &str, lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut out = format!("\n{} {title}:", lines.len());
    for l in lines.iter().take(SHOW) {
        out.push_str("\n  ");
        out.push_str(l);
    }
    if lines.len() > SHOW {
        out.push_str(&format!("\n  ... and {} more", lines.len() - SHOW));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_lists_no_phantom_tickets_after_a_slow_node_is_killed_mid_burst() {
    let started = Instant::now();
    let mut nodes = Nodes::start(2, |i| Opts {
        extra_env: if i == A {
            slow_disk_env(FSYNC_DELAY_MS, 0)
        } else {
            Vec::new()
        },
        ..Opts::default()
    });
    nodes.all_ready().await;
    let sellers: Vec<String> = (0..SELLERS).map(|i| email(&format!("seller{i}"))).collect();
    for s in &sellers {
        nodes.servers[B].client().sign_up(s).await;
    }
    // Every ticket creation that got a 201, over all rounds.
    let mut acknowledged: Vec<String> = Vec::new();

    for round in 1..=ROUNDS {
        let round_started = Instant::now();
        let mut sessions = Vec::new();
        for s in &sellers {
            sessions.push(nodes.servers[A].session(s).await);
        }
        let listed_before: HashSet<String> =
            listed(&nodes.servers[B]).await.iter().map(id_of).collect();

        // A burst of creations through the slow node while its peer follows
        // its event log. Kill it the moment the peer lists one of its new
        // tickets whose creation is not acknowledged yet (that one may not
        // be on disk), or after a while if that never happens.
        let burst = Burst::start(&sessions, IN_FLIGHT, &format!("R{round}"));
        let burst_started = Instant::now();
        let mut a_seq_before_kill = 0;
        let trigger = loop {
            let (list, stats) = tokio::join!(listed(&nodes.servers[B]), nodes.servers[A].stats());
            a_seq_before_kill = stats["lastEventSeq"].as_u64().unwrap_or(a_seq_before_kill);
            let acked_now = burst.acked();
            if let Some(id) = list
                .iter()
                .map(id_of)
                .find(|id| new_on_a(&nodes, &listed_before, &acked_now, id))
            {
                break format!("node-1 listed {id} before its creation was acknowledged");
            }
            if burst_started.elapsed() > BURST {
                break format!("{} creations were acknowledged", acked_now.len());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        let killed_after = burst_started.elapsed();
        nodes.servers[A].kill9();
        let acked_now = burst
            .finish(&format!("round {round}, through node-0"))
            .await;
        let unacked_listed = listed(&nodes.servers[B])
            .await
            .iter()
            .map(id_of)
            .filter(|id| new_on_a(&nodes, &listed_before, &acked_now, id))
            .count();
        acknowledged.extend(acked_now.iter().cloned());

        nodes.servers[A].restart();
        nodes.all_ready().await;
        let a_seq_after_restart = nodes.servers[A].stats().await["lastEventSeq"]
            .as_u64()
            .expect("lastEventSeq");
        let context = format!(
            "round {round}: node-0 was killed {:.1}s into the burst, when {trigger}; {} \
             creations were acknowledged in this round; node-1 listed {unacked_listed} unacknowledged node-0 ticket(s) at \
             the kill; node-0's stats showed lastEventSeq {a_seq_before_kill} shortly before \
             the kill and {a_seq_after_restart} after the restart",
            killed_after.as_secs_f64(),
            acked_now.len()
        );
        eprintln!("{context}");
        let homes: Vec<Client> = nodes.servers.iter().map(Server::client).collect();

        // Acknowledged = durable.
        let mut lost = Vec::new();
        for id in &acknowledged {
            let home = nodes.home(id);
            let (status, body) = homes[home].get(&format!("/api/tickets/{id}")).await;
            if status != StatusCode::OK {
                lost.push(format!("{id} (home node-{home}): {status} {body}"));
            }
        }

        // New tickets on the restarted node must reach its peer too: a
        // follower whose cursor ran ahead of the restarted log skips them.
        let seller = nodes.servers[A].session(&sellers[0]).await;
        let mut fresh = Vec::new();
        for i in 0..30 {
            fresh.push(create(&seller, &format!("After R{round} #{i}")).await);
            if fresh.iter().filter(|id| nodes.home(id) == A).count() >= 3 {
                break;
            }
        }

        // Every listed ticket exists on its home as listed, and everything
        // acknowledged is listed everywhere (allowing the catalogs a moment
        // to catch up; a phantom or a skipped event never resolves).
        let deadline = Instant::now() + CONVERGE;
        let (ghosts, missing) = loop {
            let mut ghosts = phantoms(&nodes, &homes, B).await;
            ghosts.extend(phantoms(&nodes, &homes, A).await);
            let mut missing = unlisted(&nodes, &acknowledged).await;
            missing.extend(unlisted(&nodes, &fresh).await);
            if (ghosts.is_empty() && missing.is_empty()) || Instant::now() > deadline {
                break (ghosts, missing);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        if !(lost.is_empty() && ghosts.is_empty() && missing.is_empty()) {
            let a_log: HashMap<String, u64> = nodes.servers[A]
                .events(a_seq_after_restart)
                .await
                .iter()
                .map(|e| {
                    (
                        e["entityId"].as_str().unwrap_or_default().to_owned(),
                        e["seq"].as_u64().unwrap_or_default(),
                    )
                })
                .collect();
            let missing: Vec<String> = missing
                .into_iter()
                .map(|m| {
                    let id = m.split(' ').next().unwrap_or_default();
                    match a_log.get(id) {
                        Some(seq) => format!("{m}; node-0 logged it as seq {seq}"),
                        None => m,
                    }
                })
                .collect();
            panic!(
                "{context}{}{}{}",
                section("acknowledged ticket(s) are gone after the restart", &lost),
                section(
                    &format!(
                        "listed ticket(s) that their home does not have {}s after the \
                         restart (phantoms: a peer was shown writes that never reached the disk)",
                        CONVERGE.as_secs()
                    ),
                    &ghosts
                ),
                section(
                    &format!(
                        "acknowledged ticket(s) still missing from a list {}s later (events \
                         skipped: the restarted node reused sequence numbers its peer had seen)",
                        CONVERGE.as_secs()
                    ),
                    &missing
                ),
            );
        }
        acknowledged.extend(fresh);
        eprintln!(
            "round {round} passed in {:.1}s",
            round_started.elapsed().as_secs_f64()
        );
    }
    eprintln!("took {:.1}s", started.elapsed().as_secs_f64());
}

/// A disk that stops answering syncs: a sign-up answers 503 when an
/// actor's caller would (10 s) instead of waiting as long as the disk, reads
/// go on meanwhile, and once the disk is back the late write has landed.
#[tokio::test]
async fn a_stalled_disk_answers_503_and_the_write_lands_once_it_is_back() {
    let stall_dir = tempfile::tempdir().unwrap();
    let stall = stall_dir.path().join("stall");
    let mut extra_env = slow_disk_env(0, 0);
    extra_env.push(("BOXOFFICE_STALL_FILE".into(), stall.display().to_string()));
    let server = Server::with(Opts {
        extra_env,
        ..Opts::default()
    });
    let seller = server.client();
    seller.sign_up(&email("seller")).await;
    let ticket = id_of(&seller.create_ticket("Before the stall", json!(3)).await);

    std::fs::write(&stall, b"").unwrap();
    let late = email("late");
    let answer = tokio::time::timeout(
        Duration::from_secs(60),
        server.client().post(
            "/api/users/signup",
            json!({ "email": late, "password": "password123" }),
        ),
    )
    .await
    .expect("an answer while the disk is stalled, not a hang");
    assert_eq!(answer.0, StatusCode::SERVICE_UNAVAILABLE, "{}", answer.1);
    assert!(
        answer.1["errors"][0]["message"].is_string(),
        "the uniform error body: {}",
        answer.1
    );
    let (status, shown) = seller.get(&format!("/api/tickets/{ticket}")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "reads are served during the stall: {shown}"
    );

    // Trying again, as a 503 invites: writes are taken in order, so the
    // late one lands first and this finds the account made.
    std::fs::remove_file(&stall).unwrap();
    let (status, again) = server
        .client()
        .post(
            "/api/users/signup",
            json!({ "email": late, "password": "password123" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{again}");
    assert_eq!(again["errors"][0]["message"], "Email in use");
    server.client().sign_in(&late).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_that_a_reader_saw_survives_kill_9() {
    let started = Instant::now();
    let mut server = Server::with(Opts {
        extra_env: slow_disk_env(FSYNC_DELAY_MS, WRITE_DELAY_MS),
        ..Opts::default()
    });
    let seller_addr = email("seller");
    let buyer_addr = email("buyer");
    server.client().sign_up(&seller_addr).await;
    server.client().sign_up(&buyer_addr).await;
    let mut outcomes: HashMap<&str, usize> = HashMap::new();

    for round in 1..=ROUNDS {
        let seller = server.session(&seller_addr).await;
        let buyer = server.session(&buyer_addr).await;
        // Acknowledged, so on disk.
        let ticket = id_of(
            &seller
                .create_ticket(&format!("Round {round}"), json!(12))
                .await,
        );

        // BUY, while a reader watches the ticket; kill -9 the moment the
        // reader is shown the hold.
        let buy = tokio::spawn({
            let (buyer, ticket) = (buyer.clone(), ticket.clone());
            async move {
                buyer
                    .try_send(
                        Method::POST,
                        "/api/orders",
                        Some(json!({ "ticketId": ticket })),
                        &[],
                    )
                    .await
            }
        });
        let reader = server.client();
        let seen = loop {
            let (status, t) = reader.get(&format!("/api/tickets/{ticket}")).await;
            assert_eq!(status, StatusCode::OK, "{t}");
            if !t["orderId"].is_null() {
                break Some(t);
            }
            if buy.is_finished() {
                break None;
            }
        };
        server.kill9();
        let bought = buy.await.expect("buy task");
        server.restart();

        let (order_id, how) = match (&seen, &bought) {
            (Some(t), _) => (
                t["orderId"].as_str().expect("orderId").to_owned(),
                "seen by a reader",
            ),
            (None, Ok((StatusCode::CREATED, order))) => (id_of(order), "acknowledged"),
            (None, other) => {
                panic!("round {round}: the BUY was neither seen nor acknowledged: {other:?}")
            }
        };
        if let (Some(t), Ok((StatusCode::CREATED, order))) = (&seen, &bought) {
            assert_eq!(t["orderId"], order["id"], "the hold seen is the order made");
        }
        *outcomes.entry(how).or_default() += 1;

        let buyer = server.session(&buyer_addr).await;
        let (t_status, t) = server.client().get(&format!("/api/tickets/{ticket}")).await;
        let (o_status, o) = buyer.get(&format!("/api/orders/{order_id}")).await;
        let what = format!(
            "round {round}: ticket {ticket} was held by order {order_id} ({how}; the BUY \
             itself got {}), then kill -9; after the restart the ticket is {t_status} {t} \
             and the order is {o_status} {o}",
            match &bought {
                Ok((status, _)) => status.to_string(),
                Err(e) => format!("no answer: {e}"),
            }
        );
        assert_eq!(t_status, StatusCode::OK, "{what}");
        assert_eq!(t["orderId"], json!(order_id), "{what}");
        assert_eq!(o_status, StatusCode::OK, "{what}");
        assert_eq!(o["id"], json!(order_id), "{what}");
        eprintln!("round {round}: hold {how}, still there after kill -9");
    }
    eprintln!(
        "outcomes {outcomes:?}; took {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
