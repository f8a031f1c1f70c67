//! Bad input of every kind gets a 4xx with the uniform error body, never a
//! 5xx, a plain-text rejection, or a half-written record.

mod common;

use common::{email, error_message, Server};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Every route that reads a JSON body.
const JSON_ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/users/signup"),
    ("POST", "/api/users/signin"),
    ("PUT", "/api/users/password"),
    ("POST", "/api/tickets"),
    ("PUT", "/api/tickets/{ticket}"),
    ("POST", "/api/orders"),
    ("POST", "/api/payments"),
];

#[tokio::test]
async fn malformed_bodies_get_uniform_4xx() {
    let server = Server::start();
    let c = server.client();
    c.sign_up(&email("bad")).await;
    let ticket = c.create_ticket("Real", json!(1)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = server.stats().await["lastEventSeq"].as_u64().unwrap();

    let big = format!(r#"{{"title":"{}","price":1}}"#, "x".repeat(70 * 1024));
    let cases: Vec<(Option<&str>, Vec<u8>, StatusCode)> = vec![
        (
            Some("application/json"),
            b"{\"title\": ".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Some("application/json"),
            b"".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Some("application/json"),
            b"[1,2]".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Some("application/json"),
            b"\"text\"".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Some("application/json"),
            b"null".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Some("application/json"),
            vec![0xff, 0xfe, b'{'],
            StatusCode::BAD_REQUEST,
        ),
        (Some("text/plain"), b"{}".to_vec(), StatusCode::BAD_REQUEST),
        (None, b"{}".to_vec(), StatusCode::BAD_REQUEST),
        (
            Some("application/json"),
            big.into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (method, route) in JSON_ROUTES {
        let path = route.replace("{ticket}", &ticket);
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        for (ct, body, expected) in &cases {
            let (status, res) = c.raw(method.clone(), &path, *ct, body.clone()).await;
            assert_eq!(status, *expected, "{method} {path} ct={ct:?} → {res}");
            error_message(&res);
        }
    }
    let after = server.stats().await["lastEventSeq"].as_u64().unwrap();
    assert_eq!(before, after, "nothing was written");
    let (_, t) = c.get(&format!("/api/tickets/{ticket}")).await;
    assert_eq!(
        (t["title"].clone(), t["version"].clone()),
        (json!("Real"), json!(0))
    );
}

#[tokio::test]
async fn wrong_types_name_the_field() {
    let server = Server::start();
    let c = server.client();
    c.sign_up(&email("types")).await;
    for (path, body, field) in [
        (
            "/api/users/signin",
            json!({ "email": true, "password": "x" }),
            "email",
        ),
        (
            "/api/tickets",
            json!({ "title": {"a": 1}, "price": 5 }),
            "title",
        ),
        (
            "/api/tickets",
            json!({ "title": "ok", "price": true }),
            "price",
        ),
        ("/api/orders", json!({ "ticketId": [] }), "ticketId"),
        (
            "/api/payments",
            json!({ "orderId": null, "token": "tok_visa" }),
            "orderId",
        ),
    ] {
        let (status, res) = c.post(path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}");
        assert_eq!(res["errors"][0]["field"], field, "{path} {body} → {res}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_uniform_too() {
    let server = Server::start();
    let c = server.client();
    for (method, path, expected) in [
        // (`/` and other paths outside /api are pages: tests/web.rs.)
        (Method::GET, "/api", StatusCode::NOT_FOUND),
        (Method::GET, "/api/nothing", StatusCode::NOT_FOUND),
        (Method::GET, "/api/tickets/a/b", StatusCode::NOT_FOUND),
        (Method::GET, "/api/tickets/%FF%FE", StatusCode::NOT_FOUND),
        (Method::GET, "/api/tickets/%C3%28", StatusCode::NOT_FOUND),
        (Method::GET, "/api/orders/%C3%28", StatusCode::UNAUTHORIZED),
        (
            Method::DELETE,
            "/api/tickets",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (Method::PATCH, "/api/orders", StatusCode::METHOD_NOT_ALLOWED),
        (Method::GET, "/api/payments", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let (status, body) = c.send(method.clone(), path, None, &[]).await;
        assert_eq!(status, expected, "{method} {path}");
        error_message(&body);
    }
}

#[tokio::test]
async fn admin_api_needs_the_token() {
    let server = Server::start();
    let c = server.client();
    let (status, body) = c.get("/api/admin/events").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    error_message(&body);
    let (status, _) = c
        .send(
            Method::GET,
            "/api/admin/events",
            None,
            &[("authorization", "Bearer wrong")],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = c
        .send(
            Method::GET,
            "/api/admin/events?after=-1",
            None,
            &[("authorization", &format!("Bearer {}", common::ADMIN_TOKEN))],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["field"], "after");
}

#[tokio::test]
async fn a_bad_idempotency_key_is_refused() {
    let server = Server::start();
    let c = server.client();
    c.sign_up(&email("idem")).await;
    let t = c.create_ticket("K", json!(1)).await;
    let long = "k".repeat(300);
    let (status, body) = c
        .send(
            Method::POST,
            "/api/orders",
            Some(json!({ "ticketId": t["id"] })),
            &[("idempotency-key", &long)],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    error_message(&body);
}

#[tokio::test]
async fn prices_are_exact_as_numbers_too_and_titles_must_be_visible() {
    let server = Server::start();
    let c = server.client();
    c.sign_up(&email("exact")).await;
    let post = |body: &'static str| {
        let c = c.clone();
        async move {
            c.raw(
                Method::POST,
                "/api/tickets",
                Some("application/json"),
                body.as_bytes().to_vec(),
            )
            .await
        }
    };
    // JSON numbers are read from their literal text, like strings.
    for body in [
        r#"{"title":"T","price":19.999999999999999999}"#,
        r#"{"title":"T","price":1000000.0000000001}"#,
        r#"{"title":"T","price":"19.999"}"#,
        r#"{"title":"T","price":1.005}"#,
        r#"{"title":"T","price":1e2}"#,
    ] {
        let (status, err) = post(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert_eq!(err["errors"][0]["field"], "price", "{body}");
    }
    let (status, t) = post(r#"{"title":"T","price":19.90}"#).await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!(t["price"], json!(19.9));
    let (status, t) = post(r#"{"title":"T","price":1000000.00}"#).await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!(t["price"], json!(1000000));

    // Titles made of nothing visible, or holding control characters.
    for (title, message) in [
        ("\u{200B}", "Title is required"),
        ("\u{FEFF}\u{200D} \u{200C}", "Title is required"),
        ("\u{0000}", "Title must not contain control characters"),
        ("Gig\u{0007}", "Title must not contain control characters"),
    ] {
        let (status, err) = c
            .post("/api/tickets", json!({ "title": title, "price": 5 }))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{title:?}: {err}");
        assert_eq!(err["errors"][0]["field"], "title");
        assert_eq!(err["errors"][0]["message"], message, "{title:?}");
    }
    let (status, t) = c
        .post(
            "/api/tickets",
            json!({ "title": "\u{200B} Gig \u{FEFF}", "price": 5 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        t["title"], "Gig",
        "trimmed of whitespace and format characters"
    );
}
