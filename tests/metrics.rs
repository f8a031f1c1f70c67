//! `/metrics` after a small rush: Prometheus text with the series an
//! operator watches during an onsale.

mod common;

use common::{email, Server};
use reqwest::StatusCode;
use serde_json::json;

/// The value of the first sample of `name` whose labels contain every one
/// of `labels` (`key="value"`), if any.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && labels.iter().all(|want| l.contains(want)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn metrics_show_the_rush() {
    let server = Server::start();
    let seller = server.client();
    seller.sign_up(&email("metrics-seller")).await;
    let buyer = server.client();
    buyer.sign_up(&email("metrics-buyer")).await;
    let rival = server.client();
    rival.sign_up(&email("metrics-rival")).await;
    let mut orders = Vec::new();
    for i in 0..3 {
        let t = seller.create_ticket(&format!("M{i}"), json!(4)).await;
        let id = t["id"].as_str().unwrap().to_owned();
        let (status, order) = buyer.buy(&id).await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, _) = rival.buy(&id).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "already held");
        orders.push(order["id"].as_str().unwrap().to_owned());
    }
    let (status, _) = buyer.pay(&orders[0], "tok_visa").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = buyer.pay(&orders[1], "tok_chargeDeclined").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = buyer.delete(&format!("/api/orders/{}", orders[2])).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let res = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text().await.unwrap();
    let at_least = |name: &str, labels: &[&str], n: f64| {
        let v = sample(&text, name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{text}"));
        assert!(v >= n, "{name} {labels:?} = {v}, expected at least {n}");
    };
    at_least("boxoffice_buy_decisions_total", &[r#"outcome="won""#], 3.0);
    at_least(
        "boxoffice_buy_decisions_total",
        &[r#"outcome="reserved""#],
        3.0,
    );
    at_least("boxoffice_payments_total", &[r#"outcome="paid""#], 1.0);
    at_least("boxoffice_payments_total", &[r#"outcome="declined""#], 1.0);
    at_least("boxoffice_holds_ended_total", &[r#"how="paid""#], 1.0);
    at_least("boxoffice_holds_ended_total", &[r#"how="cancelled""#], 1.0);
    // Three holds placed, two ended: one still pending.
    assert_eq!(sample(&text, "boxoffice_holds_pending", &[]), Some(1.0));
    // Requests by route pattern, never by raw path.
    at_least(
        "boxoffice_http_requests_total",
        &[
            r#"route="/api/orders""#,
            r#"method="POST""#,
            r#"status="201""#,
        ],
        3.0,
    );
    at_least(
        "boxoffice_http_request_duration_seconds_count",
        &[r#"route="/api/orders/{id}""#, r#"method="DELETE""#],
        1.0,
    );
    assert!(
        !text.contains(&orders[2]),
        "no series is labelled with an id"
    );
    at_least("boxoffice_flush_duration_seconds_count", &[], 1.0);
    at_least("boxoffice_group_commit_batch_size_count", &[], 1.0);
    assert!(sample(&text, "boxoffice_live_actors", &[r#"kind="ticket""#]).is_some());
    assert!(
        sample(&text, "boxoffice_catalog_follower_lag_events", &[]).is_none(),
        "a lone node follows no log: its own changes reach its catalog directly"
    );
}
