//! The load tool's view of the API: just the calls a rush needs, with the
//! session carried as a Bearer token so one signup works on every node.

use std::{collections::HashMap, future::Future, sync::Arc, time::Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{
    client::conn::http1::SendRequest,
    header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST},
    Method, Request, Uri,
};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use super::Sample;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 201: this buyer holds the ticket.
    Win,
    /// 400: someone else holds it (or it is sold).
    Loss,
    /// Anything else: a 5xx, a timeout, a refused connection.
    Error,
    /// 200: a page of the catalog (browse).
    Page,
}

impl Outcome {
    /// What a BUY's answer means.
    fn of_buy(status: u16) -> Self {
        match status {
            201 => Self::Win,
            400 => Self::Loss,
            _ => Self::Error,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Buyer {
    pub token: Arc<str>,
    /// `Authorization: Bearer …`, made once: a rush sends it per BUY.
    bearer: HeaderValue,
}

/// A BUY's body, serialized straight to bytes (no `Value` tree per BUY).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Buy<'a> {
    ticket_id: &'a str,
}

#[derive(Clone)]
pub(super) struct Api {
    http: reqwest::Client,
    targets: Arc<[String]>,
    /// Where each target's BUYs go.
    lines: Arc<[Arc<LineTarget>]>,
}

impl Api {
    pub(super) fn new(targets: &[String]) -> anyhow::Result<Self> {
        anyhow::ensure!(!targets.is_empty(), "--target names no URL");
        for t in targets {
            let url = reqwest::Url::parse(t).with_context(|| format!("{t} is not a URL"))?;
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            };
            if !loopback {
                tracing::warn!(target = %t, "load target is not on loopback; make sure it is yours to load");
            }
        }
        // The API never redirects: a 3xx is an error here, not followed.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .timeout(std::time::Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let targets: Arc<[String]> = targets
            .iter()
            .map(|t| t.trim_end_matches('/').to_owned())
            .collect();
        let lines = targets
            .iter()
            .map(|t| LineTarget::new(t).map(Arc::new))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            http,
            targets,
            lines,
        })
    }

    /// The target for the `i`-th request: requests are spread round-robin.
    fn base(&self, i: usize) -> &str {
        &self.targets[i % self.targets.len()]
    }

    pub(super) async fn sign_up(&self, i: usize, email: &str) -> anyhow::Result<Buyer> {
        let res = self
            .http
            .post(format!("{}/api/users/signup", self.base(i)))
            .json(&json!({ "email": email, "password": "load test password" }))
            .send()
            .await?;
        let status = res.status();
        let cookie = res
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|c| c.strip_prefix("session="))
            .and_then(|c| c.split(';').next())
            .map(str::to_owned);
        anyhow::ensure!(
            status.as_u16() == 201,
            "signup {email}: {status} {}",
            res.text().await.unwrap_or_default()
        );
        let token = cookie.context("signup set no session cookie")?;
        let bearer = format!("Bearer {token}")
            .parse()
            .context("the session token is not a header value")?;
        Ok(Buyer {
            token: token.into(),
            bearer,
        })
    }

    pub(super) async fn create_ticket(
        &self,
        i: usize,
        seller: &Buyer,
        title: &str,
        price: u64,
    ) -> anyhow::Result<String> {
        let res = self
            .http
            .post(format!("{}/api/tickets", self.base(i)))
            .bearer_auth(&seller.token)
            .json(&json!({ "title": title, "price": price }))
            .send()
            .await?;
        let status = res.status();
        let body: Value = res.json().await?;
        anyhow::ensure!(status.as_u16() == 201, "creating a ticket: {status} {body}");
        body["id"]
            .as_str()
            .map(str::to_owned)
            .context("ticket without id")
    }

    /// A connection of its own to the `i`-th target, for BUYs.
    pub(super) fn line(&self, i: usize) -> Line {
        Line {
            target: self.lines[i % self.lines.len()].clone(),
            send: None,
        }
    }

    pub(super) async fn list(&self, i: usize) {
        if let Ok(r) = self
            .http
            .get(format!("{}/api/tickets", self.base(i)))
            .send()
            .await
        {
            let _ = r.bytes().await;
        }
    }

    /// A page of `limit` tickets for sale, after `after` when given.
    pub(super) async fn page(&self, i: usize, limit: usize, after: Option<&str>) -> Sample {
        let mut url = format!("{}/api/tickets?limit={limit}", self.base(i));
        if let Some(after) = after {
            url.push_str("&after=");
            url.push_str(after);
        }
        let sent = Instant::now();
        let outcome = match self.http.get(url).send().await {
            Ok(r) if r.status().is_success() => match r.bytes().await {
                Ok(_) => Outcome::Page,
                Err(_) => Outcome::Error,
            },
            Ok(r) => {
                let _ = r.bytes().await;
                Outcome::Error
            }
            Err(_) => Outcome::Error,
        };
        Sample {
            sent,
            latency: sent.elapsed(),
            outcome,
        }
    }

    pub(super) async fn show(&self, i: usize, ticket: &str) {
        if let Ok(r) = self
            .http
            .get(format!("{}/api/tickets/{ticket}", self.base(i)))
            .send()
            .await
        {
            let _ = r.bytes().await;
        }
    }

    /// Asks the servers for every buyer's orders and counts the tickets with
    /// more than one live (created or complete) order.
    pub(super) async fn double_holds(
        &self,
        buyers: &[Buyer],
        pb: &indicatif::ProgressBar,
    ) -> anyhow::Result<usize> {
        let lists = self
            .for_each(buyers.len(), 32, |i| {
                let (api, b, pb) = (self.clone(), buyers[i].clone(), pb.clone());
                async move {
                    // A page at a time, following `Link: <…>; rel="next"`.
                    let mut orders: Vec<Value> = Vec::new();
                    let mut next = Some("/api/orders?limit=1000".to_owned());
                    while let Some(path) = next.take() {
                        let res = api
                            .http
                            .get(format!("{}{path}", api.base(i)))
                            .bearer_auth(&b.token)
                            .send()
                            .await?;
                        anyhow::ensure!(
                            res.status().is_success(),
                            "listing orders: {}",
                            res.status()
                        );
                        next = res
                            .headers()
                            .get(reqwest::header::LINK)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|l| l.strip_prefix('<'))
                            .and_then(|l| l.split_once(">; rel=\"next\""))
                            .map(|(p, _)| p.to_owned());
                        let page: Vec<Value> = res.json().await?;
                        orders.extend(page);
                    }
                    pb.inc(1);
                    Ok(orders)
                }
            })
            .await?;
        let mut live: HashMap<String, usize> = HashMap::new();
        for o in lists.iter().flatten() {
            if o["status"] == "created" || o["status"] == "complete" {
                *live.entry(o["ticket"]["id"].to_string()).or_default() += 1;
            }
        }
        Ok(live.values().filter(|n| **n > 1).count())
    }

    /// Runs `f(0..n)` with at most `width` in flight, keeping the order.
    pub(super) async fn for_each<T, F, Fut>(
        &self,
        n: usize,
        width: usize,
        f: F,
    ) -> anyhow::Result<Vec<T>>
    where
        F: Fn(usize) -> Fut,
        Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let permits = Arc::new(tokio::sync::Semaphore::new(width.max(1)));
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            let permit = permits.clone().acquire_owned().await?;
            let fut = f(i);
            tasks.push(tokio::spawn(async move {
                let r = fut.await;
                drop(permit);
                r
            }));
        }
        let mut out = Vec::with_capacity(n);
        for t in tasks {
            out.push(t.await??);
        }
        Ok(out)
    }
}

/// A target's address and the parts of a BUY that are the same every time.
#[derive(Debug)]
pub(super) struct LineTarget {
    /// `host:port`, to connect to.
    addr: String,
    host: HeaderValue,
    orders: Uri,
}

impl LineTarget {
    fn new(target: &str) -> anyhow::Result<Self> {
        let url = url::Url::parse(target).with_context(|| format!("{target} is not a URL"))?;
        anyhow::ensure!(url.scheme() == "http", "{target}: only http:// targets");
        let host = url.host_str().context("a target names a host")?;
        let port = url.port_or_known_default().unwrap_or(80);
        let addr = format!("{host}:{port}");
        Ok(Self {
            host: HeaderValue::from_str(&addr)?,
            orders: format!("{}/api/orders", url.path().trim_end_matches('/')).parse()?,
            addr,
        })
    }
}

/// One keep-alive HTTP/1.1 connection that sends BUYs one after another.
/// Without a pool, a URL per request or a task per request it costs about
/// half the CPU a pooled client did (docs/BENCHMARKS.md, session 15): CPU
/// this tool takes from the server it measures, on the same cores. A
/// broken connection is opened again for the next BUY.
pub(super) struct Line {
    target: Arc<LineTarget>,
    send: Option<SendRequest<Full<Bytes>>>,
}

/// A BUY waits this long for its answer before it counts as an error.
const BUY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Line {
    /// Opens the connection now (a rush measures decisions, not TCP
    /// handshakes); a failure is left for the first BUY to meet.
    pub(super) async fn open(&mut self) {
        let _ = self.ready().await;
    }

    async fn ready(&mut self) -> anyhow::Result<&mut SendRequest<Full<Bytes>>> {
        if self.send.as_ref().is_some_and(|s| s.is_closed()) {
            self.send = None;
        }
        let send = match self.send.take() {
            Some(send) => send,
            None => {
                let stream = tokio::net::TcpStream::connect(&self.target.addr).await?;
                stream.set_nodelay(true)?;
                let (send, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(conn);
                send
            }
        };
        Ok(self.send.insert(send))
    }

    /// A BUY of `ticket` (a hold) by `buyer`.
    pub(super) async fn buy(&mut self, buyer: &Buyer, ticket: &str) -> Sample {
        let sent = Instant::now();
        let outcome = match tokio::time::timeout(BUY_TIMEOUT, self.send_buy(buyer, ticket)).await {
            Ok(Ok(status)) => Outcome::of_buy(status),
            Ok(Err(_)) | Err(_) => {
                // Whatever state the connection is in, it is not reused.
                self.send = None;
                Outcome::Error
            }
        };
        Sample {
            sent,
            latency: sent.elapsed(),
            outcome,
        }
    }

    async fn send_buy(&mut self, buyer: &Buyer, ticket: &str) -> anyhow::Result<u16> {
        let body = serde_json::to_vec(&Buy { ticket_id: ticket })?;
        let target = self.target.clone();
        let send = self.ready().await?;
        send.ready().await?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(target.orders.clone())
            .header(HOST, target.host.clone())
            .header(AUTHORIZATION, buyer.bearer.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(Full::new(Bytes::from(body)))?;
        let response = send.send_request(request).await?;
        let status = response.status().as_u16();
        // Read the body whole, so the connection is ready for the next.
        response.into_body().collect().await?;
        Ok(status)
    }
}
