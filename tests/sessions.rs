//! Revocable sessions, bans and abuse limits, over real HTTP against the
//! real binary (and a three-process cluster for revocation).

mod common;

use std::{net::IpAddr, time::Duration};

use common::{email, error_message, eventually, Nodes, Opts, Server, ADMIN_TOKEN, JWT_KEY};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PASSWORD: &str = "password123";

/// One sign-in from `from` (a loopback address of the test's choosing):
/// status, the session token if one was set, and the body.
async fn sign_in_from(
    base: &str,
    who: &str,
    password: &str,
    from: IpAddr,
    headers: &[(&str, &str)],
) -> (StatusCode, Option<String>, Value, Option<String>) {
    let http = reqwest::Client::builder()
        .local_address(from)
        .build()
        .unwrap();
    let mut req = http
        .post(format!("{base}/api/users/signin"))
        .json(&json!({ "email": who, "password": password }));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let token = session_token(res.headers());
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, token, res.json().await.unwrap(), retry_after)
}

fn session_token(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix("session="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .find(|t| !t.is_empty())
}

async fn sign_in(base: &str, who: &str) -> String {
    let (status, token, body, _) = sign_in_from(base, who, PASSWORD, local(1), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    token.expect("a session cookie")
}

fn local(n: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, n])
}

/// A request with `token` as a bearer token.
async fn with_token(
    base: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value, Option<String>) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .header("authorization", format!("Bearer {token}"));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let fresh = session_token(res.headers());
    let text = res.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, value, fresh)
}

/// Who the token says the caller is (null when anonymous).
async fn whoami(base: &str, token: &str) -> Value {
    let (status, body, _) =
        with_token(base, Method::GET, "/api/users/currentuser", token, None).await;
    assert_eq!(status, StatusCode::OK);
    body["currentUser"].clone()
}

/// The token's claims, re-signed with other times: how a token looks in
/// the second half of its life, without waiting for it.
fn aged(token: &str) -> String {
    let key = JWT_KEY.as_bytes();
    let mut claims: Value = jsonwebtoken::decode(
        token,
        &jsonwebtoken::DecodingKey::from_secret(key),
        &jsonwebtoken::Validation::default(),
    )
    .unwrap()
    .claims;
    let now = claims["iat"].as_u64().unwrap();
    claims["iat"] = json!(now - 600);
    claims["exp"] = json!(now + 300);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key),
    )
    .unwrap()
}

/// A cookie request with `token`: whether the answer renews it.
async fn renewed(base: &str, token: &str) -> Option<String> {
    let res = reqwest::Client::new()
        .get(format!("{base}/api/users/currentuser"))
        .header("cookie", format!("session={token}"))
        .send()
        .await
        .unwrap();
    session_token(res.headers())
}

fn admins(emails: &[&str]) -> Opts {
    Opts {
        extra_env: vec![("BOXOFFICE_ADMINS".into(), emails.join(","))],
        ..Opts::default()
    }
}

#[tokio::test]
async fn signing_out_ends_that_session_only_and_it_is_never_renewed() {
    let server = Server::start();
    let who = email("signout");
    server.client().sign_up(&who).await;
    let (a, b) = (
        sign_in(&server.url, &who).await,
        sign_in(&server.url, &who).await,
    );
    let old_a = aged(&a);
    assert!(
        renewed(&server.url, &old_a).await.is_some(),
        "live: renewed"
    );

    let res = reqwest::Client::new()
        .post(format!("{}/api/users/signout", server.url))
        .header("authorization", format!("Bearer {a}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cleared = res.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("session=;") && cleared.contains("Max-Age=0"),
        "the cookie is cleared: {cleared}"
    );
    assert_eq!(whoami(&server.url, &a).await, Value::Null, "at once");
    let (status, _, _) = with_token(&server.url, Method::GET, "/api/orders", &a, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(renewed(&server.url, &old_a).await, None, "never renewed");
    assert_eq!(
        whoami(&server.url, &b).await["email"],
        who,
        "the other session"
    );

    // A restart rebuilds what ended from the event log.
    let mut server = server;
    server.terminate();
    server.restart();
    // Ready once it has read its event log again (before that, it says so).
    eventually(
        Duration::from_secs(30),
        "ready after the restart",
        || async {
            let (status, _) = server.client().get("/readyz").await;
            (status == StatusCode::OK).then_some(())
        },
    )
    .await;
    assert_eq!(whoami(&server.url, &a).await, Value::Null);
    assert_eq!(whoami(&server.url, &b).await["email"], who);
}

#[tokio::test]
async fn a_session_is_never_renewed_onto_a_response_any_cache_may_keep() {
    let server = Server::start();
    let who = email("cached");
    server.client().sign_up(&who).await;
    let old = aged(&sign_in(&server.url, &who).await);
    let get = async |path: &str| {
        reqwest::Client::new()
            .get(format!("{}{path}", server.url))
            .header("cookie", format!("session={old}"))
            .send()
            .await
            .unwrap()
    };
    let css = get("/static/app.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(css.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("public"));
    assert!(
        css.headers().get("set-cookie").is_none(),
        "a year-cached file"
    );
    assert!(get("/api/users/currentuser")
        .await
        .headers()
        .get("set-cookie")
        .is_some());
}

#[tokio::test]
async fn a_password_change_ends_every_other_session_and_renews_the_changers() {
    let server = Server::start();
    let who = email("pwchange");
    server.client().sign_up(&who).await;
    let (mine, other) = (
        sign_in(&server.url, &who).await,
        sign_in(&server.url, &who).await,
    );
    let (status, body, fresh) = with_token(
        &server.url,
        Method::PUT,
        "/api/users/password",
        &mine,
        Some(json!({ "currentPassword": PASSWORD, "newPassword": "another secret" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fresh = fresh.expect("a fresh session for whoever changed it");
    assert_eq!(whoami(&server.url, &fresh).await["email"], who);
    assert_eq!(whoami(&server.url, &mine).await, Value::Null);
    assert_eq!(whoami(&server.url, &other).await, Value::Null);
    assert_eq!(renewed(&server.url, &aged(&other)).await, None);

    let (status, _, _, _) = sign_in_from(&server.url, &who, PASSWORD, local(1), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the old password");
    let (status, _, _, _) = sign_in_from(&server.url, &who, "another secret", local(1), &[]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn admins_ban_and_unban_accounts() {
    let boss = email("banboss");
    let server = Server::with(admins(&[&boss]));
    let admin = server.client();
    let boss_id = admin.sign_up(&boss).await;
    let who = email("banned");
    let seller = server.client();
    let id = seller.sign_up(&who).await;
    let ticket = seller.create_ticket("Kept on sale", json!(12)).await;
    let token = sign_in(&server.url, &who).await;

    // Who may: 401 anonymous, 403 a signed-in non-admin, 404 nobody.
    let path = format!("/api/users/{id}/ban");
    let (status, body) = server.client().put(&path, json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = seller.put(&path, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_message(&body), "Admins only");
    let nobody = format!("/api/users/{}/ban", uuid::Uuid::now_v7());
    assert_eq!(admin.put(&nobody, json!({})).await.0, StatusCode::NOT_FOUND);
    let (status, body) = admin
        .put(&format!("/api/users/{boss_id}/ban"), json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, body) = admin.put(&path, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "id": id, "email": who, "status": "banned" }));
    assert_eq!(
        whoami(&server.url, &token).await,
        Value::Null,
        "sessions end at once"
    );
    assert_eq!(seller.get("/api/orders").await.0, StatusCode::UNAUTHORIZED);
    let (status, _, body, _) = sign_in_from(&server.url, &who, PASSWORD, local(1), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_message(&body), "Account suspended");
    let (status, _, _, _) = sign_in_from(&server.url, &who, "wrong password", local(1), &[]).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "no word of the ban without the password"
    );
    let (_, t) = server
        .client()
        .get(&format!("/api/tickets/{}", ticket["id"].as_str().unwrap()))
        .await;
    assert_eq!(t["orderId"], Value::Null, "their tickets stay as they are");
    let updated: Vec<Value> = server
        .events(0)
        .await
        .into_iter()
        .filter(|e| e["type"] == "UserUpdated" && e["entityId"] == id.as_str())
        .collect();
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["data"]["banned"], true);

    let (status, body) = admin.delete(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "active");
    assert_eq!(
        whoami(&server.url, &token).await,
        Value::Null,
        "ended sessions stay ended"
    );
    sign_in(&server.url, &who).await;
}

#[tokio::test]
async fn ten_failures_from_one_address_throttle_that_address_only() {
    let server = Server::start();
    let who = email("guessed");
    server.client().sign_up(&who).await;
    // Ten failures, one after the other. The budget refills one failure
    // every 6 s, so a machine slow enough to take that long between them
    // needs one more; never fewer than ten.
    let mut failures = 0;
    loop {
        let (status, _, body, _) = sign_in_from(&server.url, &who, "a guess", local(2), &[]).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        failures += 1;
        assert!(failures <= 15, "not throttled after {failures} failures");
    }
    assert!(failures >= 10, "throttled after {failures} failures");
    let (status, token, body, retry) =
        sign_in_from(&server.url, &who, PASSWORD, local(2), &[]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(token.is_none());
    assert!(
        error_message(&body).starts_with("Too many failed attempts"),
        "{body}"
    );
    let secs: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=61).contains(&secs), "{secs}");
    // Guesses sent together from a fresh address wait for the one in
    // flight: they cannot outrun the count of failures.
    let burst = (0..20).map(|_| sign_in_from(&server.url, &who, "a guess", local(4), &[]));
    let statuses: Vec<StatusCode> = futures::future::join_all(burst)
        .await
        .into_iter()
        .map(|(status, ..)| status)
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    assert!((1..=10).contains(&checked), "{statuses:?}");
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        20 - checked
    );
    // The owner, elsewhere, is not locked out; other accounts are untouched.
    let (status, token, _, _) = sign_in_from(&server.url, &who, PASSWORD, local(3), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(token.is_some());
    let other = email("bystander");
    server.client().sign_up(&other).await;
    let (status, _, _, _) = sign_in_from(&server.url, &other, PASSWORD, local(2), &[]).await;
    assert_eq!(status, StatusCode::OK);

    // Probing sign-up for a taken email counts the same way.
    for _ in 0..10 {
        let (status, body) = server
            .client()
            .post(
                "/api/users/signup",
                json!({ "email": who, "password": PASSWORD }),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (status, body) = server
        .client()
        .post(
            "/api/users/signup",
            json!({ "email": who, "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}

#[tokio::test]
async fn a_hundred_failures_from_many_addresses_spare_the_owners_address() {
    // Behind a trusted proxy, X-Forwarded-For names the client.
    let server = Server::with(Opts {
        extra_env: vec![("BOXOFFICE_TRUST_PROXY".into(), "true".into())],
        ..Opts::default()
    });
    let who = email("targeted");
    server.client().sign_up(&who).await;
    let owner = [("x-forwarded-for", "203.0.113.7")];
    let (status, _, _, _) = sign_in_from(&server.url, &who, PASSWORD, local(1), &owner).await;
    assert_eq!(status, StatusCode::OK);

    // Guesses five at a time (fewer than the attempts let in flight at
    // once), from thirty addresses, never ten from one, until someone
    // who has not signed in before is turned away even with the password.
    // The budget refills at 100 a minute, so a slow machine needs a few
    // more than 100 guesses; never fewer.
    let mut guesses = 0;
    loop {
        let batch = (guesses..guesses + 5).map(|i| {
            let (url, who) = (server.url.clone(), who.clone());
            async move {
                let xff = format!("198.51.100.{}", i % 30);
                sign_in_from(
                    &url,
                    &who,
                    "a guess",
                    local(1),
                    &[("x-forwarded-for", &xff)],
                )
                .await
                .0
            }
        });
        for status in futures::future::join_all(batch).await {
            assert_ne!(status, StatusCode::OK);
        }
        guesses += 5;
        let stranger = format!("192.0.2.{guesses}");
        let (status, _, body, _) = sign_in_from(
            &server.url,
            &who,
            PASSWORD,
            local(1),
            &[("x-forwarded-for", &stranger)],
        )
        .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(guesses < 200, "still not throttled after {guesses} guesses");
    }
    assert!(guesses >= 100, "throttled after only {guesses} guesses");
    let (status, _, body, _) = sign_in_from(&server.url, &who, PASSWORD, local(1), &owner).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the owner's address is spared: {body}"
    );
    // Without --trust-proxy the header would be ignored: proven by the
    // previous test, where every guess came from the socket's address.
}

#[tokio::test]
async fn one_buyer_holds_at_most_the_cap_at_once() {
    let mut server = Server::start();
    let seller = server.client();
    seller.sign_up(&email("capseller")).await;
    let mut tickets = Vec::new();
    for i in 0..12 {
        let t = seller.create_ticket(&format!("Cap {i}"), json!(5)).await;
        tickets.push(t["id"].as_str().unwrap().to_owned());
    }
    let buyer = server.client();
    let who = email("capbuyer");
    buyer.sign_up(&who).await;
    let answers = futures::future::join_all(tickets.iter().map(|t| buyer.buy(t))).await;
    let won: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .map(|(_, o)| o)
        .collect();
    assert_eq!(won.len(), 10, "the default cap is exact under contention");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_eq!(*status, StatusCode::BAD_REQUEST);
        assert_eq!(error_message(body), "Hold limit reached");
    }
    let refused: Vec<&String> = tickets
        .iter()
        .zip(&answers)
        .filter(|(_, (s, _))| *s != StatusCode::CREATED)
        .map(|(t, _)| t)
        .collect();

    // The count survives a crash.
    server.kill9();
    server.restart();
    let buyer = server.client();
    buyer.sign_in(&who).await;
    assert_eq!(buyer.buy(refused[0]).await.0, StatusCode::BAD_REQUEST);
    // A hold that ends makes room.
    let order = won[0]["id"].as_str().unwrap();
    assert_eq!(
        buyer.delete(&format!("/api/orders/{order}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(buyer.buy(refused[0]).await.0, StatusCode::CREATED);
    assert_eq!(buyer.buy(refused[1]).await.0, StatusCode::BAD_REQUEST);
}

async fn live_everywhere(urls: &[&str], token: &str, id: &str) {
    for url in urls {
        assert_eq!(whoami(url, token).await["id"], id, "{url}");
    }
}

/// Every node refuses `token` soon (within a pull of the event log).
async fn gone_everywhere(urls: &[&str], token: &str) {
    for url in urls {
        eventually(
            Duration::from_secs(10),
            "the token refused on every node",
            || async { whoami(url, token).await.is_null().then_some(()) },
        )
        .await;
    }
}

#[tokio::test]
async fn revocation_reaches_every_node_and_the_hold_cap_is_per_node() {
    let boss = email("clusterboss");
    let nodes = Nodes::start(3, |_| Opts {
        extra_env: vec![
            ("BOXOFFICE_ADMINS".into(), boss.clone()),
            ("BOXOFFICE_MAX_HOLDS_PER_USER".into(), "2".into()),
        ],
        ..Opts::default()
    });
    nodes.all_ready().await;
    let urls: Vec<&str> = nodes.servers.iter().map(|s| s.url.as_str()).collect();
    let who = email("roaming");
    let user = nodes.servers[0].client();
    let id = user.sign_up(&who).await;
    // Signed in on node 0, signed out through node 1.
    let a = sign_in(urls[0], &who).await;
    let b = sign_in(urls[2], &who).await;
    live_everywhere(&urls, &a, &id).await;
    let (status, _, _) = with_token(urls[1], Method::POST, "/api/users/signout", &a, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        whoami(urls[1], &a).await.is_null(),
        "at once where it was asked"
    );
    gone_everywhere(&urls, &a).await;
    live_everywhere(&urls, &b, &id).await;

    // Banned through node 2 by an admin who signed in on node 1.
    let admin = nodes.servers[1].client();
    admin.sign_up(&boss).await;
    let (status, body) = admin.put(&format!("/api/users/{id}/ban"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    gone_everywhere(&urls, &b).await;
    for url in &urls {
        let (status, _, _, _) = sign_in_from(url, &who, PASSWORD, local(1), &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{url}");
    }
    assert_eq!(
        admin.delete(&format!("/api/users/{id}/ban")).await.0,
        StatusCode::OK
    );

    // The hold cap (2 here) is exact per node: at most 2 holds on each of
    // the 3 nodes, so at most 6 in the cluster.
    let seller = nodes.servers[0].client();
    seller.sign_up(&email("clusterseller")).await;
    let mut tickets = Vec::new();
    for i in 0..24 {
        let t = seller.create_ticket(&format!("Spread {i}"), json!(3)).await;
        tickets.push(t["id"].as_str().unwrap().to_owned());
    }
    let buyer = nodes.servers[1].client();
    buyer.sign_in(&who).await;
    let answers = futures::future::join_all(tickets.iter().map(|t| buyer.buy(t))).await;
    let mut per_node = [0usize; 3];
    let mut tried = [0usize; 3];
    for (t, (status, body)) in tickets.iter().zip(&answers) {
        tried[nodes.home(t)] += 1;
        match *status {
            StatusCode::CREATED => per_node[nodes.home(t)] += 1,
            _ => assert_eq!(error_message(body), "Hold limit reached"),
        }
    }
    for n in 0..3 {
        assert_eq!(
            per_node[n],
            tried[n].min(2),
            "node {n}: {per_node:?} of {tried:?}"
        );
    }
}

#[tokio::test]
async fn the_admin_token_does_not_make_a_session_admin() {
    // The operator's bearer token is for /api/admin/* only.
    let server = Server::start();
    let id = server.client().sign_up(&email("plain")).await;
    let (status, _, _) = with_token(
        &server.url,
        Method::PUT,
        &format!("/api/users/{id}/ban"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
