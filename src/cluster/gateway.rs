//! One gateway actor per node: the only actor other nodes talk to. It takes
//! a forwarded [`Envelope`] and hands it to this node's [`Handler`], in a
//! task of its own so that one slow request never holds up the next.

use std::sync::Arc;

use futures::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use tracing::Instrument as _;

use super::wire::{self, Envelope};
use crate::{error::Result, trace};

/// Runs forwarded operations on this node. The cluster layer knows them
/// only by name and bytes; the operations implement this above it.
pub(crate) trait Handler: Send + Sync + 'static {
    /// Runs the operation named `op` on its encoded request; returns its encoded reply.
    fn handle(&self, op: &str, body: &[u8]) -> BoxFuture<'static, Result<Vec<u8>>>;
}

/// The actor message. Payloads are [`wire`] bytes.
#[derive(RactorClusterMessage)]
pub(crate) enum GatewayMsg {
    #[rpc]
    Forward(Vec<u8>, RpcReplyPort<Vec<u8>>),
}

/// The process group a node's gateway joins; peers look it up by name.
pub(crate) fn group(node: &str) -> String {
    format!("boxoffice.gateway.{node}")
}

pub(crate) struct Gateway;

impl Actor for Gateway {
    type Msg = GatewayMsg;
    type State = Arc<dyn Handler>;
    type Arguments = Arc<dyn Handler>;

    async fn pre_start(
        &self,
        _: ActorRef<GatewayMsg>,
        handler: Arc<dyn Handler>,
    ) -> Result<Arc<dyn Handler>, ActorProcessingErr> {
        Ok(handler)
    }

    async fn handle(
        &self,
        _: ActorRef<GatewayMsg>,
        msg: GatewayMsg,
        handler: &mut Arc<dyn Handler>,
    ) -> Result<(), ActorProcessingErr> {
        let GatewayMsg::Forward(bytes, reply) = msg;
        let envelope = match wire::decode::<Envelope>(&bytes) {
            Ok(envelope) => envelope,
            Err(e) => {
                let _ = reply.send(wire::encode_answer(&Err(e)));
                return Ok(());
            }
        };
        if envelope.op == wire::PING {
            let _ = reply.send(wire::encode_answer(&Ok(Vec::new())));
            return Ok(());
        }
        let run = handler.handle(&envelope.op, &envelope.body);
        let request_id: Arc<str> = envelope
            .request_id
            .as_deref()
            .filter(|id| trace::is_valid_request_id(id))
            .unwrap_or("-")
            .into();
        let span = tracing::info_span!("forwarded", request_id = %request_id, op = %envelope.op);
        tokio::spawn(
            trace::with_request_id(request_id, async move {
                tracing::debug!("running a forwarded operation");
                let answer = run.await;
                let _ = reply.send(wire::encode_answer(&answer));
            })
            .instrument(span),
        );
        Ok(())
    }
}
