//! Three real nodes on loopback: one owner per ticket while nodes die, hang
//! and come back.

mod common;

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use common::{
    cluster_env, email, error_message, eventually, free_port, Client, Nodes, Opts, Server, COOKIE,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

const TTL: u64 = 8;

/// A request that must fail fast with 503 and Retry-After.
async fn assert_503_fast(what: &str, req: impl std::future::Future<Output = (StatusCode, Value)>) {
    let t = Instant::now();
    let (status, body) = req.await;
    let took = t.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    error_message(&body);
    assert!(took < Duration::from_secs(2), "{what}: 503 took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_one_owner_through_crash_hang_and_restart() {
    let mut nodes = Nodes::start(3, |_| Opts {
        order_ttl_secs: TTL,
        ..Opts::default()
    });
    nodes.all_ready().await;

    // A seller, and tickets created through every node.
    let seller_addr = email("seller");
    nodes.servers[0].client().sign_up(&seller_addr).await;
    // At least 12, and more until every node is home to some (placement
    // is by id, so 12 alone leave a node without one about 2% of the time).
    let mut tickets: Vec<String> = Vec::new();
    let mut i = 0;
    while i < 12 || (0..3).any(|h| !tickets.iter().any(|t| nodes.home(t) == h)) {
        assert!(i < 120, "120 tickets and still a node without one");
        let via = &nodes.servers[i % 3];
        let seller = via.session(&seller_addr).await;
        tickets.push(
            seller.create_ticket(&format!("Seat {i}"), json!(20)).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        i += 1;
    }
    // Every node lists every ticket (from its catalog).
    for s in &nodes.servers {
        eventually(Duration::from_secs(10), "catalog to fill", || async {
            let (_, list) = s.client().get("/api/tickets").await;
            (list.as_array().map_or(0, Vec::len) == tickets.len()).then_some(())
        })
        .await;
    }

    // Buyers, signed up through different nodes, each with a session on every node.
    let mut buyers: Vec<(String, Vec<Client>)> = Vec::new();
    for b in 0..9 {
        let addr = email(&format!("buyer{b}"));
        nodes.servers[b % 3].client().sign_up(&addr).await;
        let mut per_node = Vec::new();
        for s in &nodes.servers {
            per_node.push(s.session(&addr).await);
        }
        buyers.push((addr, per_node));
    }

    // Simultaneous BUYs for the first 9 tickets through all three nodes.
    let rush_tickets = &tickets[..9];
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(rush_tickets.len() * buyers.len()));
    let mut rush = Vec::new();
    for t in rush_tickets {
        for (b, (_, sessions)) in buyers.iter().enumerate() {
            let c = sessions[b % 3].clone();
            let t = t.clone();
            let start = start.clone();
            rush.push(tokio::spawn(async move {
                start.wait().await;
                (t.clone(), c.buy(&t).await)
            }));
        }
    }
    let mut winners: HashMap<String, usize> = HashMap::new();
    for r in rush {
        let (t, (status, body)) = r.await.unwrap();
        match status {
            StatusCode::CREATED => *winners.entry(t).or_default() += 1,
            StatusCode::BAD_REQUEST => {
                assert_eq!(error_message(&body), "Ticket is already reserved")
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    for t in rush_tickets {
        assert_eq!(winners.get(t), Some(&1), "exactly one winner for {t}");
    }

    // --- SIGKILL the home of some tickets ------------------------------
    let victim = 2;
    let victims: Vec<&String> = tickets.iter().filter(|t| nodes.home(t) == victim).collect();
    let survivors: Vec<&String> = tickets[9..]
        .iter()
        .filter(|t| nodes.home(t) != victim)
        .collect();
    // A hold on the victim's free ticket, to see it expire after the restart.
    let (hold_ticket, hold) = {
        let t = tickets[9..].iter().find(|t| nodes.home(t) == victim);
        match t {
            Some(t) => {
                let (status, order) = buyers[0].1[0].buy(t).await;
                assert_eq!(status, StatusCode::CREATED, "{order}");
                (Some(t.clone()), Some(order))
            }
            None => (None, None),
        }
    };
    nodes.servers[victim].kill9();
    let c0 = &buyers[1].1[0];
    for t in &victims {
        assert_503_fast(
            "GET a dead node's ticket",
            c0.get(&format!("/api/tickets/{t}")),
        )
        .await;
        assert_503_fast("BUY a dead node's ticket", c0.buy(t)).await;
    }
    // The rest of the cluster still works.
    for (i, t) in survivors.iter().enumerate() {
        // Through either live node, whichever is not the ticket's home or is.
        let via = [0, 1][i % 2];
        let (status, body) = buyers[1].1[via].buy(t).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = nodes.servers[0].client().get("/api/tickets").await;
    assert_eq!(status, StatusCode::OK, "listing is local: {body}");
    let not_ready = eventually(
        Duration::from_secs(2),
        "readyz to report the dead peer",
        || async {
            let res = reqwest::Client::new()
                .get(format!("{}/readyz", nodes.servers[0].url))
                .send()
                .await
                .unwrap();
            (res.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(res)
        },
    )
    .await;
    assert!(not_ready.headers().contains_key("retry-after"));

    // --- restart it: it rejoins and serves its shards again ------------
    nodes.servers[victim].restart();
    nodes.all_ready().await;
    for t in &victims {
        let (status, body) = c0.get(&format!("/api/tickets/{t}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    if let (Some(t), Some(order)) = (&hold_ticket, &hold) {
        let id = order["id"].as_str().unwrap();
        let owner = &buyers[0].1[1];
        eventually(
            Duration::from_secs(TTL + 20),
            "the hold on the restarted node to lapse",
            || async {
                let (_, o) = owner.get(&format!("/api/orders/{id}")).await;
                (o["status"] == "cancelled").then_some(())
            },
        )
        .await;
        let (_, ticket) = c0.get(&format!("/api/tickets/{t}")).await;
        assert_eq!(ticket["orderId"], Value::Null);
    }

    // --- SIGSTOP a node: a hang, not a disconnect ----------------------
    let hung = 1;
    let hung_tickets: Vec<&String> = tickets.iter().filter(|t| nodes.home(t) == hung).collect();
    nodes.servers[hung].signal(libc::SIGSTOP);
    let c2 = &buyers[2].1[0];
    for t in &hung_tickets {
        assert_503_fast(
            "GET a hung node's ticket",
            c2.get(&format!("/api/tickets/{t}")),
        )
        .await;
    }
    nodes.servers[hung].signal(libc::SIGCONT);
    for t in &hung_tickets {
        eventually(
            Duration::from_secs(15),
            "the hung node to answer again",
            || async {
                let (status, _) = c2.get(&format!("/api/tickets/{t}")).await;
                (status == StatusCode::OK).then_some(())
            },
        )
        .await;
    }

    // --- afterwards: no ticket has two live orders ---------------------
    let mut live: HashMap<String, usize> = HashMap::new();
    for (_, sessions) in &buyers {
        let (status, orders) = sessions[0].get("/api/orders").await;
        assert_eq!(status, StatusCode::OK);
        for o in orders.as_array().unwrap() {
            if o["status"] == "created" || o["status"] == "complete" {
                *live
                    .entry(o["ticket"]["id"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
    }
    for (t, n) in &live {
        assert_eq!(*n, 1, "ticket {t} has {n} live orders");
    }
}

#[tokio::test]
async fn a_node_with_the_wrong_cookie_is_refused() {
    // A real two-node cluster config pointing at one listener; first the
    // right cookie (it joins), then a wrong one (it never does).
    let target_addr = format!("127.0.0.1:{}", free_port());
    let peers_for = |me: &str, me_addr: &str| format!("{me}@{me_addr},target@{target_addr}");
    let target_peers = format!("target@{target_addr},aaa@127.0.0.1:1");
    let target = Server::with(Opts {
        extra_env: cluster_env("target", &target_addr, &target_peers, COOKIE),
        ..Opts::default()
    });

    let good_addr = format!("127.0.0.1:{}", free_port());
    let good = Server::with(Opts {
        extra_env: cluster_env("aaa", &good_addr, &peers_for("aaa", &good_addr), COOKIE),
        ..Opts::default()
    });
    eventually(
        Duration::from_secs(20),
        "the right cookie to connect",
        || async {
            let (status, _) = good.client().get("/readyz").await;
            (status == StatusCode::OK).then_some(())
        },
    )
    .await;
    drop(good);

    let bad_addr = format!("127.0.0.1:{}", free_port());
    let bad = Server::with(Opts {
        extra_env: cluster_env(
            "aaa",
            &bad_addr,
            &peers_for("aaa", &bad_addr),
            "a-completely-different-cookie",
        ),
        ..Opts::default()
    });
    let deadline = Instant::now() + Duration::from_secs(4);
    while Instant::now() < deadline {
        let (status, body) = bad.client().get("/readyz").await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "wrong cookie must not connect: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(target);
}

/// Writes a CA, a certificate for 127.0.0.1 signed by it, and the key, as
/// PEM files; returns (cert, key, ca) paths.
fn tls_files(
    dir: &std::path::Path,
    ca: &rcgen::Issuer<'_, rcgen::KeyPair>,
    ca_pem: &str,
    tag: &str,
) -> [std::path::PathBuf; 3] {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    let paths = [
        dir.join(format!("{tag}.crt")),
        dir.join(format!("{tag}.key")),
        dir.join(format!("{tag}-ca.crt")),
    ];
    std::fs::write(&paths[0], cert.pem()).unwrap();
    std::fs::write(&paths[1], key.serialize_pem()).unwrap();
    std::fs::write(&paths[2], ca_pem).unwrap();
    paths
}

fn new_ca() -> (rcgen::Issuer<'static, rcgen::KeyPair>, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    (rcgen::Issuer::new(params, key), cert.pem())
}

fn tls_env(files: &[std::path::PathBuf; 3]) -> Vec<(String, String)> {
    [
        "BOXOFFICE_CLUSTER_TLS_CERT",
        "BOXOFFICE_CLUSTER_TLS_KEY",
        "BOXOFFICE_CLUSTER_TLS_CA",
    ]
    .iter()
    .zip(files)
    .map(|(k, v)| ((*k).to_owned(), v.display().to_string()))
    .collect()
}

#[tokio::test]
async fn nodes_talk_over_mutual_tls_and_refuse_strangers() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, ca_pem) = new_ca();
    let addrs = [
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    ];
    let peers = format!("aa@{},bb@{}", addrs[0], addrs[1]);
    let start = |name: &str, addr: &str, tls: Vec<(String, String)>| {
        let mut env = cluster_env(name, addr, &peers, COOKIE);
        env.extend(tls);
        Server::with(Opts {
            extra_env: env,
            ..Opts::default()
        })
    };
    let bb = start(
        "bb",
        &addrs[1],
        tls_env(&tls_files(dir.path(), &ca, &ca_pem, "bb")),
    );

    // A peer with a certificate from the same CA joins.
    let aa = start(
        "aa",
        &addrs[0],
        tls_env(&tls_files(dir.path(), &ca, &ca_pem, "aa")),
    );
    for n in [&aa, &bb] {
        eventually(Duration::from_secs(20), "TLS peers to connect", || async {
            (n.client().get("/readyz").await.0 == StatusCode::OK).then_some(())
        })
        .await;
    }
    let seller = aa.client();
    seller.sign_up(&email("tls")).await;
    let ticket = seller.create_ticket("Over TLS", json!(3)).await;
    let (status, _) = bb
        .client()
        .get(&format!("/api/tickets/{}", ticket["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "forwarded over the encrypted session"
    );
    drop(aa);

    // One with a certificate from another CA, or with no TLS, does not.
    let (other_ca, other_pem) = new_ca();
    for (tag, tls) in [
        (
            "stranger",
            tls_env(&tls_files(dir.path(), &other_ca, &other_pem, "stranger")),
        ),
        ("plain", Vec::new()),
    ] {
        let intruder = start("aa", &addrs[0], tls);
        let deadline = Instant::now() + Duration::from_secs(4);
        while Instant::now() < deadline {
            let (status, body) = intruder.client().get("/readyz").await;
            assert_eq!(
                status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{tag} must not connect: {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Runs the binary to completion (it is expected to refuse to start).
fn refused(env: &[(&str, &str)], data: &std::path::Path) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_boxoffice"));
    cmd.args(["--http-addr", "127.0.0.1:0", "--data-dir"])
        .arg(data);
    for var in [
        "JWT_KEY",
        "CLUSTER_COOKIE",
        "BOXOFFICE_PEERS",
        "BOXOFFICE_SHARDS",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "should have refused to start");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn clustered_nodes_need_both_secrets_and_the_recorded_shard_count() {
    let dir = tempfile::tempdir().unwrap();
    let peers = "a@127.0.0.1:1,b@127.0.0.1:2";
    let base = [
        ("BOXOFFICE_NODE_NAME", "a"),
        ("BOXOFFICE_CLUSTER_ADDR", "127.0.0.1:1"),
        ("BOXOFFICE_PEERS", peers),
    ];
    let no_jwt = refused(
        &[base.as_slice(), &[("CLUSTER_COOKIE", COOKIE)]].concat(),
        dir.path(),
    );
    assert!(no_jwt.contains("JWT_KEY"), "{no_jwt}");
    let no_cookie = refused(
        &[base.as_slice(), &[("JWT_KEY", common::JWT_KEY)]].concat(),
        dir.path(),
    );
    assert!(no_cookie.contains("CLUSTER_COOKIE"), "{no_cookie}");

    // A data dir remembers its shard count.
    let mut node = Server::with(Opts {
        extra_env: vec![("BOXOFFICE_SHARDS".into(), "16".into())],
        ..Opts::default()
    });
    assert!(node.terminate().success());
    let other = refused(
        &[("BOXOFFICE_SHARDS", "32"), ("JWT_KEY", common::JWT_KEY)],
        node.data_dir(),
    );
    assert!(
        other.contains("16 shards") && other.contains("32"),
        "{other}"
    );
}

#[tokio::test]
async fn a_forwarded_request_is_logged_as_json_with_its_request_id_on_both_nodes() {
    let logs = tempfile::tempdir().unwrap();
    let log = |i: usize| logs.path().join(format!("node-{i}.log"));
    let nodes = Nodes::start(2, |i| Opts {
        extra_env: vec![("RUST_LOG".into(), "warn,boxoffice=debug".into())],
        log_file: Some(log(i)),
        ..Opts::default()
    });
    nodes.all_ready().await;
    let seller_addr = email("traced");
    let seller = nodes.servers[0].client();
    seller.sign_up(&seller_addr).await;
    // A ticket whose home is the other node.
    let mut remote = None;
    for i in 0..40 {
        let t = seller.create_ticket(&format!("Far {i}"), json!(5)).await;
        let id = t["id"].as_str().unwrap().to_owned();
        if nodes.home(&id) == 1 {
            remote = Some(id);
            break;
        }
    }
    let ticket = remote.expect("some ticket lands on node-1");

    let request_id = format!("trace-{}", uuid::Uuid::now_v7().simple());
    let http = reqwest::Client::new();
    let res = http
        .get(format!("{}/api/tickets/{ticket}", nodes.servers[0].url))
        .header("x-request-id", &request_id)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["x-request-id"].to_str().unwrap(),
        request_id,
        "the id comes back"
    );
    // Logs written to a file are JSON lines; the request's lines carry its
    // id in their spans, on both nodes.
    for (i, what) in [(0, "the node that took it"), (1, "the home node")] {
        eventually(Duration::from_secs(10), what, || async {
            let text = std::fs::read_to_string(log(i)).unwrap_or_default();
            let lines: Vec<Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                .collect();
            lines
                .iter()
                .any(|l| {
                    let spans = l["spans"].as_array().cloned().unwrap_or_default();
                    spans.iter().any(|s| s["request_id"] == request_id.as_str())
                        && spans.iter().any(|s| s["op"] == "show_ticket")
                })
                .then_some(())
        })
        .await;
    }
    // A fresh id for a request that brings none, returned to the caller.
    let res = http
        .get(format!("{}/healthz", nodes.servers[0].url))
        .send()
        .await
        .unwrap();
    assert!(!res.headers()["x-request-id"].is_empty());
}
