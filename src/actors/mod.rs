//! The supervision tree.
//!
//! ```text
//! Supervisor ──┬── TicketActor  "ticket/<id>"   (one per ticket in use)
//!              ├── OrderActor   "order/<id>"    (one per order in use)
//!              ├── CouponActor  "coupon/<CODE>" (one per coupon in use)
//!              └── Reminders    "reminders"     (one per node: lapses holds at
//!                                                their deadlines, from the store)
//! ```
//!
//! Actors are found by name in ractor's registry and started on demand from
//! the store. A name is held from spawn until the actor stops, so a second
//! copy of an entity's actor cannot start while the first is alive: that is
//! the "one owner" rule on one node. A ticket and its orders are one unit of
//! consistency: the order actor decides (cancel, pay, expire while it runs)
//! and the ticket actor writes the order and the ticket in one transaction,
//! a compare-and-set on the stored order. A hold that falls due with no
//! order actor running is lapsed by the ticket actor alone. A coupon
//! lives on its own home node: an order actor paying with it reaches it
//! through the [`CouponDesk`] the operations layer provides.

mod coupon;
mod idle;
mod order;
mod reminders;
mod supervisor;
mod ticket;

use std::{
    future::Future,
    sync::{Arc, OnceLock, Weak},
    time::Duration,
};

use futures::future::BoxFuture;
use ractor::{rpc::CallResult, ActorCell, ActorRef, Message, RpcReplyPort, SpawnErr};

pub(crate) use coupon::CouponMsg;
pub(crate) use order::OrderMsg;
pub(crate) use supervisor::Supervisor;
pub(crate) use ticket::TicketMsg;

use crate::{
    domain::{CouponCode, Discount, OrderId, TicketId},
    error::{Error, Result},
    payments::PaymentGateway,
    store::Store,
};

/// Timings the actors run by.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long an order holds its ticket.
    pub order_ttl: Duration,
    /// An entity actor with nothing to do stops after this long.
    pub idle_after: Duration,
    /// Longest wait for an actor's answer before the caller gets a 503.
    pub call_timeout: Duration,
    /// Longest wait for the payment provider; below `call_timeout`, so the
    /// buyer hears "timed out" from the order, not from the mailbox.
    pub payment_timeout: Duration,
    /// Holds waiting for payment one buyer may have on this node; 0 for no cap.
    pub max_holds_per_user: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            order_ttl: Duration::from_secs(900),
            idle_after: Duration::from_secs(30),
            call_timeout: Duration::from_secs(10),
            payment_timeout: Duration::from_secs(8),
            max_holds_per_user: 10,
        }
    }
}

/// What every actor in the tree shares.
pub(crate) struct Context {
    pub store: Arc<Store>,
    pub payments: Arc<dyn PaymentGateway>,
    pub settings: Settings,
    supervisor: OnceLock<ActorCell>,
    /// The reminder service's name: registry names are per process, and a
    /// process may hold several nodes (tests, the benchmark).
    reminders: String,
    /// Reaches coupons wherever they live; weak, because its owner (the
    /// operations) holds the actors: a strong one would keep the store
    /// open forever.
    coupons: OnceLock<Weak<dyn CouponDesk>>,
}

impl Context {
    fn supervisor(&self) -> Result<ActorCell> {
        self.supervisor
            .get()
            .cloned()
            .ok_or_else(|| Error::Unavailable("the node is starting up".into()))
    }

    fn coupons(&self) -> Result<Arc<dyn CouponDesk>> {
        self.coupons
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| Error::Unavailable("coupons are not reachable now".into()))
    }
}

/// Redeems and gives back coupon uses on the coupon's home node, which may
/// be another node: implemented above the actors, by the operations, which
/// know placement and the cluster.
pub(crate) trait CouponDesk: Send + Sync + 'static {
    /// Takes a use of `code` for `order` (a retry takes none); what it takes off.
    fn redeem(&self, code: CouponCode, order: OrderId) -> BoxFuture<'static, Result<Discount>>;
    /// Gives `order`'s use of `code` back, if it holds one.
    fn give_back(&self, code: CouponCode, order: OrderId) -> BoxFuture<'static, Result<()>>;
}

/// An entity with an actor of its own, found or started by name.
pub(crate) trait Entity: Copy + Send + Sync + 'static {
    type Msg: Message;
    fn actor_name(&self) -> String;
    fn spawn(
        self,
        ctx: Arc<Context>,
        supervisor: ActorCell,
    ) -> impl Future<Output = Result<ActorRef<Self::Msg>, SpawnErr>> + Send;
}

/// Parses an actor name back into what it owns (for restarts).
pub(crate) enum EntityName {
    Ticket(TicketId),
    Order(OrderId),
    Coupon(CouponCode),
    /// The node's reminder service.
    Reminders,
}

/// The kind part of the reminder service's registered name.
const REMINDERS: &str = "reminders";

/// Starts the reminder service under the supervisor.
async fn start_reminders(ctx: &Arc<Context>) -> Result<()> {
    ractor::Actor::spawn_linked(
        Some(ctx.reminders.clone()),
        reminders::Reminders,
        ctx.clone(),
        ctx.supervisor()?,
    )
    .await
    .map(drop)
    .map_err(|e| Error::Internal(format!("starting the reminder service: {e}")))
}

impl EntityName {
    fn parse(name: &str) -> Option<Self> {
        let (kind, id) = name.split_once('/')?;
        match kind {
            REMINDERS => Some(Self::Reminders),
            "ticket" => id.parse().ok().map(Self::Ticket),
            "order" => id.parse().ok().map(Self::Order),
            "coupon" => CouponCode::parse(id).ok().map(Self::Coupon),
            _ => None,
        }
    }
}

/// The running actor for `entity`, started from the store if there is none.
async fn find_or_start<E: Entity>(ctx: &Arc<Context>, entity: E) -> Result<ActorRef<E::Msg>> {
    let name = entity.actor_name();
    // Bounded: the only way round the loop is losing a race to another
    // spawner or meeting an actor that is in the middle of stopping.
    for attempt in 0..200u32 {
        if let Some(actor) = ActorRef::<E::Msg>::where_is(name.clone()) {
            return Ok(actor);
        }
        match entity.spawn(ctx.clone(), ctx.supervisor()?).await {
            Ok(actor) => return Ok(actor),
            Err(SpawnErr::ActorAlreadyRegistered(_)) => {
                tokio::time::sleep(Duration::from_micros(50 * u64::from(attempt.min(20)))).await;
            }
            Err(SpawnErr::StartupFailed(e)) => {
                return Err(match e.downcast::<Error>() {
                    Ok(e) => *e,
                    // ractor refuses starts while the supervisor stops
                    // (shutdown): transient, like the other spawn errors.
                    Err(e) => Error::Unavailable(format!("cannot start {name} now: {e}")),
                });
            }
            // The supervisor is stopping (shutdown) or similar: transient.
            Err(e) => return Err(Error::Unavailable(format!("cannot start {name} now: {e}"))),
        }
    }
    Err(Error::Unavailable(format!(
        "{name} is restarting; try again"
    )))
}

/// Sends `entity`'s actor a request and waits for the answer. A message
/// that reached an actor as it stopped (idle, or after a crash) was never
/// handled, so it is sent again to the actor's next incarnation.
pub(crate) async fn ask<E, R>(
    ctx: &Arc<Context>,
    entity: E,
    make: impl Fn(RpcReplyPort<R>) -> E::Msg,
) -> Result<R>
where
    E: Entity,
    R: Send + 'static,
{
    ask_within(ctx, entity, make, Some(ctx.settings.call_timeout)).await
}

/// [`ask`] with an explicit timeout; `None` waits as long as the answer
/// takes, for a caller that must know the outcome before doing anything else
/// (an order actor settling with its ticket actor).
pub(crate) async fn ask_within<E, R>(
    ctx: &Arc<Context>,
    entity: E,
    make: impl Fn(RpcReplyPort<R>) -> E::Msg,
    timeout: Option<Duration>,
) -> Result<R>
where
    E: Entity,
    R: Send + 'static,
{
    for attempt in 0..20u64 {
        let actor = find_or_start(ctx, entity).await?;
        match actor.call(&make, timeout).await {
            Ok(CallResult::Success(r)) => return Ok(r),
            Ok(CallResult::Timeout) => {
                return Err(Error::Unavailable(format!(
                    "{} did not answer in time; try again",
                    entity.actor_name()
                )))
            }
            Ok(CallResult::SenderError) | Err(_) => {
                tokio::time::sleep(Duration::from_millis(attempt)).await;
            }
        }
    }
    Err(Error::Unavailable(format!(
        "{} keeps stopping; try again",
        entity.actor_name()
    )))
}

/// The handle the service uses to reach the actor system.
#[derive(Clone)]
pub(crate) struct Actors {
    ctx: Arc<Context>,
    supervisor: ActorRef<supervisor::SupervisorMsg>,
}

impl Actors {
    /// The longest a caller waits for an answer before it gets a 503.
    pub(crate) fn call_timeout(&self) -> Duration {
        self.ctx.settings.call_timeout
    }

    /// Starts the supervisor and the reminder service.
    pub(crate) async fn start(
        store: Arc<Store>,
        payments: Arc<dyn PaymentGateway>,
        settings: Settings,
    ) -> Result<Self> {
        let ctx = Arc::new(Context {
            store,
            payments,
            settings,
            supervisor: OnceLock::new(),
            reminders: format!("{REMINDERS}/{}", uuid::Uuid::now_v7().simple()),
            coupons: OnceLock::new(),
        });
        let (supervisor, _) = ractor::Actor::spawn(None, Supervisor, ctx.clone())
            .await
            .map_err(|e| Error::Internal(format!("starting the supervisor: {e}")))?;
        let _ = ctx.supervisor.set(supervisor.get_cell());
        // Nothing is started per pending order: the reminders resume from
        // the index, overdue ones at once.
        start_reminders(&ctx).await?;
        Ok(Self { ctx, supervisor })
    }

    #[cfg(test)]
    pub(crate) fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    pub(crate) async fn ticket<R: Send + 'static>(
        &self,
        id: TicketId,
        make: impl Fn(RpcReplyPort<R>) -> TicketMsg,
    ) -> Result<R> {
        ask(&self.ctx, id, make).await
    }

    pub(crate) async fn order<R: Send + 'static>(
        &self,
        id: OrderId,
        make: impl Fn(RpcReplyPort<R>) -> OrderMsg,
    ) -> Result<R> {
        ask(&self.ctx, id, make).await
    }

    /// A payment: its order actor waits for the coupon's node, then the
    /// provider, then the disk, so the wait allows for the provider's too.
    pub(crate) async fn order_paying<R: Send + 'static>(
        &self,
        id: OrderId,
        make: impl Fn(RpcReplyPort<R>) -> OrderMsg,
    ) -> Result<R> {
        let s = &self.ctx.settings;
        ask_within(
            &self.ctx,
            id,
            make,
            Some(s.call_timeout + s.payment_timeout),
        )
        .await
    }

    pub(crate) async fn coupon<R: Send + 'static>(
        &self,
        code: CouponCode,
        make: impl Fn(RpcReplyPort<R>) -> CouponMsg,
    ) -> Result<R> {
        ask(&self.ctx, code, make).await
    }

    /// Gives order actors their way to coupons (once, at start-up).
    pub(crate) fn connect_coupons(&self, desk: &Arc<dyn CouponDesk>) {
        let _ = self.ctx.coupons.set(Arc::downgrade(desk));
    }

    /// Ticket and order actors alive now, by kind.
    pub(crate) fn live_by_kind(&self) -> (usize, usize) {
        let (mut tickets, mut orders) = (0, 0);
        for child in self.supervisor.get_children() {
            match child.get_name().as_deref().map(EntityName::parse) {
                Some(Some(EntityName::Ticket(_))) => tickets += 1,
                Some(Some(EntityName::Order(_))) => orders += 1,
                _ => {}
            }
        }
        (tickets, orders)
    }

    /// Number of entity actors alive now (for metrics and memory tests).
    pub(crate) fn live_entities(&self) -> usize {
        self.supervisor
            .get_children()
            .iter()
            .filter(|c| c.get_name().is_some_and(|n| n != self.ctx.reminders))
            .count()
    }

    /// Stops every actor; pending writes are already committed.
    pub(crate) async fn shutdown(&self) {
        let _ = self
            .supervisor
            .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(10)))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::{
        domain::{OrderStatus, Price, RuleError, Ticket, Title, UserId},
        node::test_support::{test_node, TestNode},
    };

    async fn node(order_ttl: Duration) -> TestNode {
        test_node(|s| s.order_ttl = order_ttl, None).await
    }

    async fn restarted<M: Message>(name: &str, before: ractor::ActorId) -> ActorRef<M> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(a) = ActorRef::<M>::where_is(name) {
                if a.get_id() != before {
                    return a;
                }
            }
            assert!(Instant::now() < deadline, "{name} was not restarted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn title(s: &str) -> Title {
        Title::parse(s).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crashed_ticket_actor_is_restarted_with_every_acknowledged_change() {
        let node = node(Duration::from_secs(60)).await;
        let (service, store) = (node.ops(), node.store());
        let seller = UserId::new();
        let t: Ticket = service
            .create_ticket(seller, title("A"), Price::from_cents(100).unwrap())
            .await
            .unwrap();
        for i in 1..=3 {
            let edited = service
                .edit_ticket(
                    seller,
                    t.id,
                    title(&format!("A{i}")),
                    Price::from_cents(100 + i).unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(edited.version, i);
        }
        let name = t.id.actor_name();
        let before = ActorRef::<TicketMsg>::where_is(name.clone()).unwrap();
        before.cast(TicketMsg::Crash).unwrap();
        let after = restarted::<TicketMsg>(&name, before.get_id()).await;
        assert_ne!(after.get_id(), before.get_id());

        let again = service
            .edit_ticket(seller, t.id, title("B"), Price::from_cents(7).unwrap())
            .await
            .unwrap();
        assert_eq!(again.version, 4, "no acknowledged edit was lost");
        assert_eq!(store.ticket(t.id).unwrap().unwrap().title.as_str(), "B");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crashed_coupon_actor_is_restarted_with_its_count() {
        use crate::domain::{Coupon, CouponCode, Discount, OrderId, Timestamp};
        let node = node(Duration::from_secs(60)).await;
        let code = CouponCode::parse("crash-me").unwrap();
        let coupon = Coupon::new(code, Discount::Percent(50), 2, None, Timestamp::now()).unwrap();
        node.ops().create_coupon(coupon).await.unwrap();
        let actors = node.actors();
        let redeem = |order: OrderId| async move {
            actors
                .coupon(code, |reply| CouponMsg::Redeem { order, reply })
                .await
                .unwrap()
        };
        let (a, b) = (OrderId::new(), OrderId::new());
        assert_eq!(redeem(a).await.unwrap(), Discount::Percent(50));
        assert_eq!(redeem(a).await.unwrap(), Discount::Percent(50), "a retry");

        let name = code.actor_name();
        let before = ActorRef::<CouponMsg>::where_is(name.clone()).unwrap();
        before.cast(CouponMsg::Crash).unwrap();
        restarted::<CouponMsg>(&name, before.get_id()).await;

        assert!(redeem(b).await.is_ok(), "the second use");
        assert!(redeem(OrderId::new()).await.is_err(), "used up");
        assert_eq!(node.store().coupon(code).unwrap().unwrap().redemptions, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_decision_made_from_a_stale_order_is_refused() {
        use crate::domain::{ChargeId, EventKind};
        let node = node(Duration::from_secs(60)).await;
        let (service, store) = (node.ops(), node.store());
        let t = service
            .create_ticket(UserId::new(), title("CAS"), Price::from_cents(100).unwrap())
            .await
            .unwrap();
        let buyer = UserId::new();
        let order = service
            .buy(buyer, t.id, Some("k".into()), None)
            .await
            .unwrap();
        let ctx = node.actors().context().clone();
        let settle = |next: crate::domain::Order| {
            let ctx = ctx.clone();
            async move {
                let settlement = Box::new(ticket::Settlement {
                    event: EventKind::OrderCancelled {
                        id: next.id,
                        ticket_id: next.ticket.id,
                        version: next.version,
                    },
                    order: next,
                    payment: None,
                });
                ask(&ctx, t.id, |reply| TicketMsg::Settle {
                    settlement: settlement.clone(),
                    reply,
                })
                .await
                .unwrap()
            }
        };
        let mut cancelled = order.clone();
        cancelled.cancel(buyer).unwrap();
        settle(cancelled.clone()).await.unwrap();
        settle(cancelled.clone())
            .await
            .expect("a resend of the same decision is done, not an error");

        // A second decision made from the old, pending order.
        let mut stale = order.clone();
        stale.complete(ChargeId::new());
        assert!(settle(stale).await.is_err(), "stale decision refused");
        assert_eq!(store.order(order.id).unwrap().unwrap(), cancelled);
        assert!(store.ticket(t.id).unwrap().unwrap().is_available());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_won_tickets_actor_leaves_memory_long_before_one_still_for_sale() {
        let node = test_node(|s| s.idle_after = Duration::from_secs(300), None).await;
        let service = node.ops();
        let seller = UserId::new();
        let price = Price::from_cents(100).unwrap();
        let won = service
            .create_ticket(seller, title("Won"), price)
            .await
            .unwrap();
        let kept = service
            .create_ticket(seller, title("Kept"), price)
            .await
            .unwrap();
        service
            .edit_ticket(seller, kept.id, title("Kept, edited"), price)
            .await
            .unwrap();
        service
            .buy(UserId::new(), won.id, Some("k".into()), None)
            .await
            .unwrap();
        // A tenth of the idle time (as before) would be 30 s: well past this.
        let deadline = Instant::now() + Duration::from_secs(20);
        while ActorRef::<TicketMsg>::where_is(won.id.actor_name()).is_some() {
            assert!(Instant::now() < deadline, "the won ticket's actor stayed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            ActorRef::<TicketMsg>::where_is(kept.id.actor_name()).is_some(),
            "a ticket for sale keeps its actor for the idle time"
        );
        // Started again from the store on its next message.
        let again = service
            .buy(UserId::new(), won.id, Some("k2".into()), None)
            .await;
        assert!(
            matches!(again, Err(Error::Rule(RuleError::AlreadyReserved))),
            "{again:?}"
        );
    }

    #[tokio::test]
    async fn a_buy_without_a_key_is_not_answered_again_with_its_order() {
        let node = node(Duration::from_secs(2)).await;
        let service = node.ops();
        let price = Price::from_cents(100).unwrap();
        let t = service
            .create_ticket(UserId::new(), title("Keyless"), price)
            .await
            .unwrap();
        let buyer = UserId::new();
        service.buy(buyer, t.id, None, None).await.unwrap();
        // The same buyer again, keyless: a new BUY, refused; with a key
        // (never sent before) just as much.
        for key in [None, Some("k".to_owned())] {
            let again = service.buy(buyer, t.id, key, None).await;
            assert!(
                matches!(again, Err(Error::Rule(RuleError::AlreadyReserved))),
                "{again:?}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crashed_order_actor_is_restarted_and_still_expires() {
        let node = node(Duration::from_secs(2)).await;
        let (service, store) = (node.ops(), node.store());
        let t = service
            .create_ticket(
                UserId::new(),
                title("Held"),
                Price::from_cents(100).unwrap(),
            )
            .await
            .unwrap();
        let buyer = UserId::new();
        let order = service
            .buy(buyer, t.id, Some("k".into()), None)
            .await
            .unwrap();
        let name = order.id.actor_name();
        assert!(
            ActorRef::<OrderMsg>::where_is(name.clone()).is_none(),
            "a hold starts no order actor"
        );
        let before = find_or_start(node.actors().context(), order.id)
            .await
            .unwrap();
        before.cast(OrderMsg::Crash).unwrap();
        restarted::<OrderMsg>(&name, before.get_id()).await;

        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let o = store.order(order.id).unwrap().unwrap();
            if o.status == OrderStatus::Cancelled {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "order never expired after its actor crashed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(store.ticket(t.id).unwrap().unwrap().is_available());
        // The same idempotency key still answers with the first order.
        let again = service
            .buy(buyer, t.id, Some("k".into()), None)
            .await
            .unwrap();
        assert_eq!(again.id, order.id);
    }

    /// A provider that answers only when the test says so, or late.
    struct TestGateway {
        inner: crate::payments::StripeTestGateway,
        /// Charges wait for a permit when this is set.
        hold: std::sync::atomic::AtomicBool,
        entered: tokio::sync::Notify,
        release: tokio::sync::Semaphore,
        /// Answers this late (the charge itself is made at once).
        delay_ms: std::sync::atomic::AtomicU64,
    }

    impl TestGateway {
        fn new() -> Self {
            Self {
                inner: Default::default(),
                hold: Default::default(),
                entered: Default::default(),
                release: tokio::sync::Semaphore::new(0),
                delay_ms: Default::default(),
            }
        }
    }

    impl crate::payments::PaymentGateway for TestGateway {
        fn charge(
            &self,
            request: crate::payments::ChargeRequest,
        ) -> crate::payments::ChargeFuture<'_> {
            use std::sync::atomic::Ordering::SeqCst;
            Box::pin(async move {
                if self.hold.load(SeqCst) {
                    self.entered.notify_one();
                    self.release.acquire().await.unwrap().forget();
                }
                let receipt = self.inner.charge(request).await;
                let delay = self.delay_ms.load(SeqCst);
                tokio::time::sleep(Duration::from_millis(delay)).await;
                receipt
            })
        }

        fn refund(&self, provider_id: &str) -> crate::payments::RefundFuture<'_> {
            self.inner.refund(provider_id)
        }
    }

    /// A hold whose card is being charged: the test gateway holds the
    /// charge until the test adds a permit.
    struct Paying {
        node: TestNode,
        gateway: Arc<TestGateway>,
        ticket: Ticket,
        buyer: UserId,
        order: crate::domain::Order,
        paying: tokio::task::JoinHandle<Result<crate::domain::Charge>>,
    }

    async fn paying(settings: impl FnOnce(&mut Settings), name: &str) -> Paying {
        let gateway = Arc::new(TestGateway::new());
        gateway
            .hold
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let node = test_node(settings, Some(gateway.clone())).await;
        let ops = node.ops().clone();
        let ticket = ops
            .create_ticket(UserId::new(), title(name), Price::from_cents(500).unwrap())
            .await
            .unwrap();
        let buyer = UserId::new();
        let order = ops
            .buy(buyer, ticket.id, Some("k".into()), None)
            .await
            .unwrap();
        let paying = tokio::spawn(async move {
            ops.pay(buyer, order.id, "tok_visa".into(), Some("p".into()))
                .await
        });
        gateway.entered.notified().await;
        Paying {
            node,
            gateway,
            ticket,
            buyer,
            order,
            paying,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_charge_for_an_order_closed_meanwhile_is_refunded() {
        let Paying {
            node,
            gateway,
            ticket: t,
            buyer,
            order,
            paying,
        } = paying(|_| {}, "Late").await;
        let store = node.store().clone();
        // While the card is being charged the order is closed by another
        // decision (what a second owner, or a bug, would do).
        let mut cancelled = order.clone();
        cancelled.cancel(buyer).unwrap();
        let settlement = Box::new(ticket::Settlement {
            event: crate::domain::EventKind::OrderCancelled {
                id: cancelled.id,
                ticket_id: t.id,
                version: cancelled.version,
            },
            order: cancelled,
            payment: None,
        });
        let ctx = node.actors().context().clone();
        ask(&ctx, t.id, |reply| TicketMsg::Settle {
            settlement: settlement.clone(),
            reply,
        })
        .await
        .unwrap()
        .unwrap();
        gateway.release.add_permits(1);

        let err = paying
            .await
            .unwrap()
            .expect_err("the order can no longer be paid");
        assert!(err.to_string().contains("refunded"), "{err}");
        assert_eq!(gateway.inner.refunds().len(), 1, "the charge went back");
        let stored = store.order(order.id).unwrap().unwrap();
        assert_eq!(stored.status, OrderStatus::Cancelled);
        assert!(stored.charge_id.is_none());
        assert!(
            store.ticket(t.id).unwrap().unwrap().is_available(),
            "not sold"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_payment_under_way_at_the_deadline_completes_and_is_not_undone_by_the_reminder() {
        let Paying {
            node,
            gateway,
            ticket: t,
            order,
            paying,
            ..
        } = paying(|s| s.order_ttl = Duration::from_secs(2), "Close call").await;
        let store = node.store().clone();
        // The card is being charged when the deadline passes, and stays so
        // for several of the reminder service's looks.
        let past = order.expires_at.as_millis() + 1_500;
        while crate::domain::Timestamp::now().as_millis() < past {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            store.order(order.id).unwrap().unwrap().is_pending(),
            "the reminder left the decision to the order actor taking the payment"
        );
        gateway.release.add_permits(1);

        let charge = paying
            .await
            .unwrap()
            .expect("a payment begun in time completes");
        let stored = store.order(order.id).unwrap().unwrap();
        assert_eq!(stored.status, OrderStatus::Complete);
        assert_eq!(stored.charge_id, Some(charge.id));
        assert!(gateway.inner.refunds().is_empty(), "nothing refunded");
        assert!(!store.ticket(t.id).unwrap().unwrap().is_available(), "sold");
        // Its reminder went with the payment: nothing fires later.
        assert!(store
            .due_reminders(crate::domain::Timestamp::now(), 10)
            .unwrap()
            .is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_provider_timeout_leaves_the_order_payable_and_a_retry_charges_once() {
        use std::sync::atomic::Ordering::SeqCst;
        let gateway = Arc::new(TestGateway::new());
        gateway.delay_ms.store(1_500, SeqCst);
        let node = test_node(
            |s| s.payment_timeout = Duration::from_millis(200),
            Some(gateway.clone()),
        )
        .await;
        let (ops, store) = (node.ops().clone(), node.store().clone());
        let t = ops
            .create_ticket(
                UserId::new(),
                title("Slow"),
                Price::from_cents(700).unwrap(),
            )
            .await
            .unwrap();
        let buyer = UserId::new();
        let order = ops.buy(buyer, t.id, Some("k".into()), None).await.unwrap();

        let err = ops
            .pay(buyer, order.id, "tok_visa".into(), Some("p".into()))
            .await
            .expect_err("the provider did not answer in time");
        assert!(
            matches!(err, crate::error::Error::Unavailable(_)),
            "{err:?}"
        );
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(
            store.order(order.id).unwrap().unwrap().is_pending(),
            "still held"
        );

        // The provider recovers; the buyer retries with the same key.
        gateway.delay_ms.store(0, SeqCst);
        let charge = ops
            .pay(buyer, order.id, "tok_visa".into(), Some("p".into()))
            .await
            .unwrap();
        assert_eq!(
            gateway.inner.charges_made(),
            1,
            "one charge for both attempts"
        );
        let stored = store.order(order.id).unwrap().unwrap();
        assert_eq!(stored.status, OrderStatus::Complete);
        assert_eq!(stored.charge_id, Some(charge.id));
    }
}
