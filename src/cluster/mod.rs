//! Running as one of several nodes: placement of entities on nodes,
//! membership and failure detection, and forwarding to an entity's home.
//!
//! ractor_cluster provides authenticated connections (a shared cookie),
//! remote calls and process groups. Membership, reconnects, failure
//! detection and naming are built here: each node's [`gateway`] joins a
//! process group named after the node; [`membership`] dials, re-dials and
//! pings peers; [`Cluster::forward`] answers 503 at once for a peer that is
//! down and gives up on a slow one after [`FORWARD_TIMEOUT`].

pub mod gateway;
pub mod membership;
pub mod placement;
pub mod tls;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use ractor::{rpc::CallResult, Actor};
use ractor_cluster::{node::NodeConnectionMode, NodeServer};

pub use placement::Placement;

use self::{
    gateway::{Gateway, GatewayMsg},
    membership::{Membership, PeerStatus, PeerTable},
};
use crate::{
    error::{Error, Result},
    service::{Local, Reply, Request},
};

/// Longest wait for a forwarded request (the 503 must come within 2 s).
pub const FORWARD_TIMEOUT: Duration = Duration::from_millis(1500);

/// This node's side of the cluster.
#[derive(Clone)]
pub struct Cluster {
    table: Arc<PeerTable>,
}

pub struct ClusterSettings {
    pub placement: Arc<Placement>,
    pub listen: SocketAddr,
    pub cookie: String,
    /// Mutual TLS between nodes, when configured.
    pub tls: Option<tls::Tls>,
}

impl Cluster {
    /// Starts the node server on `listen`, this node's gateway, and membership.
    pub async fn start(settings: ClusterSettings, local: Local) -> anyhow::Result<Self> {
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
        let (gateway, _) = Actor::spawn(None, Gateway, local)
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

    /// Runs `request` on `node`'s gateway. A peer that is down or too slow
    /// gives `Unavailable` (503), never an answer from anyone else.
    pub async fn forward(&self, node: &str, request: Request) -> Result<Reply> {
        let unavailable = || {
            Error::Unavailable(format!(
                "Node {node}, home of this data, is unreachable; try again"
            ))
        };
        let gateway = self.table.gateway_if_up(node).ok_or_else(unavailable)?;
        let bytes = gateway::encode_request(&request);
        match gateway
            .call(|tx| GatewayMsg::Forward(bytes, tx), Some(FORWARD_TIMEOUT))
            .await
        {
            Ok(CallResult::Success(reply)) => gateway::decode_reply(&reply),
            Ok(CallResult::Timeout) => Err(unavailable()),
            // The session is gone: call the peer down now, not at the next ping.
            Ok(CallResult::SenderError) | Err(_) => {
                self.table.mark_down(node);
                Err(unavailable())
            }
        }
    }

    pub fn peers(&self) -> Vec<PeerStatus> {
        self.table.status()
    }
}
