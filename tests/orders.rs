//! Buying, holding, cancelling, expiring and paying, over real HTTP.

mod common;

use std::time::Duration;

use common::{email, error_message, eventually, Client, Opts, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A seller with one ticket, and a signed-in buyer.
async fn market(server: &Server) -> (Client, Client, String) {
    let seller = server.client();
    seller.sign_up(&email("seller")).await;
    let ticket = seller.create_ticket("Show", json!("42.50")).await;
    let buyer = server.client();
    buyer.sign_up(&email("buyer")).await;
    (seller, buyer, ticket["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn buying_holds_the_ticket_and_shows_the_order() {
    let server = Server::start();
    let (seller, buyer, ticket) = market(&server).await;

    let (status, order) = buyer.buy(&ticket).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["status"], "created");
    assert_eq!(order["version"], 0);
    assert_eq!(order["ticket"]["id"], ticket.as_str());
    assert_eq!(order["ticket"]["price"], json!(42.5));
    assert_eq!(order["ticket"]["title"], "Show");
    let expires = order["expiresAt"].as_str().unwrap();
    assert!(
        expires.ends_with('Z') && expires.contains('T'),
        "RFC 3339 UTC: {expires}"
    );
    let id = order["id"].as_str().unwrap();

    // Held: not listed, not editable, not buyable.
    let (_, list) = seller.get("/api/tickets").await;
    assert_eq!(list, json!([]));
    let (_, t) = seller.get(&format!("/api/tickets/{ticket}")).await;
    assert_eq!(t["orderId"], id);
    let (status, body) = seller
        .put(
            &format!("/api/tickets/{ticket}"),
            json!({ "title": "x", "price": 1 }),
        )
        .await;
    assert_eq!(
        (status, error_message(&body)),
        (
            StatusCode::BAD_REQUEST,
            "Cannot edit a reserved ticket".into()
        )
    );
    let (status, body) = seller.buy(&ticket).await;
    assert_eq!(
        (status, error_message(&body)),
        (StatusCode::BAD_REQUEST, "Ticket is already reserved".into())
    );

    let (status, mine) = buyer.get("/api/orders").await;
    assert_eq!((status, mine), (StatusCode::OK, json!([order])));
    let (status, shown) = buyer.get(&format!("/api/orders/{id}")).await;
    assert_eq!((status, shown), (StatusCode::OK, order.clone()));
    let (status, _) = seller.get(&format!("/api/orders/{id}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "someone else's order");
    let (_, theirs) = seller.get("/api/orders").await;
    assert_eq!(theirs, json!([]));
}

#[tokio::test]
async fn order_input_errors() {
    let server = Server::start();
    let (_, buyer, _) = market(&server).await;
    for body in [
        json!({}),
        json!({ "ticketId": "" }),
        json!({ "ticketId": "nope" }),
        json!({ "ticketId": 5 }),
    ] {
        let (status, res) = buyer.post("/api/orders", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(res["errors"][0]["field"], "ticketId");
    }
    let (status, _) = buyer.buy("01a1fe50-1bde-724e-b775-33f6ada1a47b").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .client()
        .buy("01a1fe50-1bde-724e-b775-33f6ada1a47b")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for path in [
        "/api/orders/01a1fe50-1bde-724e-b775-33f6ada1a47b",
        "/api/orders/bogus",
    ] {
        assert_eq!(buyer.get(path).await.0, StatusCode::NOT_FOUND);
        assert_eq!(buyer.delete(path).await.0, StatusCode::NOT_FOUND);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_simultaneous_buyers_one_winner() {
    let server = Server::start();
    let seller = server.client();
    seller.sign_up(&email("hot")).await;
    let ticket = seller.create_ticket("Hot", json!(100)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut buyers = Vec::new();
    for i in 0..200 {
        let c = server.client();
        c.sign_up(&email(&format!("b{i}"))).await;
        buyers.push(c);
    }
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(buyers.len()));
    let rush: Vec<_> = buyers
        .into_iter()
        .map(|c| {
            let ticket = ticket.clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                c.buy(&ticket).await
            })
        })
        .collect();
    let mut wins = Vec::new();
    for r in rush {
        let (status, body) = r.await.unwrap();
        match status {
            StatusCode::CREATED => wins.push(body),
            StatusCode::BAD_REQUEST => {
                assert_eq!(error_message(&body), "Ticket is already reserved")
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(wins.len(), 1, "exactly one buyer wins");
    let (_, t) = seller.get(&format!("/api/tickets/{ticket}")).await;
    assert_eq!(t["orderId"], wins[0]["id"]);
    let created = server
        .events(0)
        .await
        .into_iter()
        .filter(|e| e["type"] == "OrderCreated")
        .count();
    assert_eq!(created, 1, "one OrderCreated event");
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_first_order() {
    let server = Server::start();
    let (_, buyer, ticket) = market(&server).await;
    let buy = || {
        buyer.send(
            Method::POST,
            "/api/orders",
            Some(json!({ "ticketId": ticket })),
            &[("idempotency-key", "retry-1")],
        )
    };
    let (status, first) = buy().await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, again) = buy().await;
    assert_eq!(
        (status, &again),
        (StatusCode::CREATED, &first),
        "a retry is not a second order"
    );
    let (status, _) = buyer.buy(&ticket).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a new key is a new attempt"
    );

    // The same key on another ticket is another request, not the first answer.
    let seller = server.client();
    seller.sign_up(&email("seller2")).await;
    let other = seller.create_ticket("Other", json!(5)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, second) = buyer
        .send(
            Method::POST,
            "/api/orders",
            Some(json!({ "ticketId": other })),
            &[("idempotency-key", "retry-1")],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(second["id"], first["id"]);
    assert_eq!(second["ticket"]["id"], other.as_str());
    let (_, mine) = buyer.get("/api/orders").await;
    assert_eq!(mine.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn cancelling_frees_the_ticket() {
    let server = Server::start();
    let (seller, buyer, ticket) = market(&server).await;
    let (_, order) = buyer.buy(&ticket).await;
    let id = order["id"].as_str().unwrap();

    let (status, _) = seller.delete(&format!("/api/orders/{id}")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "not the seller's to cancel"
    );
    let (status, body) = buyer.delete(&format!("/api/orders/{id}")).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));

    let (_, shown) = buyer.get(&format!("/api/orders/{id}")).await;
    assert_eq!(shown["status"], "cancelled");
    assert_eq!(shown["version"], 1);
    let (_, t) = seller.get(&format!("/api/tickets/{ticket}")).await;
    assert_eq!(t["orderId"], Value::Null);
    assert_eq!(t["version"], 2);
    let (_, list) = seller.get("/api/tickets").await;
    assert_eq!(list.as_array().unwrap().len(), 1, "listed again");

    // It can be bought again, and the buyer's orders list shows both.
    let (status, _) = buyer.buy(&ticket).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, mine) = buyer.get("/api/orders").await;
    let statuses: Vec<_> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        [json!("cancelled"), json!("created")],
        "oldest first"
    );

    let events: Vec<_> = server
        .events(0)
        .await
        .into_iter()
        .filter(|e| e["entityId"] == id)
        .collect();
    assert_eq!(
        events.iter().map(|e| e["type"].clone()).collect::<Vec<_>>(),
        [json!("OrderCreated"), json!("OrderCancelled")]
    );
}

#[tokio::test]
async fn an_unpaid_order_expires_and_frees_the_ticket() {
    let server = Server::with(Opts {
        order_ttl_secs: 2,
        ..Opts::default()
    });
    let (seller, buyer, ticket) = market(&server).await;
    let (_, order) = buyer.buy(&ticket).await;
    let id = order["id"].as_str().unwrap().to_owned();

    let expired = eventually(Duration::from_secs(20), "the order to expire", || async {
        let (_, o) = buyer.get(&format!("/api/orders/{id}")).await;
        (o["status"] == "cancelled").then_some(o)
    })
    .await;
    assert_eq!(expired["version"], 1);
    let (_, t) = seller.get(&format!("/api/tickets/{ticket}")).await;
    assert_eq!(t["orderId"], Value::Null);

    // Too late to pay; fine to buy again.
    let (status, body) = buyer.pay(&id, "tok_visa").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = buyer.delete(&format!("/api/orders/{id}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = seller.buy(&ticket).await;
    assert_eq!(status, StatusCode::CREATED);

    let kinds: Vec<_> = server
        .events(0)
        .await
        .into_iter()
        .filter(|e| e["entityId"] == id.as_str())
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(kinds, [json!("OrderCreated"), json!("OrderExpired")]);
}

#[tokio::test]
async fn paying_completes_the_order_and_sells_the_ticket() {
    let server = Server::start();
    let (seller, buyer, ticket) = market(&server).await;
    let (_, order) = buyer.buy(&ticket).await;
    let id = order["id"].as_str().unwrap().to_owned();

    let (status, body) = seller.pay(&id, "tok_visa").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = buyer.pay(&id, "tok_chargeDeclined").await;
    assert_eq!(
        (status, error_message(&body)),
        (StatusCode::BAD_REQUEST, "Your card was declined.".into())
    );
    let (_, still) = buyer.get(&format!("/api/orders/{id}")).await;
    assert_eq!(still["status"], "created", "a decline changes nothing");

    let (status, charge) = buyer.pay(&id, "tok_visa").await;
    assert_eq!(status, StatusCode::CREATED, "{charge}");
    assert!(charge["id"].is_string());

    let (_, done) = buyer.get(&format!("/api/orders/{id}")).await;
    assert_eq!(
        (done["status"].clone(), done["version"].clone()),
        (json!("complete"), json!(1))
    );
    let (status, body) = buyer.pay(&id, "tok_visa").await;
    assert_eq!(
        (status, error_message(&body)),
        (
            StatusCode::BAD_REQUEST,
            "Order has already been paid".into()
        )
    );
    let (status, _) = buyer.delete(&format!("/api/orders/{id}")).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a completed order cannot be cancelled"
    );

    // Sold: never listed or orderable again.
    let (_, list) = seller.get("/api/tickets").await;
    assert_eq!(list, json!([]));
    let (status, body) = seller.buy(&ticket).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = seller
        .put(
            &format!("/api/tickets/{ticket}"),
            json!({ "title": "again", "price": 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let charges: Vec<_> = server
        .events(0)
        .await
        .into_iter()
        .filter(|e| e["type"] == "ChargeCreated")
        .collect();
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0]["entityId"], charge["id"]);
    assert_eq!(
        charges[0]["data"]["amount"], 4250,
        "event amounts are cents"
    );
}

#[tokio::test]
async fn a_retried_payment_never_charges_twice() {
    let server = Server::start();
    let (_, buyer, ticket) = market(&server).await;
    let (_, order) = buyer.buy(&ticket).await;
    let id = order["id"].as_str().unwrap();
    let pay = || {
        buyer.send(
            Method::POST,
            "/api/payments",
            Some(json!({ "orderId": id, "token": "tok_visa" })),
            &[("idempotency-key", "pay-once")],
        )
    };
    let (s1, first) = pay().await;
    let (s2, again) = pay().await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first, again, "the retry returns the first charge");
    let charges = server
        .events(0)
        .await
        .into_iter()
        .filter(|e| e["type"] == "ChargeCreated")
        .count();
    assert_eq!(charges, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_payments_for_one_order_charge_once() {
    let server = Server::start();
    let (_, buyer, ticket) = market(&server).await;
    let (_, order) = buyer.buy(&ticket).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let attempts: Vec<_> = (0..10)
        .map(|_| {
            let b = buyer.clone();
            let id = id.clone();
            tokio::spawn(async move { b.pay(&id, "tok_visa").await })
        })
        .collect();
    let mut ok = 0;
    for a in attempts {
        let (status, body) = a.await.unwrap();
        match status {
            StatusCode::CREATED => ok += 1,
            StatusCode::BAD_REQUEST => {
                assert_eq!(error_message(&body), "Order has already been paid")
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn payment_input_errors() {
    let server = Server::start();
    let (_, buyer, ticket) = market(&server).await;
    let (_, order) = buyer.buy(&ticket).await;
    let id = order["id"].as_str().unwrap();
    for (body, field) in [
        (json!({ "token": "tok_visa" }), "orderId"),
        (json!({ "orderId": id }), "token"),
        (json!({ "orderId": id, "token": "" }), "token"),
        (json!({ "orderId": 1, "token": "tok_visa" }), "orderId"),
    ] {
        let (status, res) = buyer.post("/api/payments", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(res["errors"][0]["field"], field, "{res}");
    }
    let (status, _) = buyer
        .pay("01a1fe50-1bde-724e-b775-33f6ada1a47b", "tok_visa")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server.client().pay(id, "tok_visa").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Cancelled orders cannot be paid.
    buyer.delete(&format!("/api/orders/{id}")).await;
    let (status, body) = buyer.pay(id, "tok_visa").await;
    assert_eq!(
        (status, error_message(&body)),
        (StatusCode::BAD_REQUEST, "Order has been cancelled".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_without_a_live_actor_pay_and_cancel_and_pay_racing_expiry_is_one_or_the_other() {
    let ttl = 3;
    let server = Server::with(Opts {
        idle_secs: 1,
        order_ttl_secs: ttl,
        ..Opts::default()
    });
    let seller = server.client();
    seller.sign_up(&email("racer-seller")).await;
    let buyer = server.client();
    buyer.sign_up(&email("racer-buyer")).await;
    let ticket = |title: String| {
        let seller = seller.clone();
        async move {
            let t = seller.create_ticket(&title, json!(7)).await;
            t["id"].as_str().unwrap().to_owned()
        }
    };
    let hold = |id: String| {
        let buyer = buyer.clone();
        async move {
            let (status, order) = buyer.buy(&id).await;
            assert_eq!(status, StatusCode::CREATED, "{order}");
            order["id"].as_str().unwrap().to_owned()
        }
    };
    let (paid_t, cancelled_t) = (
        ticket("Paid".into()).await,
        ticket("Cancelled".into()).await,
    );
    let (to_pay, to_cancel) = (hold(paid_t.clone()).await, hold(cancelled_t.clone()).await);
    // No order actor was started by the holds, and the ticket actors passivate.
    eventually(Duration::from_secs(10), "no live actors", || async {
        let live = server.stats().await["liveActors"].as_u64().unwrap();
        (live == 0).then_some(())
    })
    .await;
    let (status, body) = buyer.pay(&to_pay, "tok_visa").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = buyer.delete(&format!("/api/orders/{to_cancel}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, t) = seller.get(&format!("/api/tickets/{paid_t}")).await;
    assert_eq!(t["orderId"], json!(to_pay), "sold to the payer");
    let (_, t) = seller.get(&format!("/api/tickets/{cancelled_t}")).await;
    assert_eq!(t["orderId"], Value::Null, "free again");

    // Payments sent right around the deadline: each order ends paid (and its
    // ticket sold to it) or expired (and its ticket free), never both.
    let mut races = Vec::new();
    for i in 0..6 {
        let id = ticket(format!("Race {i}")).await;
        races.push((id.clone(), hold(id).await));
    }
    tokio::time::sleep(Duration::from_millis(ttl * 1000 - 300)).await;
    let pays = races.iter().enumerate().map(|(i, (_, order))| {
        let buyer = buyer.clone();
        let order = order.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(100 * i as u64)).await;
            buyer.pay(&order, "tok_visa").await
        }
    });
    let answers = futures::future::join_all(pays).await;
    for ((ticket_id, order_id), (status, body)) in races.iter().zip(answers) {
        let final_order = eventually(Duration::from_secs(10), "the order to settle", || async {
            let (_, o) = buyer.get(&format!("/api/orders/{order_id}")).await;
            (o["status"] != "created").then_some(o)
        })
        .await;
        let (_, t) = seller.get(&format!("/api/tickets/{ticket_id}")).await;
        match final_order["status"].as_str().unwrap() {
            "complete" => {
                assert_eq!(status, StatusCode::CREATED, "paid: {body}");
                assert_eq!(t["orderId"], json!(order_id), "sold to it");
            }
            "cancelled" => {
                assert_eq!(status, StatusCode::BAD_REQUEST, "refused: {body}");
                assert_eq!(t["orderId"], Value::Null, "free again");
            }
            other => panic!("unexpected status {other}"),
        }
        let kinds: Vec<Value> = server
            .events(0)
            .await
            .into_iter()
            .filter(|e| {
                e["entityId"] == order_id.as_str() || e["data"]["orderId"] == order_id.as_str()
            })
            .map(|e| e["type"].clone())
            .collect();
        assert!(
            !(kinds.contains(&json!("ChargeCreated")) && kinds.contains(&json!("OrderExpired"))),
            "paid and expired: {kinds:?}"
        );
    }
}

#[tokio::test]
async fn the_orders_list_pages_oldest_first() {
    let server = Server::start();
    let seller = server.client();
    seller.sign_up(&email("many-seller")).await;
    let buyer = server.client();
    buyer.sign_up(&email("many-buyer")).await;
    let mut placed = Vec::new();
    for i in 0..7 {
        let t = seller.create_ticket(&format!("Lot {i}"), json!(2)).await;
        let (_, order) = buyer.buy(t["id"].as_str().unwrap()).await;
        placed.push(order["id"].as_str().unwrap().to_owned());
    }
    let pages = buyer.walk("/api/orders?limit=3", async |_| {}).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    assert_eq!(pages.concat(), placed, "every order once, oldest first");
    let (all, next) = buyer.get_page("/api/orders").await;
    assert_eq!(all.as_array().unwrap().len(), 7);
    assert_eq!(next, None, "no limit: everything up to 1000, one page");
    let (status, body) = buyer.get("/api/orders?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["field"], "limit");
}

#[tokio::test]
async fn a_buy_at_a_price_no_longer_asked_is_refused_with_the_new_price() {
    let server = Server::start();
    let (seller, buyer, ticket) = market(&server).await;
    // The buyer saw 42.50; the seller raises it before the BUY.
    let (status, _) = seller
        .put(
            &format!("/api/tickets/{ticket}"),
            json!({ "title": "Show", "price": 1000000 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = buyer
        .post("/api/orders", json!({ "ticketId": ticket, "price": 42.5 }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["errors"][0]["field"], "price");
    assert_eq!(body["errors"][0]["code"], "price_changed");
    assert!(
        error_message(&body).contains("1000000.00"),
        "names the current price: {body}"
    );
    let (_, t) = buyer.get(&format!("/api/tickets/{ticket}")).await;
    assert_eq!(t["orderId"], Value::Null, "no hold");

    // At the price shown now it holds; a price that is not one is a 400.
    let (status, order) = buyer
        .post(
            "/api/orders",
            json!({ "ticketId": ticket, "price": "1000000" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["ticket"]["price"], json!(1000000));
    let (status, body) = buyer
        .post("/api/orders", json!({ "ticketId": ticket, "price": "abc" }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
