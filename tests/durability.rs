//! What survives a crash or a restart: acknowledged writes, hold deadlines,
//! and a clean exit on SIGTERM. Also: idle actors leave memory.

mod common;

use std::time::{Duration, Instant};

use common::{email, eventually, Client, Opts, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_orders_survive_kill_9() {
    // sled keeps its latest writes in a buffer of its own until a flush, so
    // a kill -9 loses them: what brings them back is the store's journal,
    // replayed at the restart (with the replay turned off, this fails).
    let mut server = Server::start();
    // Ten buyers with ten holds each: as many as one buyer may hold.
    let (seller, tickets, buyers) = onsale(&server, 100, 10).await;
    let buyers: Vec<Client> = buyers.into_iter().map(|(b, _)| b).collect();
    // A burst of 100 concurrent BUYs, then SIGKILL the moment the last answer is in.
    let burst: Vec<_> = tickets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let b = buyers[i % buyers.len()].clone();
            let t = t.clone();
            tokio::spawn(async move { (i % 10, b.buy(&t).await) })
        })
        .collect();
    let mut acknowledged: Vec<(usize, Value)> = Vec::new();
    for r in burst {
        let (who, (status, order)) = r.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{order}");
        acknowledged.push((who, order));
    }
    // Tickets still for sale, one renamed: the catalog a restart rebuilds
    // from the store shows them as they were last acknowledged.
    let mut spare = Vec::new();
    for i in 0..3 {
        spare.push(seller.create_ticket(&format!("Spare {i}"), json!(5)).await);
    }
    let renamed = spare[1]["id"].as_str().unwrap();
    let (status, _) = seller
        .put(
            &format!("/api/tickets/{renamed}"),
            json!({"title": "Renamed balcony", "price": 6}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    server.kill9();
    server.restart();

    let (_, list) = server.client().get("/api/tickets").await;
    let titles: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Spare 0", "Renamed balcony", "Spare 2"], "{list}");
    let (_, found) = server.client().get("/api/tickets?q=balc").await;
    assert_eq!(found[0]["id"], renamed, "{found}");
    assert_eq!(found[0]["price"], json!(6), "{found}");

    for (who, order) in &acknowledged {
        let id = order["id"].as_str().unwrap();
        let ticket = order["ticket"]["id"].as_str().unwrap();
        let (status, t) = seller_view(&server, ticket).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            t["orderId"], id,
            "ticket {ticket} still held by order {id} (buyer {who})"
        );
    }
    let events = server.events(0).await;
    let created: std::collections::HashSet<_> = events
        .iter()
        .filter(|e| e["type"] == "OrderCreated")
        .map(|e| e["entityId"].as_str().unwrap().to_owned())
        .collect();
    for (_, order) in &acknowledged {
        assert!(
            created.contains(order["id"].as_str().unwrap()),
            "OrderCreated survived for {}",
            order["id"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_cut_by_kill_9_leaves_every_hold_whole() {
    // A BUY writes ticket, order, indexes and events in one batch with
    // others; kill -9 lands while batches are being journaled and applied.
    // After the restart each hold is whole or absent: a ticket names an
    // order only if that order exists, pending, for it, and the reverse.
    let mut server = Server::start();
    let (_, tickets, buyers) = onsale(&server, 200, 20).await;
    let (buyers, emails): (Vec<Client>, Vec<String>) = buyers.into_iter().unzip();
    let mut burst: futures::stream::FuturesUnordered<_> = tickets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let b = buyers[i % buyers.len()].clone();
            let body = json!({ "ticketId": t });
            async move {
                b.try_send(Method::POST, "/api/orders", Some(body), &[])
                    .await
            }
        })
        .collect();
    let mut acknowledged = Vec::new();
    while let Some(answer) = futures::StreamExt::next(&mut burst).await {
        let (status, order) = answer.expect("the node is up until the kill");
        assert_eq!(status, StatusCode::CREATED, "{order}");
        acknowledged.push(order["id"].as_str().unwrap().to_owned());
        if acknowledged.len() == 50 {
            break;
        }
    }
    server.kill9();
    while futures::StreamExt::next(&mut burst).await.is_some() {}
    server.restart();

    // Every order each buyer has, by id: its ticket and whether pending.
    let mut orders = std::collections::HashMap::new();
    for addr in &emails {
        let (status, list) = server.session(addr).await.get("/api/orders").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        for o in list.as_array().unwrap() {
            let id = o["id"].as_str().unwrap().to_owned();
            let ticket = o["ticket"]["id"].as_str().unwrap().to_owned();
            orders.insert(id, (ticket, o["status"] == "created"));
        }
    }
    for id in &acknowledged {
        assert!(orders.contains_key(id), "acknowledged order {id} survived");
    }
    let mut held = 0;
    for t in &tickets {
        let (status, ticket) = seller_view(&server, t).await;
        assert_eq!(status, StatusCode::OK, "{ticket}");
        match ticket["orderId"].as_str() {
            Some(order) => {
                held += 1;
                assert_eq!(
                    orders.get(order),
                    Some(&(t.clone(), true)),
                    "ticket {t} is held by {order}: a pending order for it"
                );
            }
            None => assert!(
                !orders
                    .values()
                    .any(|(ticket, pending)| ticket == t && *pending),
                "ticket {t} is free, so no pending order names it"
            ),
        }
    }
    assert!(held >= acknowledged.len());
    assert_eq!(orders.len(), held, "every order stored holds its ticket");
    let events = server.events(0).await;
    let created = events
        .iter()
        .filter(|e| e["type"] == "OrderCreated")
        .count();
    assert_eq!(created, held, "an OrderCreated event per stored order");
}

/// A seller with `tickets` tickets for sale and `buyers` signed-up buyers
/// (with their emails): returns the seller, the ticket ids and the buyers.
async fn onsale(
    server: &Server,
    tickets: usize,
    buyers: usize,
) -> (Client, Vec<String>, Vec<(Client, String)>) {
    let seller = server.client();
    seller.sign_up(&email("seller")).await;
    let mut ids = Vec::new();
    for i in 0..tickets {
        let t = seller.create_ticket(&format!("Seat {i}"), json!(10)).await;
        ids.push(t["id"].as_str().unwrap().to_owned());
    }
    let mut signed_up = Vec::new();
    for i in 0..buyers {
        let (b, addr) = (server.client(), email(&format!("buyer{i}")));
        b.sign_up(&addr).await;
        signed_up.push((b, addr));
    }
    (seller, ids, signed_up)
}

async fn seller_view(server: &Server, ticket: &str) -> (StatusCode, Value) {
    server.client().get(&format!("/api/tickets/{ticket}")).await
}

/// A node with a short hold TTL where a buyer holds one ticket: returns
/// the ticket id, the order id and the buyer's email.
async fn one_hold(server: &Server, title: &str) -> (String, String, String) {
    let seller = server.client();
    seller.sign_up(&email("seller")).await;
    let ticket = seller.create_ticket(title, json!(5)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let addr = email("buyer");
    let buyer = server.client();
    buyer.sign_up(&addr).await;
    let (status, order) = buyer.buy(&ticket).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    (ticket, order["id"].as_str().unwrap().to_owned(), addr)
}

#[tokio::test]
async fn holds_still_expire_on_time_after_a_crash() {
    let ttl = 4;
    let mut server = Server::with(Opts {
        order_ttl_secs: ttl,
        ..Opts::default()
    });
    let (ticket, id, addr) = one_hold(&server, "Timed").await;
    let bought = Instant::now();

    server.kill9();
    server.restart();
    let buyer = server.session(&addr).await;
    let (_, o) = buyer.get(&format!("/api/orders/{id}")).await;
    if bought.elapsed() < Duration::from_secs(ttl) - Duration::from_millis(500) {
        assert_eq!(o["status"], "created", "not expired early");
    }
    eventually(
        Duration::from_secs(ttl + 15),
        "the hold to lapse after restart",
        || async {
            let (_, o) = buyer.get(&format!("/api/orders/{id}")).await;
            (o["status"] == "cancelled").then_some(())
        },
    )
    .await;
    assert!(
        bought.elapsed() >= Duration::from_secs(ttl) - Duration::from_millis(100),
        "expired at its deadline, not before"
    );
    let (_, t) = server.client().get(&format!("/api/tickets/{ticket}")).await;
    assert_eq!(t["orderId"], Value::Null, "ticket free again");
}

#[tokio::test]
async fn overdue_holds_expire_at_once_after_restart() {
    let ttl = 2;
    let mut server = Server::with(Opts {
        order_ttl_secs: ttl,
        ..Opts::default()
    });
    let (ticket, id, addr) = one_hold(&server, "Overdue").await;

    // Down across the whole hold.
    let status = server.terminate();
    assert!(status.success());
    tokio::time::sleep(Duration::from_secs(ttl + 1)).await;
    server.restart();
    let buyer = server.session(&addr).await;
    eventually(
        Duration::from_secs(10),
        "the overdue hold to lapse",
        || async {
            let (_, o) = buyer.get(&format!("/api/orders/{id}")).await;
            (o["status"] == "cancelled").then_some(())
        },
    )
    .await;
    let (status, _) = buyer.buy(&ticket).await;
    assert_eq!(status, StatusCode::CREATED, "buyable again");
}

#[tokio::test]
async fn sigterm_finishes_and_exits_zero_with_data_kept() {
    let mut server = Server::start();
    let c = server.client();
    let addr = email("term");
    c.sign_up(&addr).await;
    let t = c.create_ticket("Kept", json!(1)).await;
    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "clean exit");
    server.restart();
    let (status, shown) = server
        .client()
        .get(&format!("/api/tickets/{}", t["id"].as_str().unwrap()))
        .await;
    assert_eq!((status, shown), (StatusCode::OK, t));
    server.session(&addr).await;
}

#[tokio::test]
async fn a_second_signal_stops_at_once_with_data_kept() {
    let mut server = Server::start();
    let c = server.client();
    c.sign_up(&email("second")).await;
    let t = c.create_ticket("Kept", json!(1)).await;
    // A request whose body never comes holds the clean stop (its drain
    // waits 20 s for requests in flight).
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut stuck = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut stuck,
        b"POST /api/users/signin HTTP/1.1\r\nhost: x\r\n\
          content-type: application/json\r\ncontent-length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.signal(libc::SIGTERM);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!server.has_exited(), "the clean stop waits for the request");
    let status = server.terminate();
    assert_eq!(status.code(), Some(130), "stopped by the second signal");
    drop(stuck);
    server.restart();
    let (status, shown) = server
        .client()
        .get(&format!("/api/tickets/{}", t["id"].as_str().unwrap()))
        .await;
    assert_eq!((status, shown), (StatusCode::OK, t), "nothing lost");
}

/// The log position the newest snapshot of each of sled's two databases
/// covers (its file name), if any.
fn sled_snapshots(data_dir: &std::path::Path) -> [Option<u64>; 2] {
    ["sled", "sled-log"].map(|db| sled_snapshot(&data_dir.join(db)))
}

fn sled_snapshot(db: &std::path::Path) -> Option<u64> {
    std::fs::read_dir(db)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().ok()?;
            u64::from_str_radix(name.strip_prefix("snap.")?, 16).ok()
        })
        .max()
}

/// The titles a search for `q` lists, in order.
async fn listed(c: &Client, q: &str) -> Vec<String> {
    let (page, _) = c.get_page(&format!("/api/tickets?q={q}")).await;
    page.as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect()
}

/// A clean stop leaves what the next start would otherwise read back: sled
/// writes its snapshot only when it opens (without one made at the stop,
/// the next start reads back every write since this one: seconds after an
/// onsale), and the catalog is left stamped with where the store's event
/// log stood. The restart shows exactly what was shown before it; after a
/// kill -9 that follows later writes, the start takes the same image and
/// the events after it from the store's log.
#[tokio::test]
async fn a_restart_after_a_clean_stop_reads_nothing_back_and_shows_the_same() {
    let mut server = Server::start();
    let seller = server.client();
    let seller_addr = email("snap-seller");
    seller.sign_up(&seller_addr).await;
    let buyer_addr = email("snap-buyer");
    server.client().sign_up(&buyer_addr).await;
    let mut ids = Vec::new();
    for title in ["Gig one", "Gig two", "Gig three"] {
        let t = seller.create_ticket(title, json!(5)).await;
        ids.push(t["id"].as_str().unwrap().to_owned());
    }
    let buyer = server.session(&buyer_addr).await;
    assert_eq!(buyer.buy(&ids[1]).await.0, StatusCode::CREATED);
    let shown = listed(&seller, "gig").await;
    assert_eq!(shown, ["Gig one", "Gig three"]);
    let while_serving = sled_snapshots(server.data_dir());

    assert_eq!(server.terminate().code(), Some(0), "clean exit");
    let after_stop = sled_snapshots(server.data_dir());
    assert!(
        after_stop[0] > while_serving[0] && after_stop[1] > while_serving[1],
        "the stop wrote newer snapshots: {while_serving:?} then {after_stop:?}"
    );
    let image = server.data_dir().join("catalog.image");
    assert!(image.exists(), "the stop left the catalog");
    server.restart();
    assert_eq!(listed(&server.client(), "gig").await, shown);
    assert!(image.exists(), "kept: a start after a crash begins from it");
    let buyer = server.session(&buyer_addr).await;
    assert_eq!(buyer.buy(&ids[0]).await.0, StatusCode::CREATED);
    let seller = server.session(&seller_addr).await;
    seller.create_ticket("Gig four", json!(7)).await;
    let (status, _) = buyer.buy(&ids[1]).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "still held across the restart"
    );

    server.kill9();
    server.restart();
    assert_eq!(
        listed(&server.client(), "gig").await,
        ["Gig three", "Gig four"]
    );
}

#[tokio::test]
async fn idle_actors_leave_memory_and_pending_holds_still_lapse() {
    let server = Server::with(Opts {
        idle_secs: 1,
        order_ttl_secs: 6,
        ..Opts::default()
    });
    let seller = server.client();
    seller.sign_up(&email("idle")).await;
    let mut ids = Vec::new();
    for i in 0..40 {
        let t = seller.create_ticket(&format!("T{i}"), json!(1)).await;
        ids.push(t["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let (status, _) = seller
            .put(
                &format!("/api/tickets/{id}"),
                json!({ "title": "edited", "price": 2 }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let buyer = server.client();
    buyer.sign_up(&email("holder")).await;
    let (status, order) = buyer.buy(&ids[0]).await;
    assert_eq!(status, StatusCode::CREATED);
    let live = server.stats().await["liveActors"].as_u64().unwrap();
    assert!(live >= 1, "actors were started: {live}");

    // A pending hold keeps no actor: its deadline is a reminder on disk.
    eventually(Duration::from_secs(20), "idle actors to stop", || async {
        let live = server.stats().await["liveActors"].as_u64().unwrap();
        (live == 0).then_some(())
    })
    .await;
    let order_path = format!("/api/orders/{}", order["id"].as_str().unwrap());
    let (_, now) = buyer.get(&order_path).await;
    let (_, listed) = buyer.get("/api/tickets").await;
    let listed_ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    if now["status"] == "created" {
        assert!(!listed_ids.contains(&ids[0].as_str()), "held, not for sale");
    }
    // ... and it still lapses at its deadline, starting the order on demand.
    eventually(Duration::from_secs(20), "the hold to lapse", || async {
        let (_, o) = buyer.get(&order_path).await;
        (o["status"] == "cancelled").then_some(())
    })
    .await;
    eventually(
        Duration::from_secs(5),
        "the ticket listed again",
        || async {
            let (_, list) = buyer.get("/api/tickets").await;
            list.as_array()
                .unwrap()
                .iter()
                .any(|t| t["id"] == ids[0].as_str())
                .then_some(())
        },
    )
    .await;
    // And they come back on demand with their state.
    let (status, t) = seller
        .put(
            &format!("/api/tickets/{}", ids[5]),
            json!({ "title": "again", "price": 3 }),
        )
        .await;
    assert_eq!((status, t["version"].clone()), (StatusCode::OK, json!(2)));
}
