//! One gateway actor per node: the only actor other nodes talk to. It takes
//! a forwarded [`Request`] and runs it through this node's [`Local`], in a
//! task of its own so that one slow request never holds up the next.

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;

use crate::{
    error::Error,
    service::{Local, Reply, Request},
};

/// The wire message. Payloads are postcard bytes of [`Request`] and of
/// `Result<Reply, Error>`, so the protocol lives in plain serde types.
#[derive(RactorClusterMessage)]
pub enum GatewayMsg {
    #[rpc]
    Forward(Vec<u8>, RpcReplyPort<Vec<u8>>),
}

/// The process group a node's gateway joins; peers look it up by name.
pub fn group(node: &str) -> String {
    format!("boxoffice.gateway.{node}")
}

pub fn encode_request(request: &Request) -> Vec<u8> {
    postcard::to_allocvec(request).expect("requests encode")
}

pub fn decode_reply(bytes: &[u8]) -> Result<Reply, Error> {
    postcard::from_bytes::<Result<Reply, Error>>(bytes)
        .map_err(|e| Error::Internal(format!("undecodable reply from a peer: {e}")))?
}

pub struct Gateway;

impl Actor for Gateway {
    type Msg = GatewayMsg;
    type State = Local;
    type Arguments = Local;

    async fn pre_start(
        &self,
        _: ActorRef<GatewayMsg>,
        local: Local,
    ) -> Result<Local, ActorProcessingErr> {
        Ok(local)
    }

    async fn handle(
        &self,
        _: ActorRef<GatewayMsg>,
        msg: GatewayMsg,
        local: &mut Local,
    ) -> Result<(), ActorProcessingErr> {
        let GatewayMsg::Forward(bytes, reply) = msg;
        let request = match postcard::from_bytes::<Request>(&bytes) {
            Ok(r) => r,
            Err(e) => {
                let answer: Result<Reply, Error> =
                    Err(Error::bad_request(format!("undecodable request: {e}")));
                let _ = reply.send(postcard::to_allocvec(&answer)?);
                return Ok(());
            }
        };
        if let Request::Ping = request {
            let answer = local.handle(request).await;
            let _ = reply.send(postcard::to_allocvec(&answer)?);
            return Ok(());
        }
        let local = local.clone();
        tokio::spawn(async move {
            let answer = local.handle(request).await;
            let bytes = postcard::to_allocvec(&answer).unwrap_or_else(|e| {
                let err: Result<Reply, Error> =
                    Err(Error::Internal(format!("encoding a reply: {e}")));
                postcard::to_allocvec(&err).unwrap_or_default()
            });
            let _ = reply.send(bytes);
        });
        Ok(())
    }
}
