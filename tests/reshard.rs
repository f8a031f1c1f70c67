//! Resizing offline: one node's data becomes a two-node cluster.

mod common;

use std::{collections::HashMap, process::Command};

use common::{cluster_env, email, free_port, Opts, Server, COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn reshard_moves_every_entity_to_its_new_home() {
    // Before: one node with accounts, tickets, and orders in every state,
    // and a banned account whose earlier session must stay ended.
    let boss = email("boss");
    let mut before = Server::with(Opts {
        extra_env: vec![("BOXOFFICE_ADMINS".into(), boss.clone())],
        ..Opts::default()
    });
    let admin = before.client();
    admin.sign_up(&boss).await;
    let banned_addr = email("banned");
    let banned_id = before.client().sign_up(&banned_addr).await;
    let banned_token = token_of(&before.url, &banned_addr).await;
    let (status, _) = admin
        .put(&format!("/api/users/{banned_id}/ban"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let seller_addr = email("seller");
    let buyer_addr = email("buyer");
    let seller = before.client();
    seller.sign_up(&seller_addr).await;
    let buyer = before.client();
    buyer.sign_up(&buyer_addr).await;
    let mut tickets = Vec::new();
    for i in 0..8 {
        tickets.push(seller.create_ticket(&format!("T{i}"), json!(i + 1)).await);
    }
    let id = |t: &Value| t["id"].as_str().unwrap().to_owned();
    let (_, paid) = buyer.buy(&id(&tickets[0])).await;
    let (status, _) = buyer.pay(paid["id"].as_str().unwrap(), "tok_visa").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = buyer.buy(&id(&tickets[1])).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, cancelled) = buyer.buy(&id(&tickets[2])).await;
    buyer
        .delete(&format!(
            "/api/orders/{}",
            cancelled["id"].as_str().unwrap()
        ))
        .await;
    let mut versions = HashMap::new();
    for t in &tickets {
        let (_, now) = seller.get(&format!("/api/tickets/{}", id(t))).await;
        versions.insert(id(t), now["version"].clone());
    }
    let (_, orders_before) = buyer.get("/api/orders").await;
    assert!(before.terminate().success());

    // Reshard into two members with a different shard count.
    let out = tempfile::tempdir().unwrap();
    let addrs = [
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    ];
    let peers = format!("r0@{},r1@{}", addrs[0], addrs[1]);
    let reshard = || {
        Command::new(env!("CARGO_BIN_EXE_boxoffice"))
            .arg("reshard")
            .arg("--from")
            .arg(before.data_dir())
            .args(["--peers", &peers, "--shards", "32", "--out"])
            .arg(out.path())
            .output()
            .unwrap()
    };
    let run = reshard();
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(report.contains("r0:") && report.contains("r1:"), "{report}");

    // Running it again onto the same dirs is refused rather than merged.
    let again = reshard();
    assert!(!again.status.success());

    // After: a two-node cluster on the new dirs serves everything.
    let nodes: Vec<Server> = ["r0", "r1"]
        .iter()
        .zip(&addrs)
        .map(|(name, addr)| {
            let mut env = cluster_env(name, addr, &peers, COOKIE);
            env.retain(|(k, _)| k != "BOXOFFICE_SHARDS");
            env.push(("BOXOFFICE_SHARDS".into(), "32".into()));
            Server::with(Opts {
                extra_env: env,
                data_dir: Some(out.path().join(name)),
                ..Opts::default()
            })
        })
        .collect();
    for n in &nodes {
        common::eventually(std::time::Duration::from_secs(20), "ready", || async {
            (n.client().get("/readyz").await.0 == StatusCode::OK).then_some(())
        })
        .await;
    }
    for n in &nodes {
        let buyer = n.client();
        let (status, _) = buyer
            .post(
                "/api/users/signin",
                json!({ "email": buyer_addr, "password": "password123" }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "accounts moved");
        let (_, orders) = buyer.get("/api/orders").await;
        assert_eq!(orders, orders_before, "every order, same state and version");
        let (status, _) = n
            .client()
            .post(
                "/api/users/signin",
                json!({ "email": banned_addr, "password": "password123" }),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "still banned");
        let (_, me) = n
            .client()
            .send(
                reqwest::Method::GET,
                "/api/users/currentuser",
                None,
                &[("authorization", &format!("Bearer {banned_token}"))],
            )
            .await;
        assert_eq!(
            me["currentUser"],
            Value::Null,
            "the ban's ended session stays ended"
        );
        for t in &tickets {
            let (status, now) = buyer.get(&format!("/api/tickets/{}", id(t))).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(now["version"], versions[&id(t)], "versions kept");
        }
        common::eventually(
            std::time::Duration::from_secs(10),
            "catalog rebuilt",
            || async {
                let (_, list) = n.client().get("/api/tickets").await;
                (list.as_array().map_or(0, Vec::len) == 6).then_some(())
            },
        )
        .await;
        let (status, body) = buyer.buy(&id(&tickets[0])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "still sold: {body}");
        let (status, _) = buyer.buy(&id(&tickets[1])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "still held");
    }
}

/// A fresh session's token for `who`, from the cookie sign-in sets.
async fn token_of(base: &str, who: &str) -> String {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/users/signin"))
        .json(&json!({ "email": who, "password": "password123" }))
        .send()
        .await
        .unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    cookie
        .strip_prefix("session=")
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned()
}
