//! Accounts and sessions over real HTTP.

mod common;

use common::{email, error_message, Client, Server, JWT_KEY};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn sign_up_sign_in_sign_out_and_current_user() {
    let server = Server::start();
    let c = server.client();

    let (status, body) = c.get("/api/users/currentuser").await;
    assert_eq!(
        (status, &body),
        (StatusCode::OK, &json!({ "currentUser": null }))
    );

    let addr = email("alice");
    let (status, body) = c
        .post("/api/users/signup", json!({ "email": format!("  {}  ", addr.to_uppercase()), "password": "  longenough  " }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["email"], addr, "trimmed and lower-cased");
    let id = body["id"].as_str().unwrap().to_owned();

    let (_, me) = c.get("/api/users/currentuser").await;
    assert_eq!(me["currentUser"]["id"], id);
    assert_eq!(me["currentUser"]["email"], addr);
    let iat = me["currentUser"]["iat"].as_u64().unwrap();
    assert_eq!(me["currentUser"]["exp"].as_u64().unwrap() - iat, 15 * 60);

    let (status, body) = c.post("/api/users/signout", json!({})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let (_, me) = c.get("/api/users/currentuser").await;
    assert_eq!(me["currentUser"], Value::Null, "signed out");

    // Sign in with the address in another case; the password is trimmed too.
    let (status, body) = c
        .post(
            "/api/users/signin",
            json!({ "email": addr.to_uppercase(), "password": "longenough " }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], id);
    let (_, me) = c.get("/api/users/currentuser").await;
    assert_eq!(me["currentUser"]["id"], id);
}

#[tokio::test]
async fn the_cookie_is_http_only_lax_and_not_secure_by_default() {
    let server = Server::start();
    let res = reqwest::Client::new()
        .post(format!("{}/api/users/signup", server.url))
        .json(&json!({ "email": email("cookie"), "password": "password123" }))
        .send()
        .await
        .unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");

    let res = reqwest::Client::new()
        .post(format!("{}/api/users/signout", server.url))
        .send()
        .await
        .unwrap();
    let cleared = res.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
}

#[tokio::test]
async fn wrong_credentials_get_one_answer() {
    let server = Server::start();
    let c = server.client();
    let addr = email("bob");
    c.sign_up(&addr).await;
    let anon = server.client();
    for (e, p) in [
        (addr.as_str(), "wrong-password"),
        ("nobody@example.com", "password123"),
    ] {
        let (status, body) = anon
            .post("/api/users/signin", json!({ "email": e, "password": p }))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_message(&body), "Invalid credentials");
    }
    // Input that cannot be an account gets field errors, in the original
    // app's words, not "Invalid credentials".
    for (body, field, message) in [
        (
            json!({ "email": "test", "password": "x" }),
            "email",
            "Email must be valid",
        ),
        (
            json!({ "email": "not an email", "password": "password123" }),
            "email",
            "Email must be valid",
        ),
        (
            json!({ "email": "a@b.co", "password": "" }),
            "password",
            "You must supply a password",
        ),
        (
            json!({ "email": "a@b.co", "password": "   " }),
            "password",
            "You must supply a password",
        ),
    ] {
        let (status, err) = anon.post("/api/users/signin", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert_eq!(err["errors"][0]["field"], field, "{body}");
        assert_eq!(err["errors"][0]["message"], message, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_simultaneous_password_changes_exactly_one_wins() {
    let server = Server::start();
    let addr = email("twice");
    let first = server.client();
    first.sign_up(&addr).await;
    let second = server.session(&addr).await;
    let change = |c: Client, new: &'static str| async move {
        c.put(
            "/api/users/password",
            json!({ "currentPassword": "password123", "newPassword": new }),
        )
        .await
    };
    let (a, b) = tokio::join!(
        change(first.clone(), "first new password"),
        change(second.clone(), "second new password")
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::BAD_REQUEST],
        "one wins, one is told: {} / {}",
        a.1,
        b.1
    );
    let (loser, winner_password, loser_password) = if a.0 == StatusCode::OK {
        (b.1, "first new password", "second new password")
    } else {
        (a.1, "second new password", "first new password")
    };
    assert_eq!(loser["errors"][0]["field"], "currentPassword", "{loser}");
    let anon = server.client();
    let (status, _) = anon
        .post(
            "/api/users/signin",
            json!({ "email": addr, "password": winner_password }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "the winner's password works");
    let (status, _) = anon
        .post(
            "/api/users/signin",
            json!({ "email": addr, "password": loser_password }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the loser's does not");
}

#[tokio::test]
async fn sign_up_validates_email_and_password() {
    let server = Server::start();
    let c = server.client();
    for (body, field) in [
        (
            json!({ "email": "nope", "password": "password123" }),
            "email",
        ),
        (
            json!({ "email": email("short"), "password": "  1234567  " }),
            "password",
        ),
        (
            json!({ "email": email("long"), "password": "x".repeat(129) }),
            "password",
        ),
        (json!({ "password": "password123" }), "email"),
        (json!({ "email": 42, "password": "password123" }), "email"),
    ] {
        let (status, res) = c.post("/api/users/signup", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {res}");
        assert_eq!(res["errors"][0]["field"], field, "{res}");
    }
    // Both wrong: both reported.
    let (_, res) = c.post("/api/users/signup", json!({})).await;
    assert_eq!(res["errors"].as_array().unwrap().len(), 2, "{res}");
    // 128 characters, no composition rules: fine.
    let (status, _) = c
        .post(
            "/api/users/signup",
            json!({ "email": email("ok"), "password": "a".repeat(128) }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_email_is_refused_even_when_ten_signups_race() {
    let server = Server::start();
    let addr = email("race");
    let attempts: Vec<_> = (0..10)
        .map(|i| {
            let c = server.client();
            // Different spellings of one address are one account.
            let spelled = if i % 2 == 0 {
                addr.clone()
            } else {
                addr.to_uppercase()
            };
            tokio::spawn(async move {
                c.post(
                    "/api/users/signup",
                    json!({ "email": spelled, "password": "password123" }),
                )
                .await
            })
        })
        .collect();
    let mut created = 0;
    for a in attempts {
        let (status, body) = a.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::BAD_REQUEST => assert_eq!(error_message(&body), "Email in use"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(created, 1, "exactly one signup wins");
    let created_events = server
        .events(0)
        .await
        .into_iter()
        .filter(|e| e["type"] == "UserCreated" && e["data"]["email"] == addr)
        .count();
    assert_eq!(created_events, 1);
}

#[tokio::test]
async fn change_password_needs_the_current_one_and_emits_user_updated() {
    let server = Server::start();
    let c = server.client();
    let addr = email("pw");
    let id = c.sign_up(&addr).await;

    let anon = server.client();
    let (status, _) = anon
        .put(
            "/api/users/password",
            json!({ "currentPassword": "password123", "newPassword": "brand new pass" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, body) = c
        .put(
            "/api/users/password",
            json!({ "currentPassword": "not it at all", "newPassword": "brand new pass" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["field"], "currentPassword");

    let (status, body) = c
        .put(
            "/api/users/password",
            json!({ "currentPassword": "password123", "newPassword": "short" }),
        )
        .await;
    assert_eq!(
        (status, body["errors"][0]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("newPassword"))
    );

    let (status, body) = c
        .put(
            "/api/users/password",
            json!({ "currentPassword": "password123", "newPassword": "brand new pass" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let fresh = server.client();
    let (status, _) = fresh
        .post(
            "/api/users/signin",
            json!({ "email": addr, "password": "password123" }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "old password no longer works"
    );
    let (status, _) = fresh
        .post(
            "/api/users/signin",
            json!({ "email": addr, "password": "brand new pass" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let updated: Vec<Value> = server
        .events(0)
        .await
        .into_iter()
        .filter(|e| e["type"] == "UserUpdated" && e["entityId"] == id)
        .collect();
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["version"], 1);
}

fn token(claims: Value, key: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A session's claims as the server issues them (a session of its own).
fn claims(id: &str, email: &str, iat: u64, exp: u64) -> Value {
    json!({
        "id": id, "email": email, "iat": iat, "exp": exp,
        "role": "user", "sid": uuid::Uuid::now_v7(), "epoch": 0
    })
}

async fn current_user_with(server: &Server, auth: &str) -> Value {
    let (status, body) = Client::new(&server.url)
        .send(
            Method::GET,
            "/api/users/currentuser",
            None,
            &[("authorization", auth)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    body["currentUser"].clone()
}

#[tokio::test]
async fn bearer_tokens_work_and_bad_tokens_mean_anonymous() {
    let server = Server::start();
    let who = email("bearer");
    let id = server.client().sign_up(&who).await;
    let t = now();
    let good = token(claims(&id, &who, t, t + 900), JWT_KEY);
    assert_eq!(
        current_user_with(&server, &format!("Bearer {good}")).await["id"],
        id
    );

    let expired = token(claims(&id, &who, t - 2000, t - 1000), JWT_KEY);
    let wrong_key = token(claims(&id, &who, t, t + 900), "some other key");
    let mut tampered = good.clone();
    tampered.insert(good.find('.').unwrap() + 3, 'A');
    // alg "none": header {"alg":"none","typ":"JWT"}, no signature.
    let none = format!(
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
        good.split('.').nth(1).unwrap()
    );
    for bad in [expired, wrong_key, tampered, none, "garbage".into()] {
        assert_eq!(
            current_user_with(&server, &format!("Bearer {bad}")).await,
            Value::Null,
            "{bad}"
        );
    }
    // Protected routes say 401 with the uniform body.
    let (status, body) = Client::new(&server.url)
        .send(
            Method::GET,
            "/api/orders",
            None,
            &[("authorization", "Bearer garbage")],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_message(&body), "Not authorized");
}

#[tokio::test]
async fn a_cookie_past_half_its_life_is_renewed() {
    let server = Server::start();
    let who = email("renew");
    let id = server.client().sign_up(&who).await;
    let t = now();
    let http = reqwest::Client::new();
    let ask = |tok: String| {
        http.get(format!("{}/api/users/currentuser", server.url))
            .header("cookie", format!("session={tok}"))
            .send()
    };
    let young = token(claims(&id, &who, t, t + 900), JWT_KEY);
    let res = ask(young).await.unwrap();
    assert!(
        res.headers().get("set-cookie").is_none(),
        "young token: no renewal"
    );

    let old = token(claims(&id, &who, t - 600, t + 300), JWT_KEY);
    let res = ask(old).await.unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("session=") && cookie.contains("Max-Age=900"),
        "{cookie}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["currentUser"]["id"], id, "the old token still counted");
}

#[tokio::test]
async fn only_the_accounts_listed_in_boxoffice_admins_are_admins() {
    let boss = email("boss");
    let server = Server::with(common::Opts {
        // Listed in another case: emails are compared normalized.
        extra_env: vec![(
            "BOXOFFICE_ADMINS".into(),
            format!(" {} ,", boss.to_uppercase()),
        )],
        ..common::Opts::default()
    });
    let admin = server.client();
    admin.sign_up(&boss).await;
    let (_, me) = admin.get("/api/users/currentuser").await;
    assert_eq!(me["currentUser"]["role"], "admin", "{me}");
    // Signing in again gives the role again.
    let again = server.session(&boss).await;
    let (_, me) = again.get("/api/users/currentuser").await;
    assert_eq!(me["currentUser"]["role"], "admin");

    let someone = server.client();
    someone.sign_up(&email("someone")).await;
    let (_, me) = someone.get("/api/users/currentuser").await;
    assert_eq!(me["currentUser"]["role"], "user", "{me}");
}
