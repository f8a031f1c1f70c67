//! `GET /api/tickets/stream` over real HTTP: ticket changes as Server-Sent
//! Events, resumed after `Last-Event-ID`, on every node of a cluster, and
//! ended when the node shuts down. The SSE is parsed here, from the bytes.

mod common;

use std::time::{Duration, Instant};

use common::{email, eventually, Client, Nodes, Opts, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Generous: a change reaches another node's catalog within a second.
const WAIT: Duration = Duration::from_secs(30);

/// One message of the stream (a block up to a blank line).
#[derive(Debug, Default, Clone)]
struct Message {
    event: Option<String>,
    id: Option<String>,
    data: Option<String>,
    retry: Option<String>,
    comments: Vec<String>,
}

impl Message {
    fn data(&self) -> Value {
        serde_json::from_str(self.data.as_deref().expect("data")).expect("JSON data")
    }
}

/// An open stream, read a message at a time.
struct Stream {
    res: reqwest::Response,
    buf: Vec<u8>,
}

impl Stream {
    async fn open(base: &str, path: &str, last_event_id: Option<&str>) -> Self {
        let mut req = reqwest::Client::new().get(format!("{base}{path}"));
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let res = req.send().await.expect("subscribe");
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        assert_eq!(res.headers()["cache-control"], "no-cache");
        Self {
            res,
            buf: Vec::new(),
        }
    }

    /// The next message, or `None` when the stream ended.
    async fn message(&mut self) -> Option<Message> {
        let read = async {
            loop {
                if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                    let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                    return Some(parse(&String::from_utf8(block).expect("UTF-8")));
                }
                match self.res.chunk().await {
                    Ok(Some(bytes)) => self.buf.extend_from_slice(&bytes),
                    Ok(None) | Err(_) => return None,
                }
            }
        };
        tokio::time::timeout(WAIT, read)
            .await
            .expect("a message within the wait")
    }

    /// The next message that is an event (not the start, not a keep-alive).
    async fn event(&mut self) -> Message {
        loop {
            let m = self.message().await.expect("the stream goes on");
            if m.event.is_some() {
                return m;
            }
        }
    }

    /// The next `ticket` event about `ticket`.
    async fn ticket(&mut self, ticket: &str) -> Message {
        loop {
            let m = self.event().await;
            assert_eq!(m.event.as_deref(), Some("ticket"), "{m:?}");
            if m.data()["id"] == ticket {
                return m;
            }
        }
    }

    /// The first message: `retry` and the starting point's id, no data.
    async fn start(&mut self) -> Message {
        let m = self.message().await.expect("a first message");
        assert_eq!(m.retry.as_deref(), Some("1000"), "{m:?}");
        assert!(
            m.id.is_some() && m.data.is_none() && m.event.is_none(),
            "{m:?}"
        );
        m
    }
}

fn parse(block: &str) -> Message {
    let mut m = Message::default();
    for line in block.lines().filter(|l| !l.is_empty()) {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
        match field {
            "" => m.comments.push(value),
            "event" => m.event = Some(value),
            "id" => m.id = Some(value),
            "retry" => m.retry = Some(value),
            "data" => {
                assert!(m.data.is_none(), "one line of data: {block:?}");
                m.data = Some(value);
            }
            other => panic!("unknown field {other:?} in {block:?}"),
        }
    }
    m
}

/// The event's ticket, as `GET /api/tickets/:id` shows it, and its `forSale`.
async fn matches_the_api(client: &Client, m: &Message) -> bool {
    let mut data = m.data();
    let fields = data.as_object_mut().unwrap();
    let for_sale = fields.remove("forSale").expect("forSale");
    let state = fields.remove("state").expect("state");
    assert_eq!(for_sale.as_bool(), Some(state == "available"), "{m:?}");
    let (status, shown) = client
        .get(&format!("/api/tickets/{}", data["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(data, shown);
    for_sale.as_bool().expect("a bool")
}

async fn subscribers(server: &Server) -> String {
    let res = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap();
    let text = res.text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with("boxoffice_sse_subscribers "))
        .map(|l| l.rsplit(' ').next().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_new_ticket_and_its_sale_are_streamed_as_the_api_shows_them() {
    let server = Server::start();
    let mut stream = Stream::open(&server.url, "/api/tickets/stream", None).await;
    stream.start().await;
    assert_eq!(subscribers(&server).await, "1");

    let seller = server.client();
    seller.sign_up(&email("seller")).await;
    let t = seller.create_ticket("Concert", json!("19.99")).await;
    let id = t["id"].as_str().unwrap();
    let created = stream.ticket(id).await;
    assert!(created.id.is_some());
    assert_eq!(created.data()["orderId"], Value::Null);
    assert_eq!(created.data()["price"], json!(19.99));
    assert!(matches_the_api(&seller, &created).await, "for sale");

    let buyer = server.client();
    buyer.sign_up(&email("buyer")).await;
    let (status, order) = buyer.buy(id).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let held = stream.ticket(id).await;
    assert_eq!(held.data()["orderId"], order["id"]);
    assert!(!matches_the_api(&seller, &held).await, "held");
    assert_ne!(held.id, created.id);

    drop(stream);
    eventually(WAIT, "the gauge back to 0", || async {
        (subscribers(&server).await == "0").then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_reconnect_gets_exactly_what_it_missed_or_a_reset() {
    let server = Server::start();
    let seller = server.client();
    seller.sign_up(&email("seller")).await;
    let mut stream = Stream::open(&server.url, "/api/tickets/stream", None).await;
    stream.start().await;
    let create = async |title: &str| {
        let t = seller.create_ticket(title, json!(10)).await;
        t["id"].as_str().unwrap().to_owned()
    };
    let t1 = create("one").await;
    let t2 = create("two").await;
    stream.ticket(&t1).await;
    let last_read = stream.ticket(&t2).await.id.unwrap();
    drop(stream);

    let t3 = create("three").await;
    let (status, _) = seller
        .put(
            &format!("/api/tickets/{t1}"),
            json!({ "title": "one, moved", "price": 12 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let mut resumed = Stream::open(&server.url, "/api/tickets/stream", Some(&last_read)).await;
    resumed.start().await;
    let t4 = create("four").await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let m = resumed.event().await;
        assert_eq!(m.event.as_deref(), Some("ticket"), "{m:?}");
        let data = m.data();
        got.push((
            data["id"].as_str().unwrap().to_owned(),
            data["version"].clone(),
        ));
    }
    assert_eq!(
        got,
        [(t3, json!(0)), (t1.clone(), json!(1)), (t4, json!(0))],
        "the missed changes in order, then live, nothing twice"
    );

    // An id this node never gave: start over, then live.
    for unknown in ["0123456789abcdef-1", "junk"] {
        let mut fresh = Stream::open(&server.url, "/api/tickets/stream", Some(unknown)).await;
        fresh.start().await;
        let reset = fresh.event().await;
        assert_eq!(reset.event.as_deref(), Some("reset"), "{reset:?}");
        assert_eq!(reset.data.as_deref(), Some("{}"));
        assert!(reset.id.is_some());
    }

    // A ticket page's stream sees its ticket only.
    let mut one = Stream::open(
        &server.url,
        &format!("/api/tickets/stream?ticketId={t2}"),
        None,
    )
    .await;
    one.start().await;
    create("five").await;
    let (status, _) = seller
        .put(
            &format!("/api/tickets/{t2}"),
            json!({ "title": "two, moved", "price": 11 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let m = one.event().await;
    assert_eq!(m.data()["id"], t2.as_str());
    let (status, body) = seller
        .get("/api/tickets/stream?ticketId=not-a-ticket")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn every_node_streams_a_change_made_through_any_other() {
    let nodes = Nodes::start(3, |_| Opts::default());
    nodes.all_ready().await;
    let mut stream = Stream::open(&nodes.servers[2].url, "/api/tickets/stream", None).await;
    stream.start().await;

    let seller = nodes.servers[0].client();
    seller.sign_up(&email("seller")).await;
    let t = seller.create_ticket("Far away", json!(30)).await;
    let id = t["id"].as_str().unwrap();
    let buyer = nodes.servers[1].client();
    buyer.sign_up(&email("buyer")).await;
    let (status, order) = buyer.buy(id).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");

    let created = stream.ticket(id).await;
    assert_eq!(created.data()["forSale"], true);
    assert_eq!(created.data()["version"], 0);
    let held = stream.ticket(id).await;
    assert_eq!(held.data()["forSale"], false);
    assert_eq!(held.data()["orderId"], order["id"]);
}

#[tokio::test]
async fn an_open_stream_does_not_hold_up_shutdown() {
    let mut server = Server::start();
    let mut stream = Stream::open(&server.url, "/api/tickets/stream", None).await;
    stream.start().await;
    let started = Instant::now();
    assert!(server.terminate().success());
    // The drain would wait 20 s for a stream it did not end.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert!(stream.message().await.is_none(), "the stream ended");
}

#[tokio::test]
async fn a_page_hands_its_script_where_to_resume_and_streams_are_capped_per_client() {
    let server = Server::start();
    let seller = server.client();
    seller.sign_up(&email("from-seller")).await;
    // The page is rendered; a ticket is sold before its script connects.
    let page = reqwest::get(format!("{}/", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let from = page
        .split("data-stream-from=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page says where its stream resumes")
        .to_owned();
    let t = seller
        .create_ticket("Between render and connect", json!(8))
        .await;
    let mut stream = Stream::open(
        &server.url,
        &format!("/api/tickets/stream?from={from}"),
        None,
    )
    .await;
    stream.start().await;
    let m = stream.event().await;
    assert_eq!(m.data()["id"], t["id"], "not missed: {m:?}");

    // Sixteen streams from one address; the seventeenth is refused.
    let mut open = Vec::new();
    for _ in 0..15 {
        open.push(Stream::open(&server.url, "/api/tickets/stream", None).await);
    }
    let res = reqwest::get(format!("{}/api/tickets/stream", server.url))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "too_many_streams", "{body}");
    drop(open);
    drop(stream);
    // Closed streams give their places back.
    common::eventually(WAIT, "a stream again once the others closed", || async {
        let res = reqwest::get(format!("{}/api/tickets/stream", server.url))
            .await
            .unwrap();
        (res.status() == StatusCode::OK).then_some(())
    })
    .await;
}
