//! Running as one of several nodes: placement of entities on nodes,
//! membership and failure detection, and forwarding to an entity's home.
//!
//! ractor_cluster provides authenticated connections (a shared cookie),
//! remote calls and process groups. Membership, reconnects, failure
//! detection and naming are built here: each node's [`gateway`] joins a
//! process group named after the node; [`membership`] dials, re-dials and
//! pings peers; [`Cluster::call`] answers 503 at once for a peer that is
//! down and gives up on a slow one after [`FORWARD_TIMEOUT`].

pub(crate) mod gateway;
pub(crate) mod membership;
pub mod placement;
pub(crate) mod tls;
pub(crate) mod wire;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use ractor::{rpc::CallResult, Actor};
use ractor_cluster::{node::NodeConnectionMode, NodeServer};
use serde::{de::DeserializeOwned, Serialize};

pub use placement::Placement;

use self::{
    gateway::{Gateway, GatewayMsg, Handler},
    membership::{Membership, PeerStatus, PeerTable},
    wire::Envelope,
};
use crate::{
    error::{Error, Result},
    trace,
};

/// Longest wait for a forwarded request unless its operation says
/// otherwise (a hung node's 503 must come within 2 s).
pub(crate) const FORWARD_TIMEOUT: Duration = Duration::from_millis(1500);

/// This node's side of the cluster.
#[derive(Clone)]
pub(crate) struct Cluster {
    table: Arc<PeerTable>,
}

pub(crate) struct ClusterSettings {
    pub(crate) placement: Arc<Placement>,
    pub(crate) listen: SocketAddr,
    pub(crate) cookie: String,
    /// Mutual TLS between nodes, when configured.
    pub(crate) tls: Option<tls::Tls>,
}

impl Cluster {
    /// Starts the node server on `listen`, this node's gateway, and membership.
    pub(crate) async fn start(
        settings: ClusterSettings,
        handler: Arc<dyn Handler>,
    ) -> anyhow::Result<Self> {
        let me = settings.placement.me().clone();
        // Peers tell sessions apart (and spot a connection to themselves) by
        // the advertised host:port, so advertise our own peer-list address,
        // not the bind address (0.0.0.0 in a container is everyone's).
        let advertised_host = me
            .addr
            .rsplit_once(':')
            .map_or(me.addr.as_str(), |(host, _)| host)
            .to_owned();
        let server = NodeServer::new(
            settings.listen.port(),
            settings.cookie,
            me.name.clone(),
            advertised_host,
            settings
                .tls
                .as_ref()
                .map(|t| ractor_cluster::IncomingEncryptionMode::Tls(t.acceptor.clone())),
            Some(NodeConnectionMode::Isolated),
        )
        .with_listen_addr(settings.listen.ip());
        let (node_server, _) = Actor::spawn(None, server, ())
            .await
            .context("starting the cluster listener")?;
        let (gateway, _) = Actor::spawn(None, Gateway, handler)
            .await
            .context("starting the gateway")?;
        ractor::pg::join(gateway::group(&me.name), vec![gateway.get_cell()]);

        let table = Arc::new(PeerTable::default());
        let args = membership::Args {
            me: me.clone(),
            peers: settings.placement.peers().cloned().collect(),
            node_server,
            table: table.clone(),
            tls: settings.tls.clone(),
        };
        Actor::spawn(None, Membership, args)
            .await
            .context("starting membership")?;
        tracing::info!(node = %me.name, listen = %settings.listen, "cluster node started");
        Ok(Self { table })
    }

    /// Runs operation `op` with `request` on `node`'s gateway. A peer that
    /// is down or too slow gives `Unavailable` (503), never an answer from
    /// anyone else.
    pub(crate) async fn call<Req, Rep>(
        &self,
        node: &str,
        op: &str,
        request: &Req,
        timeout: Duration,
    ) -> Result<Rep>
    where
        Req: Serialize,
        Rep: DeserializeOwned,
    {
        let unavailable = || {
            Error::Unavailable(format!(
                "Node {node}, home of this data, is unreachable; try again"
            ))
        };
        let gateway = self.table.gateway_if_up(node).ok_or_else(unavailable)?;
        let body = postcard::to_allocvec(request)
            .map_err(|e| Error::Internal(format!("encoding {op}: {e}")))?;
        let envelope = wire::encode(&Envelope {
            op: op.to_owned(),
            request_id: trace::request_id().map(|id| id.to_string()),
            body,
        })?;
        let started = std::time::Instant::now();
        let answer = gateway
            .call(|tx| GatewayMsg::Forward(envelope, tx), Some(timeout))
            .await;
        let took = started.elapsed();
        tracing::debug!(%node, %op, took_us = took.as_micros() as u64, "forwarded");
        let outcome = match &answer {
            Ok(CallResult::Success(_)) => "answered",
            Ok(CallResult::Timeout) => "timeout",
            _ => "failed",
        };
        metrics::histogram!(crate::metrics::FORWARD_SECONDS, "op" => op.to_owned(), "outcome" => outcome)
            .record(took.as_secs_f64());
        match answer {
            Ok(CallResult::Success(bytes)) => {
                let reply = wire::decode::<Result<Vec<u8>>>(&bytes)??;
                postcard::from_bytes(&reply)
                    .map_err(|e| Error::Internal(format!("undecodable {op} reply: {e}")))
            }
            Ok(CallResult::Timeout) => Err(Error::Unavailable(format!(
                "Node {node}, home of this data, did not answer in time; try again"
            ))),
            // The session is gone: call the peer down now, not at the next ping.
            Ok(CallResult::SenderError) | Err(_) => {
                self.table.mark_down(node);
                Err(unavailable())
            }
        }
    }

    pub(crate) fn peers(&self) -> Vec<PeerStatus> {
        self.table.status()
    }
}
