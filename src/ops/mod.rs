//! The operations boxoffice offers, one file each, in the manner of
//! mini-redis's `cmd/`: the request, the reply it names, and the code that
//! runs it on the home node of the entity it touches ([`Operation::apply`]),
//! next to the entry-side method the HTTP layer calls.
//!
//! [`Ops`] is the entry side: it finds an operation's home (see
//! [`Placement`]) and runs it here or forwards it over the cluster, the same
//! way for every operation. [`Home`] is what an operation runs with on its
//! home node; forwarded requests reach it through [`Home::dispatch`], the
//! one list of the operations a peer may send.

mod buy;
mod cancel_order;
mod change_password;
mod create_coupon;
mod create_ticket;
mod edit_ticket;
mod events_after;
mod find_account;
mod list_coupons;
mod list_orders;
mod list_tickets;
mod pay;
mod redeem_coupon;
mod return_coupon;
mod sessions;
mod set_status;
mod show_coupon;
mod show_order;
mod show_ticket;
mod sign_in;
mod sign_up;

use std::{future::Future, sync::Arc, time::Duration};

use futures::{future::BoxFuture, FutureExt};
use serde::{de::DeserializeOwned, Serialize};
use tracing::Instrument as _;

pub use list_coupons::CouponList;
pub use list_orders::OrderList;
pub use sessions::Session;

use crate::{
    actors::Actors,
    catalog::Catalog,
    cluster::{gateway::Handler, placement::Member, Cluster, Placement, FORWARD_TIMEOUT},
    error::{Error, Result},
    passwords::Hasher,
    records::Recorded,
    revocations::Revocations,
    store::{Store, StoreError, Tx, TxResult},
    throttle::Throttle,
};

/// A request that runs on the home node of the entity it names.
pub(crate) trait Operation: Serialize + DeserializeOwned + Send + 'static {
    /// The name a forwarded request travels under.
    const NAME: &'static str;
    /// Crosses the wire in its versioned record form.
    type Reply: Recorded + Send + 'static;
    /// Longest wait for a forwarded one; a node slower than this counts as
    /// unavailable (503) for this request.
    const TIMEOUT: Duration = FORWARD_TIMEOUT;

    /// Runs on the home node, whether the request came from here or a peer.
    fn apply(self, home: &Home) -> impl Future<Output = Result<Self::Reply>> + Send;
}

/// What operations run with on their home node.
#[derive(Clone)]
pub(crate) struct Home {
    store: Arc<Store>,
    actors: Actors,
    /// The sessions that have ended, as this node knows them.
    revocations: Revocations,
    /// Failed sign-ins of the accounts this node is home to.
    throttle: Arc<Throttle>,
}

impl Home {
    pub(crate) fn new(store: Arc<Store>, actors: Actors, revocations: Revocations) -> Self {
        Self {
            store,
            actors,
            revocations,
            throttle: Arc::default(),
        }
    }

    /// Writes for an operation that keeps no state of its own. A stalled
    /// disk answers 503 after the wait an actor's caller gets; the write
    /// stays queued and may still land, as after any 503 (trying again
    /// then finds it done: the email in use, the session already ended).
    /// Only for writes that trying again cannot repeat. An actor must wait
    /// for its own writes instead: its state follows the store.
    async fn write<R, F>(&self, body: F) -> std::result::Result<R, StoreError>
    where
        F: FnOnce(&mut Tx<'_>) -> TxResult<R> + Send + 'static,
        R: Send + 'static,
    {
        tokio::time::timeout(self.actors.call_timeout(), self.store.write(body))
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Flush(
                    "Saving is taking too long; the change may still be saved".into(),
                ))
            })
    }

    /// Runs a forwarded operation: its name picks the code, the body is its
    /// encoded request. Every operation a peer may send is listed here.
    pub(crate) fn dispatch(&self, op: &str, body: &[u8]) -> BoxFuture<'static, Result<Vec<u8>>> {
        macro_rules! operations {
            ($($op:ty),* $(,)?) => {
                match op {
                    $(<$op as Operation>::NAME => run_encoded::<$op>(self.clone(), body),)*
                    other => {
                        let other = other.to_owned();
                        async move {
                            Err(Error::Internal(format!(
                                "a peer sent operation {other}, unknown here: run one release across the cluster"
                            )))
                        }
                        .boxed()
                    }
                }
            };
        }
        operations!(
            find_account::FindAccount,
            find_account::Attempted,
            sign_up::CreateAccount,
            change_password::SetPassword,
            sessions::RenewSession,
            sessions::EndSession,
            set_status::SetStatus,
            create_ticket::CreateTicket,
            show_ticket::ShowTicket,
            edit_ticket::EditTicket,
            buy::Buy,
            show_order::ShowOrder,
            list_orders::OrdersOf,
            cancel_order::CancelOrder,
            pay::Pay,
            events_after::EventsAfter,
            create_coupon::CreateCoupon,
            show_coupon::ShowCoupon,
            list_coupons::CouponsAfter,
            redeem_coupon::RedeemCoupon,
            return_coupon::ReturnCoupon,
        )
    }
}

fn run_encoded<O: Operation>(home: Home, body: &[u8]) -> BoxFuture<'static, Result<Vec<u8>>> {
    let request = postcard::from_bytes::<O>(body);
    async move {
        let request = request.map_err(|e| {
            Error::Internal(format!(
                "undecodable {} from a peer (another release?): {e}",
                O::NAME
            ))
        })?;
        let reply = request.apply(&home).await?;
        postcard::to_allocvec(&reply.to_record())
            .map_err(|e| Error::Internal(format!("encoding a {} reply: {e}", O::NAME)))
    }
    .boxed()
}

impl Handler for Home {
    fn handle(&self, op: &str, body: &[u8]) -> BoxFuture<'static, Result<Vec<u8>>> {
        self.dispatch(op, body)
    }
}

/// The entry side: what the HTTP layer (and tools in process) call.
#[derive(Clone)]
pub struct Ops {
    placement: Arc<Placement>,
    home: Home,
    cluster: Option<Cluster>,
    hasher: Hasher,
    catalog: Catalog,
}

impl Ops {
    pub(crate) fn new(
        placement: Arc<Placement>,
        home: Home,
        cluster: Option<Cluster>,
        hasher: Hasher,
        catalog: Catalog,
    ) -> Self {
        Self {
            placement,
            home,
            cluster,
            hasher,
            catalog,
        }
    }

    /// Runs `op` on `on`: here, or forwarded to that node.
    pub(crate) async fn run<O: Operation>(&self, on: &Member, op: O) -> Result<O::Reply> {
        let span = tracing::debug_span!("op", op = O::NAME, home = %on.name);
        async {
            if on.name == self.placement.me().name {
                return op.apply(&self.home).await;
            }
            match &self.cluster {
                Some(cluster) => {
                    let record = cluster.call(&on.name, O::NAME, &op, O::TIMEOUT).await?;
                    O::Reply::from_record(record).map_err(|e| {
                        Error::Internal(format!("a {} reply from {}: {e}", O::NAME, on.name))
                    })
                }
                None => Err(Error::Internal(format!(
                    "{} is not a configured peer",
                    on.name
                ))),
            }
        }
        .instrument(span)
        .await
    }

    pub(crate) fn placement(&self) -> &Placement {
        &self.placement
    }

    pub(crate) fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }

    pub(crate) fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Holds on this node waiting for payment.
    pub(crate) fn pending_holds(&self) -> Result<i64> {
        Ok(self.home.store.pending_holds()?)
    }

    /// Ticket and order actors alive on this node, by kind.
    pub(crate) fn live_actors_by_kind(&self) -> (usize, usize) {
        self.home.actors.live_by_kind()
    }

    /// This node's vital signs, for operators.
    pub(crate) fn stats(&self) -> Stats {
        Stats {
            live_actors: self.home.actors.live_entities(),
            last_event_seq: self.home.store.last_event_seq(),
        }
    }
}

/// A node's vital signs, for operators.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stats {
    /// Ticket and order actors in memory now.
    pub(crate) live_actors: usize,
    /// The last event on disk.
    pub(crate) last_event_seq: u64,
}
