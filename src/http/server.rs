//! The HTTP/1 server loop, with the limits a public endpoint needs: a
//! deadline for each request head (which also closes idle keep-alive
//! connections), a cap on connections served at once, and a graceful
//! drain on shutdown. Request bodies have their own deadline (a layer in
//! the router); bodies announced larger than the limit are refused there.

use std::{future::Future, sync::Arc, time::Duration};

use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tower_http::add_extension::AddExtension;

/// How the server protects itself from slow or idle clients.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// From the previous response (or the accept) to a complete request head.
    pub(crate) header_timeout: Duration,
    /// Connections served at once.
    pub(crate) max_connections: usize,
}

/// Open files kept free for the store and the cluster when capping connections.
const SPARE_FILES: u64 = 256;

impl Limits {
    /// The connection cap, lowered to fit the open-file limit if need be.
    pub(crate) fn connection_cap(&self) -> usize {
        match open_file_limit() {
            Some(files) if (files.saturating_sub(SPARE_FILES) as usize) < self.max_connections => {
                let cap = files.saturating_sub(SPARE_FILES).max(16) as usize;
                tracing::warn!(
                    configured = self.max_connections,
                    open_file_limit = files,
                    cap,
                    "serving fewer connections at once than configured, to stay under the open-file limit"
                );
                cap
            }
            _ => self.max_connections.min(Semaphore::MAX_PERMITS),
        }
    }
}

/// The soft limit on open files, where the system says (Linux).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Longest wait for in-flight requests once shutdown starts.
const DRAIN: Duration = Duration::from_secs(20);

/// Serves `app` on `listener` until `shutdown` resolves, then lets the
/// requests in flight finish (up to [`DRAIN`]).
pub(crate) async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.connection_cap()));
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        // At the cap, stop accepting: new connections wait in the backlog.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // The client gave up before we accepted: nothing to do.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    // Out of files, say: back off rather than spin.
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small responses should leave at once, not wait for Nagle.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "setting TCP_NODELAY");
        }
        // The peer's address rides on every request of the connection.
        let service = TowerToHyperService::new(AddExtension::new(app.clone(), ConnectInfo(peer)));
        let conn = http.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after the drain period; stopping anyway");
    }
}
