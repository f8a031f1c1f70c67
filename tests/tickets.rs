//! Selling tickets over real HTTP.

mod common;

use common::{email, error_message, Server};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn create_show_list_and_edit() {
    let server = Server::start();
    let seller = server.client();
    let seller_id = seller.sign_up(&email("seller")).await;

    let t = seller.create_ticket("  Concert  ", json!("19.99")).await;
    assert_eq!(t["title"], "Concert");
    assert_eq!(t["price"], json!(19.99));
    assert_eq!(t["userId"], seller_id);
    assert_eq!(t["version"], 0);
    assert_eq!(t["orderId"], serde_json::Value::Null);
    let id = t["id"].as_str().unwrap();

    let anon = server.client();
    let (status, shown) = anon.get(&format!("/api/tickets/{id}")).await;
    assert_eq!((status, &shown), (StatusCode::OK, &t));
    let (_, list) = anon.get("/api/tickets").await;
    assert_eq!(list, json!([t]));

    let (status, edited) = seller
        .put(
            &format!("/api/tickets/{id}"),
            json!({ "title": "Concert (moved)", "price": 25 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["title"], "Concert (moved)");
    assert_eq!(edited["price"], json!(25));
    assert_eq!(edited["version"], 1);

    let types: Vec<_> = server
        .events(0)
        .await
        .into_iter()
        .filter(|e| e["entityId"] == id)
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            ("TicketCreated".to_owned(), 0),
            ("TicketUpdated".to_owned(), 1)
        ]
    );
}

#[tokio::test]
async fn only_signed_in_users_sell_and_only_owners_edit() {
    let server = Server::start();
    let anon = server.client();
    let (status, body) = anon
        .post("/api/tickets", json!({ "title": "x", "price": 1 }))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    error_message(&body);

    let seller = server.client();
    seller.sign_up(&email("owner")).await;
    let t = seller.create_ticket("Mine", json!(10)).await;
    let id = t["id"].as_str().unwrap();

    let other = server.client();
    other.sign_up(&email("other")).await;
    let (status, _) = other
        .put(
            &format!("/api/tickets/{id}"),
            json!({ "title": "Yours", "price": 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = anon
        .put(
            &format!("/api/tickets/{id}"),
            json!({ "title": "Yours", "price": 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, still) = anon.get(&format!("/api/tickets/{id}")).await;
    assert_eq!(still["title"], "Mine");
}

#[tokio::test]
async fn unknown_tickets_are_404() {
    let server = Server::start();
    let c = server.client();
    c.sign_up(&email("nf")).await;
    for id in ["01a1fe50-1bde-724e-b775-33f6ada1a47b", "not-an-id"] {
        let (status, body) = c.get(&format!("/api/tickets/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(error_message(&body), "Ticket not found");
        let (status, _) = c
            .put(
                &format!("/api/tickets/{id}"),
                json!({ "title": "x", "price": 1 }),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn title_and_price_are_validated() {
    let server = Server::start();
    let c = server.client();
    c.sign_up(&email("val")).await;
    let long = "t".repeat(201);
    for (body, field) in [
        (json!({ "title": "", "price": 10 }), "title"),
        (json!({ "title": "   ", "price": 10 }), "title"),
        (json!({ "title": long, "price": 10 }), "title"),
        (json!({ "title": 7, "price": 10 }), "title"),
        (json!({ "price": 10 }), "title"),
        (json!({ "title": "ok", "price": 0 }), "price"),
        (json!({ "title": "ok", "price": -10 }), "price"),
        (json!({ "title": "ok", "price": 1.234 }), "price"),
        (json!({ "title": "ok", "price": "abc" }), "price"),
        (json!({ "title": "ok", "price": 1_000_000.01 }), "price"),
        (json!({ "title": "ok", "price": [1] }), "price"),
        (json!({ "title": "ok" }), "price"),
    ] {
        let (status, res) = c.post("/api/tickets", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {res}");
        assert_eq!(res["errors"][0]["field"], field, "{body} → {res}");
    }
    for (price, shown) in [
        (json!("12.5"), json!(12.5)),
        (json!(1_000_000), json!(1_000_000)),
        (json!(0.01), json!(0.01)),
    ] {
        let t = c.create_ticket("Edge", price).await;
        assert_eq!(t["price"], shown);
    }
    let (_, list) = c.get("/api/tickets").await;
    assert_eq!(list.as_array().unwrap().len(), 3, "no half-written tickets");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_get_distinct_versions_and_none_is_lost() {
    let server = Server::start();
    let seller = server.client();
    seller.sign_up(&email("edits")).await;
    let id = seller.create_ticket("Base", json!(1)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let edits: Vec<_> = (1..=10)
        .map(|i| {
            let c = seller.clone();
            let path = format!("/api/tickets/{id}");
            tokio::spawn(async move {
                c.put(&path, json!({ "title": format!("Edit {i}"), "price": i }))
                    .await
            })
        })
        .collect();
    let mut versions = Vec::new();
    for e in edits {
        let (status, body) = e.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        versions.push(body["version"].as_u64().unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=10).collect::<Vec<_>>());
    let (_, t) = seller.get(&format!("/api/tickets/{id}")).await;
    assert_eq!(t["version"], 10);
    let updates = server
        .events(0)
        .await
        .into_iter()
        .filter(|e| e["type"] == "TicketUpdated" && e["entityId"] == id.as_str())
        .count();
    assert_eq!(updates, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_hold_every_ticket_for_sale_once_while_others_are_held_and_freed() {
    let server = Server::start();
    let seller = server.client();
    seller.sign_up(&email("pager")).await;
    let mut ids = Vec::new();
    for i in 0..23 {
        let t = seller
            .create_ticket(&format!("Row {i} seat"), json!(3))
            .await;
        ids.push(t["id"].as_str().unwrap().to_owned());
    }
    // Small catalogs behave as before: one list, no Link header.
    let res = reqwest::get(format!("{}/api/tickets", server.url))
        .await
        .unwrap();
    assert!(res.headers().get("link").is_none());
    let all: serde_json::Value = res.json().await.unwrap();
    assert_eq!(all.as_array().unwrap().len(), 23);

    // Tickets that stay for sale throughout: even ones; odd ones are held
    // and freed while the pages are read.
    let buyer = server.client();
    buyer.sign_up(&email("churner")).await;
    let churn = |page: usize| {
        let buyer = buyer.clone();
        let ids = ids.clone();
        async move {
            let id = &ids[(page * 2 + 1) % ids.len()];
            let (status, order) = buyer.buy(id).await;
            if status == StatusCode::CREATED {
                let order = order["id"].as_str().unwrap();
                buyer.delete(&format!("/api/orders/{order}")).await;
            }
        }
    };
    let pages = server.client().walk("/api/tickets?limit=5", churn).await;
    assert!(pages.len() >= 5, "{} pages", pages.len());
    assert!(pages.iter().all(|p| p.len() <= 5));
    let seen: Vec<&String> = pages.iter().flatten().collect();
    let unique: std::collections::HashSet<&String> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no ticket twice");
    for (i, id) in ids.iter().enumerate() {
        if i % 2 == 0 {
            assert!(
                unique.contains(id),
                "ticket {i}, for sale throughout, was listed"
            );
        }
    }
    let mut in_order = seen.clone();
    in_order.sort();
    assert_eq!(in_order, seen, "oldest first across pages");
}

#[tokio::test]
async fn search_finds_word_prefixes_and_bad_parameters_are_refused() {
    let server = Server::start();
    let seller = server.client();
    seller.sign_up(&email("searcher")).await;
    for title in ["Rock Concert", "Jazz Night", "rocky horror", "Concerto"] {
        seller.create_ticket(title, json!(10)).await;
    }
    let titles = |q: &'static str| {
        let c = seller.clone();
        async move {
            let (status, body) = c.get(&format!("/api/tickets?q={q}")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body.as_array()
                .unwrap()
                .iter()
                .map(|t| t["title"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(titles("ROCK").await, ["Rock Concert", "rocky horror"]);
    assert_eq!(titles("conc").await, ["Rock Concert", "Concerto"]);
    assert_eq!(titles("rock%20conc").await, ["Rock Concert"]);
    assert!(titles("ock").await.is_empty());

    let pages = seller.walk("/api/tickets?q=c&limit=1", async |_| {}).await;
    let found: Vec<String> = pages.into_iter().flatten().collect();
    assert_eq!(found.len(), 2, "both tickets with a word starting with c");

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("after=nope", "after"),
    ] {
        let (status, body) = seller.get(&format!("/api/tickets?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{query}");
        error_message(&body);
    }
}
