//! Metrics in Prometheus text, served at `/metrics`. Counters and
//! histograms are recorded where things happen (the `metrics` crate's
//! macros, named here once); gauges of state (live actors, peers) are read
//! when scraped. One recorder per process: a process may hold several
//! nodes (tests), which then share it.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// HTTP requests, by route pattern, method and status.
pub(crate) const HTTP_REQUESTS: &str = "boxoffice_http_requests_total";
/// HTTP request latency in seconds, by route pattern, method and status.
pub(crate) const HTTP_DURATION: &str = "boxoffice_http_request_duration_seconds";
/// BUY decisions on this (home) node, by outcome.
pub(crate) const BUY_DECISIONS: &str = "boxoffice_buy_decisions_total";
/// Holds that ended, by how (`paid`, `cancelled`, `expired`).
pub(crate) const HOLDS_ENDED: &str = "boxoffice_holds_ended_total";
/// How late a hold lapsed: from its deadline until its expiry was written,
/// in seconds, whichever actor wrote it (a reminder is looked for every
/// 200 ms; a backlog of reminders, after a restart or in a storm, shows here).
pub(crate) const LAPSE_DELAY: &str = "boxoffice_hold_lapse_delay_seconds";
/// Holds waiting for payment now (kept by the store, read when scraped).
pub(crate) const HOLDS_PENDING: &str = "boxoffice_holds_pending";
/// Payments, by outcome (`paid`, `declined`, `unavailable`, `refused`,
/// `refunded`, `refund_failed`).
pub(crate) const PAYMENTS: &str = "boxoffice_payments_total";
/// Ticket and order actors in memory, by kind.
pub(crate) const LIVE_ACTORS: &str = "boxoffice_live_actors";
/// Writes one batch made durable (one journal sync).
pub(crate) const COMMIT_BATCH: &str = "boxoffice_group_commit_batch_size";
/// How long one batch's journal write and sync took, in seconds.
pub(crate) const FLUSH_SECONDS: &str = "boxoffice_flush_duration_seconds";
/// Peers answering (1) or not (0), by peer.
pub(crate) const PEER_UP: &str = "boxoffice_cluster_peer_up";
/// Time for a forwarded operation's answer, in seconds, by operation and outcome.
pub(crate) const FORWARD_SECONDS: &str = "boxoffice_cluster_forward_duration_seconds";
/// Accounts with a session ended in the last quarter hour, as this node's
/// revocation table holds them (its whole size).
pub(crate) const REVOKED_ACCOUNTS: &str = "boxoffice_sessions_revoked_accounts";
/// Sign-in and sign-up attempts refused for too many failures, by `limit`
/// (`address`: one account from one address; `account`: from all).
pub(crate) const THROTTLED: &str = "boxoffice_auth_throttled_total";
/// Live ticket streams (`GET /api/tickets/stream`) open now.
pub(crate) const SSE_SUBSCRIBERS: &str = "boxoffice_sse_subscribers";
/// Events of a node's log not yet in this node's catalog, by node.
pub(crate) const FOLLOWER_LAG: &str = "boxoffice_catalog_follower_lag_events";

const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const LATENESS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];
const BATCH: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// The process's recorder, installed on first use.
pub(crate) fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(SECONDS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(COMMIT_BATCH.into()), BATCH))
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(LAPSE_DELAY.into()), LATENESS))
            .expect("bucket lists are non-empty");
        match builder.install_recorder() {
            Ok(handle) => handle,
            // Someone else's recorder is installed: ours still renders
            // what is recorded through it (nothing), rather than failing.
            Err(e) => {
                tracing::warn!(error = %e, "metrics recorder already installed");
                PrometheusBuilder::new().build_recorder().handle()
            }
        }
    })
}

/// The text exposition of everything recorded so far.
pub(crate) fn render() -> String {
    let handle = handle();
    handle.run_upkeep();
    handle.render()
}
