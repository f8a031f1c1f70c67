//! Test harness: runs the real `boxoffice` binary on an ephemeral loopback
//! port with its own data dir, and talks to it over HTTP.
#![allow(dead_code)]
// Each test crate includes this as a private `mod common`: `pub` here only
// shares an item with that crate, it never exports it.
#![allow(unreachable_pub)]

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{mpsc, OnceLock},
    time::{Duration, Instant},
};

use boxoffice::{
    cluster::{placement::Member, Placement},
    domain::TicketId,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const JWT_KEY: &str = "integration-test-jwt-key-0123456789abcdef";
pub const ADMIN_TOKEN: &str = "integration-test-admin-token";

/// Options for starting a node.
#[derive(Clone)]
pub struct Opts {
    pub order_ttl_secs: u64,
    pub idle_secs: u64,
    pub extra_env: Vec<(String, String)>,
    /// Use this data dir instead of a fresh temporary one.
    pub data_dir: Option<PathBuf>,
    /// Append the node's log (stderr) to this file instead of the test's.
    pub log_file: Option<PathBuf>,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            order_ttl_secs: 900,
            idle_secs: 30,
            extra_env: Vec::new(),
            data_dir: None,
            log_file: None,
        }
    }
}

pub struct Server {
    child: Option<Child>,
    pub url: String,
    dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    opts: Opts,
}

impl Server {
    pub fn start() -> Self {
        Self::with(Opts::default())
    }

    pub fn with(opts: Opts) -> Self {
        let (dir, tmp) = match &opts.data_dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let tmp = tempfile::tempdir().expect("temp dir");
                (tmp.path().to_path_buf(), Some(tmp))
            }
        };
        let mut s = Self {
            child: None,
            url: String::new(),
            dir,
            _tmp: tmp,
            opts,
        };
        s.spawn();
        s
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_boxoffice"));
        cmd.arg("--http-addr")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&self.dir)
            .arg("--idle-secs")
            .arg(self.opts.idle_secs.to_string())
            .env("JWT_KEY", JWT_KEY)
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("ORDER_TTL_SECS", self.opts.order_ttl_secs.to_string())
            .env("RUST_LOG", "warn,ractor_cluster=error")
            .stdout(Stdio::piped())
            .stderr(match &self.opts.log_file {
                Some(path) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .expect("open the node's log file"),
                ),
                None => Stdio::inherit(),
            });
        for (k, v) in &self.opts.extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn boxoffice");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("boxoffice listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        self.url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("boxoffice did not start listening");
        self.child = Some(child);
    }

    /// SIGKILL: no flush, no goodbye.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("kill -9");
            c.wait().expect("reap");
        }
    }

    /// SIGTERM, then wait for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("running");
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = c.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit 30 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process has ended (it is reaped if so).
    pub fn has_exited(&mut self) -> bool {
        let c = self.child.as_mut().expect("started");
        c.try_wait().expect("wait").is_some()
    }

    /// Sends a signal (e.g. SIGSTOP/SIGCONT) to the running process.
    pub fn signal(&self, sig: i32) {
        let c = self.child.as_ref().expect("running");
        unsafe {
            libc::kill(c.id() as i32, sig);
        }
    }

    /// Starts the binary again on the same data dir (a new port).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop it first");
        self.spawn();
    }

    pub fn client(&self) -> Client {
        Client::new(&self.url)
    }

    /// A client signed in as `email` on this node (cookies are per address,
    /// so a restarted node on a new port needs a new session).
    pub async fn session(&self, email: &str) -> Client {
        let c = self.client();
        c.sign_in(email).await;
        c
    }

    /// The admin event log after `after`.
    pub async fn events(&self, after: u64) -> Vec<Value> {
        let (status, body) = self
            .client()
            .send(
                Method::GET,
                &format!("/api/admin/events?after={after}&limit=1000"),
                None,
                &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["events"].as_array().cloned().unwrap_or_default()
    }

    pub async fn stats(&self) -> Value {
        let (status, body) = self
            .client()
            .send(
                Method::GET,
                "/api/admin/stats",
                None,
                &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An HTTP client with its own cookie jar (one "browser").
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .pool_max_idle_per_host(8)
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            base: base.to_owned(),
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        self.try_send(method, path, body, headers)
            .await
            .expect("request")
    }

    /// Like [`Client::send`], but a transport failure (say, the node was
    /// killed mid-request) is an `Err` rather than a panic.
    pub async fn try_send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Result<(StatusCode, Value), reqwest::Error> {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await?;
        let status = res.status();
        let text = res.text().await?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("non-JSON body ({status}): {text}"))
        };
        Ok((status, value))
    }

    /// A raw request, for malformed bodies and odd headers.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.expect("body");
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("non-JSON body ({status}): {text:?}"));
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::PUT, path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::DELETE, path, None, &[]).await
    }

    /// Signs in an account made by [`Client::sign_up`].
    pub async fn sign_in(&self, email: &str) {
        let (status, body) = self
            .post(
                "/api/users/signin",
                json!({ "email": email, "password": "password123" }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Signs up a fresh account; returns its id.
    pub async fn sign_up(&self, email: &str) -> String {
        let (status, body) = self
            .post(
                "/api/users/signup",
                json!({ "email": email, "password": "password123" }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    pub async fn create_ticket(&self, title: &str, price: Value) -> Value {
        let (status, body) = self
            .post("/api/tickets", json!({ "title": title, "price": price }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// A GET of a list: the body, and the path of the next page from the
    /// `Link: <…>; rel="next"` header, if any.
    pub async fn get_page(&self, path: &str) -> (Value, Option<String>) {
        let res = self
            .http
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let next = res.headers().get("link").map(|v| {
            let link = v.to_str().unwrap();
            link.strip_prefix('<')
                .and_then(|l| l.split_once(">; rel=\"next\""))
                .map(|(p, _)| p.to_owned())
                .unwrap_or_else(|| panic!("a next link: {link}"))
        });
        (res.json().await.expect("JSON"), next)
    }

    /// Follows the `next` links from `first`; the ids on each page.
    /// `between_pages` runs after each page (to change things meanwhile).
    pub async fn walk(&self, first: &str, between_pages: impl AsyncFn(usize)) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut next = Some(first.to_owned());
        while let Some(path) = next.take() {
            let (body, link) = self.get_page(&path).await;
            next = link;
            let ids = body
                .as_array()
                .expect("a list")
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned())
                .collect();
            pages.push(ids);
            between_pages(pages.len()).await;
            assert!(pages.len() < 100, "paging does not end");
        }
        pages
    }

    pub async fn buy(&self, ticket_id: &str) -> (StatusCode, Value) {
        self.post("/api/orders", json!({ "ticketId": ticket_id }))
            .await
    }

    pub async fn pay(&self, order_id: &str, token: &str) -> (StatusCode, Value) {
        self.post(
            "/api/payments",
            json!({ "orderId": order_id, "token": token }),
        )
        .await
    }
}

/// A unique email for this test run.
pub fn email(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid_like())
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos:x}{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Asserts the uniform error body, returning its first message.
pub fn error_message(body: &Value) -> String {
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("not an error body: {body}"));
    assert!(!errors.is_empty(), "empty errors: {body}");
    for e in errors {
        assert!(e["message"].is_string(), "error without message: {body}");
    }
    errors[0]["message"].as_str().unwrap().to_owned()
}

/// Polls `check` until it returns `Some`, or panics after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A free TCP port on loopback (bound and released: fine for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub const COOKIE: &str = "integration-test-cluster-cookie";

/// Environment for node `name` of a cluster given as `name@addr` peers.
pub fn cluster_env(name: &str, addr: &str, peers: &str, cookie: &str) -> Vec<(String, String)> {
    vec![
        ("BOXOFFICE_NODE_NAME".into(), name.into()),
        ("BOXOFFICE_CLUSTER_ADDR".into(), addr.into()),
        ("BOXOFFICE_PEERS".into(), peers.into()),
        ("CLUSTER_COOKIE".into(), cookie.into()),
        ("BOXOFFICE_SHARDS".into(), "64".into()),
    ]
}

/// `n` real nodes on loopback forming one cluster, `node-0`, `node-1`, ...;
/// node `i` starts with `opts(i)` plus its cluster environment.
pub struct Nodes {
    pub servers: Vec<Server>,
    pub placement: Placement,
}

impl Nodes {
    pub fn start(n: usize, opts: impl Fn(usize) -> Opts) -> Self {
        let members: Vec<(String, String)> = (0..n)
            .map(|i| (format!("node-{i}"), format!("127.0.0.1:{}", free_port())))
            .collect();
        let peers = members
            .iter()
            .map(|(name, addr)| format!("{name}@{addr}"))
            .collect::<Vec<_>>()
            .join(",");
        let servers = members
            .iter()
            .enumerate()
            .map(|(i, (name, addr))| {
                let mut opts = opts(i);
                opts.extra_env
                    .extend(cluster_env(name, addr, &peers, COOKIE));
                Server::with(opts)
            })
            .collect();
        let placement = Placement::new(
            64,
            peers
                .split(',')
                .map(|p| Member::parse(p).unwrap())
                .collect(),
            "node-0",
        )
        .unwrap();
        Self { servers, placement }
    }

    /// The index of `ticket`'s home node.
    pub fn home(&self, ticket: &str) -> usize {
        let id: TicketId = ticket.parse().unwrap();
        let name = &self.placement.ticket_home(id).name;
        name.trim_start_matches("node-").parse().unwrap()
    }

    pub async fn all_ready(&self) {
        for s in &self.servers {
            eventually(Duration::from_secs(30), "every node ready", || async {
                let (status, _) = s.client().get("/readyz").await;
                (status == StatusCode::OK).then_some(())
            })
            .await;
        }
    }
}

/// The slow-disk shim (`tests/fault/slow_fsync.c`), compiled once per test
/// process; returns the shared library's path.
pub fn slow_fsync_shim() -> &'static Path {
    static SHIM: OnceLock<PathBuf> = OnceLock::new();
    SHIM.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fault/slow_fsync.c");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        // Built under a name of its own, then renamed into place: test
        // processes running side by side never see a half-written library.
        let tmp = dir.join(format!("slow_fsync.{}.so", std::process::id()));
        let out = dir.join("slow_fsync.so");
        let built = Command::new("cc")
            .args(["-shared", "-fPIC", "-O2", "-o"])
            .arg(&tmp)
            .arg(&src)
            .arg("-ldl")
            .output();
        match built {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "the fault-injection tests compile {} with `cc`, which is not installed: \
                 install a C compiler (gcc or clang; the Rust toolchain needs one to link anyway)",
                src.display()
            ),
            Err(e) => panic!("running `cc` to build the slow-fsync shim: {e}"),
            Ok(o) if !o.status.success() => panic!(
                "`cc` could not build {}:\n{}",
                src.display(),
                String::from_utf8_lossy(&o.stderr)
            ),
            Ok(_) => {}
        }
        std::fs::rename(&tmp, &out).expect("move the shim into place");
        out
    })
}

/// Environment for a node on a slow disk (see `tests/fault/slow_fsync.c`):
/// every fsync, fdatasync and sync_file_range first sleeps `fsync_ms`, and
/// every pwrite `write_ms`. Set BOXOFFICE_FSYNC_DEBUG=1 to log each call.
pub fn slow_disk_env(fsync_ms: u64, write_ms: u64) -> Vec<(String, String)> {
    vec![
        ("LD_PRELOAD".into(), slow_fsync_shim().display().to_string()),
        ("BOXOFFICE_FSYNC_DELAY_MS".into(), fsync_ms.to_string()),
        ("BOXOFFICE_WRITE_DELAY_MS".into(), write_ms.to_string()),
    ]
}
