//! A guided tour of a 3-node boxoffice cluster on loopback.
//!
//! `cargo run --release --example cluster_demo`
//!
//! It starts three node processes (this same program, re-executed as a
//! node), sells tickets through different nodes, fires simultaneous BUYs
//! through all three, kills a node, brings it back, and checks the one
//! invariant that matters: no ticket ever has two live orders. It exits
//! non-zero if anything broke.

use std::{
    collections::HashMap,
    path::PathBuf,
    process::{Child, Command, ExitCode, Stdio},
    time::{Duration, Instant},
};

use boxoffice::{
    cluster::{placement::Member, Placement},
    config::Cli,
    node::Node,
};
use clap::Parser;
use reqwest::StatusCode;
use serde_json::{json, Value};

const NODE_FLAG: &str = "--as-demo-node";
const COOKIE: &str = "cluster-demo-cookie-not-a-secret";
const JWT: &str = "cluster-demo-jwt-key-not-a-secret";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(NODE_FLAG) {
        return run_node(&args[2..]);
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    match rt.block_on(tour()) {
        Ok(()) => {
            say("\n✔ every invariant held");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("\n✘ {e}");
            ExitCode::FAILURE
        }
    }
}

/// Node mode: exactly what `boxoffice` does, configured by environment.
fn run_node(rest: &[String]) -> ExitCode {
    let cli = Cli::parse_from(std::iter::once("boxoffice".to_owned()).chain(rest.iter().cloned()));
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("error"))
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let result = rt.block_on(async {
        let node = Node::builder(cli.serve).start().await?;
        println!("listening on http://{}", node.local_addr()?);
        node.serve(std::future::pending()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("node failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn say(line: &str) {
    println!("{line}");
}

type Result<T> = std::result::Result<T, String>;

fn check(ok: bool, what: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(format!("invariant broken: {what}"))
    }
}

struct DemoNode {
    name: String,
    cluster_addr: String,
    data: PathBuf,
    url: String,
    child: Option<Child>,
}

impl DemoNode {
    fn start(&mut self, peers: &str) -> Result<()> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .arg(NODE_FLAG)
            .args(["--http-addr", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&self.data)
            .env("BOXOFFICE_NODE_NAME", &self.name)
            .env("BOXOFFICE_CLUSTER_ADDR", &self.cluster_addr)
            .env("BOXOFFICE_PEERS", peers)
            .env("CLUSTER_COOKIE", COOKIE)
            .env("JWT_KEY", JWT)
            .env("ORDER_TTL_SECS", "15")
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.name))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let line = std::io::BufRead::lines(std::io::BufReader::new(stdout))
            .next()
            .and_then(|l| l.ok())
            .ok_or_else(|| format!("{} did not start", self.name))?;
        self.url = line.trim_start_matches("listening on ").to_owned();
        self.child = Some(child);
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for DemoNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One person's browser session on one node.
#[derive(Clone)]
struct Session {
    http: reqwest::Client,
    base: String,
    who: String,
    via: String,
}

impl Session {
    async fn open(node: &DemoNode, who: &str, email: &str, signup: bool) -> Result<Self> {
        let s = Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| e.to_string())?,
            base: node.url.clone(),
            who: who.to_owned(),
            via: node.name.clone(),
        };
        let path = if signup {
            "/api/users/signup"
        } else {
            "/api/users/signin"
        };
        let (status, body) = s
            .send(
                "POST",
                path,
                Some(json!({ "email": email, "password": "demo password" })),
            )
            .await?;
        check(
            status.is_success(),
            &format!("{who} could not sign in: {body}"),
        )?;
        Ok(s)
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value)> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req
            .send()
            .await
            .map_err(|e| format!("{} via {}: {e}", self.who, self.via))?;
        let status = res.status();
        let text = res.text().await.map_err(|e| e.to_string())?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }
}

async fn wait_ready(nodes: &[DemoNode]) -> Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    for n in nodes {
        loop {
            let ok = http
                .get(format!("{}/readyz", n.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("{} never became ready", n.name));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

async fn tour() -> Result<()> {
    let tmp = std::env::temp_dir().join(format!("boxoffice-demo-{}", std::process::id()));
    let _cleanup = Cleanup(tmp.clone());
    let mut nodes: Vec<DemoNode> = (0..3)
        .map(|i| {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .unwrap_or(47000 + i);
            DemoNode {
                name: format!("boxoffice-{i}"),
                cluster_addr: format!("127.0.0.1:{port}"),
                data: tmp.join(format!("boxoffice-{i}")),
                url: String::new(),
                child: None,
            }
        })
        .collect();
    let peers = nodes
        .iter()
        .map(|n| format!("{}@{}", n.name, n.cluster_addr))
        .collect::<Vec<_>>()
        .join(",");
    let placement = Placement::new(
        64,
        peers
            .split(',')
            .map(Member::parse)
            .collect::<std::result::Result<_, _>>()?,
        "boxoffice-0",
    )?;
    let home = |ticket: &str| -> String {
        ticket
            .parse()
            .map(|id| placement.ticket_home(id).name.clone())
            .unwrap_or_default()
    };

    say("① Starting three nodes on loopback (each its own process and sled data dir)…");
    for n in &mut nodes {
        n.start(&peers)?;
        say(&format!(
            "   {} http={} cluster={}",
            n.name, n.url, n.cluster_addr
        ));
    }
    wait_ready(&nodes).await?;
    say("   all three are connected and answering heartbeats.");

    say("\n② A seller signs up on boxoffice-0 and lists six tickets through different nodes.");
    let seller = Session::open(&nodes[0], "Sam (seller)", "sam@demo.example", true).await?;
    let mut tickets: Vec<(String, String)> = Vec::new();
    for i in 0..6 {
        let via = Session::open(&nodes[i % 3], "Sam", "sam@demo.example", false).await?;
        let title = format!("Row A, seat {}", i + 1);
        let (status, t) = via
            .send(
                "POST",
                "/api/tickets",
                Some(json!({ "title": title, "price": 80 })),
            )
            .await?;
        check(
            status == StatusCode::CREATED,
            &format!("ticket creation: {t}"),
        )?;
        let id = t["id"].as_str().unwrap_or_default().to_owned();
        say(&format!(
            "   {title:<16} created via {:<12} → lives on {}",
            via.via,
            home(&id)
        ));
        tickets.push((id, title));
    }
    drop(seller);

    say("\n③ Nine buyers (three per node) press BUY on every ticket at the same instant.");
    let names = ["Ada", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ivy"];
    let mut buyers = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let email = format!("{}@demo.example", name.to_lowercase());
        buyers.push(Session::open(&nodes[i % 3], name, &email, true).await?);
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(buyers.len() * tickets.len()));
    let mut rush = Vec::new();
    for (id, title) in &tickets {
        for b in &buyers {
            let (b, id, title, barrier) = (b.clone(), id.clone(), title.clone(), barrier.clone());
            rush.push(tokio::spawn(async move {
                barrier.wait().await;
                let r = b
                    .send("POST", "/api/orders", Some(json!({ "ticketId": id })))
                    .await;
                (title, b.who.clone(), b.via.clone(), r)
            }));
        }
    }
    let mut winners: HashMap<String, Vec<String>> = HashMap::new();
    let mut orders: HashMap<String, (Session, String)> = HashMap::new();
    for r in rush {
        let (title, who, via, result) = r.await.map_err(|e| e.to_string())?;
        let (status, body) = result?;
        if status == StatusCode::CREATED {
            winners
                .entry(title.clone())
                .or_default()
                .push(format!("{who} via {via}"));
            let b = buyers
                .iter()
                .find(|b| b.who == who)
                .cloned()
                .ok_or("buyer")?;
            orders.insert(
                title,
                (b, body["id"].as_str().unwrap_or_default().to_owned()),
            );
        } else {
            check(
                status == StatusCode::BAD_REQUEST,
                &format!("a losing BUY got {status}: {body}"),
            )?;
        }
    }
    for (_, title) in &tickets {
        let w = winners.get(title).cloned().unwrap_or_default();
        say(&format!("   {title:<16} 1 winner of 9: {}", w.join(", ")));
        check(w.len() == 1, &format!("{title} has {} winners", w.len()))?;
    }

    let victim = 2;
    let victim_name = nodes[victim].name.clone();
    say(&format!("\n④ SIGKILL {victim_name}. Its tickets answer 503 (never a second owner); the rest keeps working."));
    nodes[victim].kill();
    let probe = Session::open(&nodes[0], "Ada", "ada@demo.example", false).await?;
    for (id, title) in &tickets {
        let t = Instant::now();
        let (status, _) = probe
            .send("GET", &format!("/api/tickets/{id}"), None)
            .await?;
        let on_victim = home(id) == victim_name;
        say(&format!(
            "   GET {title:<16} (home {:<12}) → {} in {:>4} ms",
            home(id),
            status.as_u16(),
            t.elapsed().as_millis()
        ));
        check(
            if on_victim {
                status == StatusCode::SERVICE_UNAVAILABLE
            } else {
                status == StatusCode::OK
            },
            "only the dead node's tickets are unavailable",
        )?;
        check(t.elapsed() < Duration::from_secs(2), "answers within 2 s")?;
    }

    say(&format!(
        "\n⑤ Restart {victim_name} on its data dir: it rejoins and serves its tickets again."
    ));
    nodes[victim].start(&peers)?;
    wait_ready(&nodes).await?;
    for (id, title) in tickets.iter().filter(|(id, _)| home(id) == victim_name) {
        let (status, t) = probe
            .send("GET", &format!("/api/tickets/{id}"), None)
            .await?;
        say(&format!(
            "   {title:<16} → {} held by order {}",
            status.as_u16(),
            t["orderId"]
        ));
        check(
            status == StatusCode::OK && t["orderId"].is_string(),
            "holds survived the crash",
        )?;
    }

    say("\n⑥ One winner pays (tok_visa) through another node; the ticket is sold.");
    let (title, (winner, order)) = orders.iter().next().ok_or("no orders")?;
    let other = nodes.iter().find(|n| n.name != winner.via).ok_or("node")?;
    let payer = Session::open(
        other,
        &winner.who,
        &format!("{}@demo.example", winner.who.to_lowercase()),
        false,
    )
    .await?;
    let (status, charge) = payer
        .send(
            "POST",
            "/api/payments",
            Some(json!({ "orderId": order, "token": "tok_visa" })),
        )
        .await?;
    check(status == StatusCode::CREATED, &format!("payment: {charge}"))?;
    say(&format!(
        "   {} paid for {title} via {} → charge {}",
        winner.who, payer.via, charge["id"]
    ));

    say("\n⑦ Checking: no ticket has two live orders, seen from every node.");
    for n in &nodes {
        let mut live: HashMap<String, usize> = HashMap::new();
        for name in names {
            let s = Session::open(
                n,
                name,
                &format!("{}@demo.example", name.to_lowercase()),
                false,
            )
            .await?;
            let (status, list) = s.send("GET", "/api/orders", None).await?;
            check(status == StatusCode::OK, "orders list")?;
            for o in list.as_array().into_iter().flatten() {
                if o["status"] == "created" || o["status"] == "complete" {
                    *live.entry(o["ticket"]["id"].to_string()).or_default() += 1;
                }
            }
        }
        let max = live.values().copied().max().unwrap_or(0);
        say(&format!(
            "   from {:<12}: {} tickets with a live order, at most {max} each",
            n.name,
            live.len()
        ));
        check(
            max <= 1 && live.len() == tickets.len(),
            "one live order per ticket",
        )?;
    }
    Ok(())
}

/// Removes the demo's data dirs at the end, however it ends.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
