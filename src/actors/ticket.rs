//! One actor per ticket: the only place a ticket changes.
//!
//! It serializes every edit and every hold, and commits a ticket together
//! with its orders (which share its shard) in one transaction. It never
//! calls an order actor, so order → ticket calls cannot deadlock.

use std::sync::Arc;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr};

use super::{
    idle::{Idle, Passivating},
    Context, Entity,
};
use crate::{
    domain::{
        Charge, EventKind, Order, OrderId, Price, RuleError, Ticket, TicketEvent, TicketId,
        Timestamp, Title, UserId,
    },
    error::{Error, Result},
    metrics as m,
    store::{abort, IdemKey, Scope, StoreError},
};

pub(crate) enum TicketMsg {
    Edit {
        by: UserId,
        title: Title,
        price: Price,
        reply: RpcReplyPort<Result<Ticket>>,
    },
    /// Hold the ticket for a new order of `by`. `key`, when the client
    /// sent one, makes retries safe.
    Reserve {
        by: UserId,
        key: Option<String>,
        /// The price the buyer saw, when they said.
        seen: Option<Price>,
        reply: RpcReplyPort<Result<Order>>,
    },
    /// Persist an order's decision (sent by its order actor) and free or
    /// sell the ticket accordingly, all in one transaction.
    Settle {
        settlement: Box<Settlement>,
        reply: RpcReplyPort<Result<()>>,
    },
    /// A pending hold of this ticket is past its deadline and no order
    /// actor is running to decide it (the reminder service looked): lapse
    /// it here, from the stored order the reminder service read. The
    /// write's compare-and-set keeps it from undoing a payment or a cancel
    /// that landed meanwhile. Saves starting an order actor per expiry.
    Lapse {
        order: Box<Order>,
        reply: RpcReplyPort<Result<()>>,
    },
    IdleCheck,
    #[cfg(test)]
    Crash,
}

impl ractor::Message for TicketMsg {}

impl Passivating for TicketMsg {
    fn idle_check() -> Self {
        Self::IdleCheck
    }

    fn is_idle_check(&self) -> bool {
        matches!(self, Self::IdleCheck)
    }
}

/// An order's final state as decided by its actor.
#[derive(Clone)]
pub(crate) struct Settlement {
    pub order: Order,
    pub event: EventKind,
    /// Present when the order was paid: the ticket is then sold.
    pub payment: Option<Payment>,
}

impl Settlement {
    /// `order` lapsed, if it is still pending and overdue at `now`.
    pub(crate) fn lapse(mut order: Order, now: Timestamp) -> Option<Self> {
        if !order.expire(now) {
            return None;
        }
        let event = EventKind::OrderExpired {
            id: order.id,
            ticket_id: order.ticket.id,
            version: order.version,
        };
        Some(Self {
            order,
            event,
            payment: None,
        })
    }
}

/// A successful charge, and the payer's idempotency key, if any, to
/// remember it by.
#[derive(Clone)]
pub(crate) struct Payment {
    pub charge: Charge,
    pub key: Option<String>,
}

pub(super) struct TicketActor;

pub(super) struct TicketState {
    ctx: Arc<Context>,
    ticket: Ticket,
    idle: Idle,
    /// A buyer or the seller has asked something since the actor started.
    /// One started only to settle an order (an expiry, mostly) passivates
    /// as soon as a sold ticket's does: a storm of expiries must not leave
    /// a ticket actor per lapsed hold in memory.
    asked: bool,
}

impl Entity for TicketId {
    type Msg = TicketMsg;

    fn actor_name(&self) -> String {
        format!("ticket/{self}")
    }

    async fn spawn(
        self,
        ctx: Arc<Context>,
        supervisor: ActorCell,
    ) -> Result<ActorRef<TicketMsg>, SpawnErr> {
        let (actor, _) = Actor::spawn_linked(
            Some(self.actor_name()),
            TicketActor,
            (ctx, self),
            supervisor,
        )
        .await?;
        Ok(actor)
    }
}

impl Actor for TicketActor {
    type Msg = TicketMsg;
    type State = TicketState;
    type Arguments = (Arc<Context>, TicketId);

    async fn pre_start(
        &self,
        myself: ActorRef<TicketMsg>,
        (ctx, id): Self::Arguments,
    ) -> Result<TicketState, ActorProcessingErr> {
        // Loaded only now, with our name registered: no other actor can be
        // changing this ticket while we read it.
        let ticket = ctx
            .store
            .ticket(id)
            .map_err(Error::from)?
            .ok_or(Error::not_found("Ticket"))?;
        Ok(TicketState {
            idle: Idle::start(&myself, ctx.settings.idle_after),
            ctx,
            ticket,
            asked: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<TicketMsg>,
        msg: TicketMsg,
        state: &mut TicketState,
    ) -> Result<(), ActorProcessingErr> {
        state.idle.saw(&msg);
        let was_for_sale = state.ticket.is_available();
        match msg {
            TicketMsg::Edit {
                by,
                title,
                price,
                reply,
            } => {
                state.asked = true;
                let _ = reply.send(state.edit(by, title, price).await);
            }
            TicketMsg::Reserve {
                by,
                key,
                seen,
                reply,
            } => {
                // The order's reminder is in the same transaction: no order
                // actor is started for a hold.
                state.asked = true;
                let answer = state.reserve(by, key, seen).await;
                metrics::counter!(m::BUY_DECISIONS, "outcome" => decision(&answer)).increment(1);
                let _ = reply.send(answer);
            }
            TicketMsg::Settle { settlement, reply } => {
                let _ = reply.send(state.settle(*settlement).await);
            }
            TicketMsg::Lapse { order, reply } => {
                let _ = reply.send(state.lapse(*order).await);
                // Started for this alone (a storm of expiries, mostly):
                // leave memory now. A message that arrived meanwhile is
                // sent again to the next incarnation.
                if !state.asked {
                    myself.stop(Some("lapsed".into()));
                }
            }
            TicketMsg::IdleCheck => state
                .idle
                .check(&myself, !state.asked || !state.ticket.is_available()),
            #[cfg(test)]
            TicketMsg::Crash => panic!("crash requested by a test"),
        }
        if was_for_sale && !state.ticket.is_available() {
            state.idle.settled(&myself);
        }
        Ok(())
    }
}

/// A BUY's outcome as the metrics name it.
fn decision(answer: &Result<Order>) -> &'static str {
    match answer {
        Ok(_) => "won",
        Err(Error::Rule(RuleError::AlreadyReserved)) => "reserved",
        Err(Error::Rule(RuleError::TicketSold)) => "sold",
        Err(Error::Rule(RuleError::PriceChanged(_))) => "price_changed",
        Err(_) => "error",
    }
}

impl TicketState {
    async fn edit(&mut self, by: UserId, title: Title, price: Price) -> Result<Ticket> {
        let mut ticket = self.ticket.clone();
        ticket.edit(by, title, price)?;
        // The body owns what it writes and hands it back: no copy per write.
        let ticket = self
            .ctx
            .store
            .write(move |tx| {
                tx.put_ticket(&ticket)?;
                tx.emit(EventKind::TicketUpdated(TicketEvent::from(&ticket)))?;
                Ok(ticket)
            })
            .await?;
        self.ticket = ticket.clone();
        Ok(ticket)
    }

    async fn reserve(
        &mut self,
        by: UserId,
        key: Option<String>,
        seen: Option<Price>,
    ) -> Result<Order> {
        let store = &self.ctx.store;
        let ticket_id = self.ticket.id;
        // The first BUY of a fresh listing (most of a rush) has nothing to
        // look up: the key is remembered with a hold, and a hold changes
        // the version.
        if !self.ticket.is_untouched() {
            let idem = IdemKey::given(Scope::Reserve, by, ticket_id.as_bytes(), key.as_deref());
            if let Some(first) = store.remembered::<OrderId>(idem)? {
                return store.order(first)?.ok_or(Error::not_found("Order"));
            }
        }
        self.ticket.check_hold(seen)?;
        let mut ticket = self.ticket.clone();
        let order_id = OrderId::for_ticket(ticket.id);
        ticket.hold_at(order_id, seen)?;
        let order = Order::place(
            order_id,
            by,
            &ticket,
            Timestamp::now(),
            self.ctx.settings.order_ttl,
        );
        let cap = self.ctx.settings.max_holds_per_user;
        let (ticket, order) = store
            .write(move |tx| {
                // Exact on this node: writes are serial, and the count is
                // the stored one plus the batch's and this write's.
                if cap > 0 && tx.pending_holds_of(by)? >= cap {
                    return abort(RuleError::HoldLimitReached.into());
                }
                tx.put_ticket(&ticket)?;
                tx.place_order(&order)?;
                let idem = IdemKey::given(Scope::Reserve, by, ticket.id.as_bytes(), key.as_deref());
                tx.remember(idem, &order.id)?;
                tx.emit(EventKind::OrderCreated {
                    id: order.id,
                    user_id: order.user_id,
                    ticket_id: ticket.id,
                    expires_at: order.expires_at,
                    version: order.version,
                })?;
                tx.emit(EventKind::TicketUpdated(TicketEvent::from(&ticket)))?;
                Ok((ticket, order))
            })
            .await?;
        self.ticket = ticket;
        Ok(order)
    }

    async fn settle(&mut self, s: Settlement) -> Result<()> {
        let mut ticket = self.ticket.clone();
        let changed = match &s.payment {
            Some(_) => {
                ticket.sell(s.order.id)?;
                true
            }
            None => ticket.release(s.order.id),
        };
        let ended = match s.event {
            EventKind::ChargeCreated { .. } => "paid",
            EventKind::OrderExpired { .. } => "expired",
            _ => "cancelled",
        };
        let deadline = s.order.expires_at;
        // The settled ticket comes back when the decision was written.
        let settled = self
            .ctx
            .store
            .write(move |tx| {
                // Compare-and-set: the decision must follow the stored state it
                // was made from. A resend of a settlement already applied is done.
                match tx.order(s.order.id)? {
                    Some(stored) if stored == s.order => return Ok(None),
                    Some(stored)
                        if stored.is_pending() && stored.version + 1 == s.order.version => {}
                    _ => {
                        return abort(StoreError::Stale(format!(
                            "order {} changed before this decision was saved; try again",
                            s.order.id
                        )))
                    }
                }
                tx.put_order(&s.order)?;
                if let Some(Payment { charge, key }) = &s.payment {
                    tx.put_charge(charge)?;
                    let subject = s.order.id.as_bytes();
                    let idem = IdemKey::given(Scope::Pay, charge.user_id, subject, key.as_deref());
                    tx.remember(idem, &charge.id)?;
                }
                tx.emit(s.event)?;
                if changed {
                    tx.put_ticket(&ticket)?;
                    tx.emit(EventKind::TicketUpdated(TicketEvent::from(&ticket)))?;
                }
                Ok(Some(ticket))
            })
            .await?;
        if let Some(ticket) = settled {
            self.ticket = ticket;
            metrics::counter!(m::HOLDS_ENDED, "how" => ended).increment(1);
            if ended == "expired" {
                let late_ms = Timestamp::now()
                    .as_millis()
                    .saturating_sub(deadline.as_millis());
                metrics::histogram!(m::LAPSE_DELAY).record(late_ms as f64 / 1000.0);
            }
        }
        Ok(())
    }

    async fn lapse(&mut self, order: Order) -> Result<()> {
        match Settlement::lapse(order, Timestamp::now()) {
            Some(settlement) => self.settle(settlement).await,
            // Not overdue by this clock (set back since the reminder was
            // read): the reminder stays and fires again.
            None => Ok(()),
        }
    }
}
