//! Membership and failure detection, which ractor_cluster leaves to us:
//! connect to every peer, reconnect with backoff after a drop or a restart,
//! look the peer's gateway up again, and ping it so that a hung peer
//! (SIGSTOP, a dead link: no TCP disconnect) is noticed within a second.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use ractor_cluster::NodeServerMessage;

use super::{
    gateway::{self, GatewayMsg},
    placement::Member,
};

/// How often peers are checked and pinged.
pub(crate) const TICK: Duration = Duration::from_millis(200);
/// A ping slower than this counts as failed.
pub(crate) const PING_TIMEOUT: Duration = Duration::from_millis(500);
/// A peer with no successful ping for this long is down.
pub(crate) const DOWN_AFTER: Duration = Duration::from_millis(1000);
/// A connected peer silent for this long has a dead link (ractor never
/// notices one): its session is closed so that a fresh one is dialed.
pub(crate) const REAP_AFTER: Duration = Duration::from_secs(3);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What this node knows of each peer right now. Shared with the router.
#[derive(Default)]
pub(crate) struct PeerTable {
    peers: RwLock<HashMap<String, PeerState>>,
}

#[derive(Default, Clone)]
struct PeerState {
    gateway: Option<ActorRef<GatewayMsg>>,
    last_ok: Option<Instant>,
    /// When the current gateway was first seen.
    connected_at: Option<Instant>,
}

/// A peer's state as operators see it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Peer)]
pub(crate) struct PeerStatus {
    /// The peer's node name.
    pub name: String,
    /// A cluster connection to it is open.
    pub connected: bool,
    /// It answered a heartbeat recently.
    pub up: bool,
    /// Milliseconds since its last answer; null if it never answered.
    pub last_ping_ms_ago: Option<u64>,
}

impl PeerTable {
    /// The peer's gateway, if the peer is connected and answered recently.
    pub(crate) fn gateway_if_up(&self, name: &str) -> Option<ActorRef<GatewayMsg>> {
        let peers = self.peers.read().unwrap_or_else(|p| p.into_inner());
        let state = peers.get(name)?;
        let fresh = state.last_ok.is_some_and(|t| t.elapsed() < DOWN_AFTER);
        if fresh {
            state.gateway.clone()
        } else {
            None
        }
    }

    pub(crate) fn status(&self) -> Vec<PeerStatus> {
        let peers = self.peers.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<PeerStatus> = peers
            .iter()
            .map(|(name, s)| PeerStatus {
                name: name.clone(),
                connected: s.gateway.is_some(),
                up: s.gateway.is_some() && s.last_ok.is_some_and(|t| t.elapsed() < DOWN_AFTER),
                last_ping_ms_ago: s.last_ok.map(|t| t.elapsed().as_millis() as u64),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// How long a connected peer has gone without answering a ping.
    fn silent_for(&self, name: &str) -> Duration {
        let peers = self.peers.read().unwrap_or_else(|p| p.into_inner());
        peers
            .get(name)
            .and_then(|s| s.last_ok.or(s.connected_at))
            .map_or(Duration::ZERO, |t| t.elapsed())
    }

    /// Forget the last good ping: the peer is down until it answers again.
    pub(crate) fn mark_down(&self, name: &str) {
        self.update(name, |s| s.last_ok = None);
    }

    fn update(&self, name: &str, f: impl FnOnce(&mut PeerState)) {
        let mut peers = self.peers.write().unwrap_or_else(|p| p.into_inner());
        f(peers.entry(name.to_owned()).or_default());
    }
}

pub(crate) struct Membership;

pub(crate) struct Args {
    pub me: Member,
    pub peers: Vec<Member>,
    pub node_server: ActorRef<NodeServerMessage>,
    pub table: Arc<PeerTable>,
    pub tls: Option<super::tls::Tls>,
}

pub(crate) enum MembershipMsg {
    Tick,
    Pinged { peer: String, ok: bool },
    Dialed { peer: String, ok: bool },
}

impl ractor::Message for MembershipMsg {}

pub(crate) struct State {
    args: Args,
    dial: HashMap<String, Dial>,
    pinging: HashMap<String, bool>,
    reaping: HashMap<String, Instant>,
}

#[derive(Default)]
struct Dial {
    in_flight: bool,
    next_attempt: Option<Instant>,
    backoff: Duration,
}

impl Actor for Membership {
    type Msg = MembershipMsg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(
        &self,
        myself: ActorRef<MembershipMsg>,
        args: Args,
    ) -> Result<State, ActorProcessingErr> {
        myself.send_interval(TICK, || MembershipMsg::Tick);
        for p in &args.peers {
            args.table.update(&p.name, |_| {});
        }
        Ok(State {
            args,
            dial: HashMap::new(),
            pinging: HashMap::new(),
            reaping: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<MembershipMsg>,
        msg: MembershipMsg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            MembershipMsg::Tick => state.tick(&myself),
            MembershipMsg::Pinged { peer, ok } => {
                state.pinging.insert(peer.clone(), false);
                if ok {
                    let was_down = state.args.table.gateway_if_up(&peer).is_none();
                    state
                        .args
                        .table
                        .update(&peer, |s| s.last_ok = Some(Instant::now()));
                    if was_down {
                        tracing::info!(%peer, "peer is up");
                    }
                }
            }
            MembershipMsg::Dialed { peer, ok } => {
                let d = state.dial.entry(peer.clone()).or_default();
                d.in_flight = false;
                if ok {
                    d.backoff = Duration::ZERO;
                } else {
                    d.backoff = (d.backoff * 2).clamp(Duration::from_millis(200), MAX_BACKOFF);
                    d.next_attempt = Some(Instant::now() + d.backoff);
                }
            }
        }
        Ok(())
    }
}

impl State {
    fn tick(&mut self, myself: &ActorRef<MembershipMsg>) {
        let me = self.args.me.name.clone();
        for peer in self.args.peers.clone() {
            // A restarted peer has a new gateway: always look it up afresh.
            let gateway = ractor::pg::get_members(&gateway::group(&peer.name))
                .into_iter()
                .next()
                .map(ActorRef::<GatewayMsg>::from);
            let had = self
                .args
                .table
                .peers
                .read()
                .map(|p| {
                    p.get(&peer.name)
                        .and_then(|s| s.gateway.as_ref().map(|g| g.get_id()))
                })
                .unwrap_or(None);
            let now_id = gateway.as_ref().map(|g| g.get_id());
            if had != now_id {
                if now_id.is_none() {
                    tracing::warn!(peer = %peer.name, "lost the connection to a peer");
                }
                self.args.table.update(&peer.name, |s| {
                    s.gateway = gateway.clone();
                    s.last_ok = None;
                    s.connected_at = gateway.as_ref().map(|_| Instant::now());
                });
            }
            if gateway.is_some() && self.args.table.silent_for(&peer.name) >= REAP_AFTER {
                self.reap(&peer.name);
            }
            match gateway {
                Some(gw) => self.ping(myself, &peer.name, gw),
                // Only one side dials (the lower name), so two nodes never
                // race to open two sessions to each other.
                None if me < peer.name => self.dial(myself, &peer),
                None => {}
            }
        }
    }

    /// Closes the session to `peer` (a dead link); the dial logic reconnects.
    fn reap(&mut self, peer: &str) {
        if self
            .reaping
            .get(peer)
            .is_some_and(|t| t.elapsed() < REAP_AFTER)
        {
            return;
        }
        self.reaping.insert(peer.to_owned(), Instant::now());
        tracing::warn!(%peer, "peer silent on a live connection; dropping the session");
        let server = self.args.node_server.clone();
        let prefix = format!("{peer}@");
        tokio::spawn(async move {
            let Ok(sessions) = ractor::call_t!(server, NodeServerMessage::GetSessions, 1000) else {
                return;
            };
            for info in sessions.values() {
                let named = info
                    .peer_name
                    .as_ref()
                    .is_some_and(|n| n.name.starts_with(&prefix));
                if named {
                    info.actor.stop(Some("peer stopped answering".into()));
                }
            }
        });
    }

    fn ping(&mut self, myself: &ActorRef<MembershipMsg>, peer: &str, gw: ActorRef<GatewayMsg>) {
        if self.pinging.get(peer).copied().unwrap_or(false) {
            return;
        }
        self.pinging.insert(peer.to_owned(), true);
        let me = myself.clone();
        let peer = peer.to_owned();
        tokio::spawn(async move {
            let ping = super::wire::encode(&super::wire::Envelope {
                op: super::wire::PING.into(),
                request_id: None,
                body: Vec::new(),
            });
            let ok = match ping {
                Ok(bytes) => matches!(
                    gw.call(|tx| GatewayMsg::Forward(bytes, tx), Some(PING_TIMEOUT))
                        .await,
                    Ok(ractor::rpc::CallResult::Success(_))
                ),
                Err(_) => false,
            };
            let _ = me.cast(MembershipMsg::Pinged { peer, ok });
        });
    }

    fn dial(&mut self, myself: &ActorRef<MembershipMsg>, peer: &Member) {
        let d = self.dial.entry(peer.name.clone()).or_default();
        if d.in_flight || d.next_attempt.is_some_and(|t| Instant::now() < t) {
            return;
        }
        d.in_flight = true;
        let server = self.args.node_server.clone();
        let me = myself.clone();
        let peer = peer.clone();
        let tls = self.args.tls.clone();
        tokio::spawn(async move {
            let connect = async {
                match tls {
                    None => ractor_cluster::client_connect(&server, peer.addr.as_str())
                        .await
                        .map_err(|e| e.to_string()),
                    Some(tls) => {
                        let name =
                            super::tls::Tls::server_name(&peer.addr).map_err(|e| e.to_string())?;
                        ractor_cluster::client_connect_enc(
                            &server,
                            peer.addr.as_str(),
                            tls.connector,
                            name,
                        )
                        .await
                        .map_err(|e| e.to_string())
                    }
                }
            };
            let ok = match tokio::time::timeout(Duration::from_secs(2), connect).await {
                Ok(Ok(())) => {
                    tracing::info!(peer = %peer.name, addr = %peer.addr, "connected to peer");
                    true
                }
                Ok(Err(e)) => {
                    tracing::debug!(peer = %peer.name, error = %e, "dialing peer failed");
                    false
                }
                Err(_) => false,
            };
            let _ = me.cast(MembershipMsg::Dialed {
                peer: peer.name,
                ok,
            });
        });
    }
}
