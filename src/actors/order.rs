//! One actor per order: decides cancel, pay and expiry, one at a time, so
//! an order is paid or expired, never both. It is started on demand (a
//! buyer's cancel or payment, or the reminder service at the deadline) and
//! passivates when idle, pending or not: its deadline is a reminder in the
//! store, set and cleared in the order's own transactions.

use std::sync::Arc;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr};

use super::{
    idle::{Idle, Passivating},
    ticket::{Payment, Settlement},
    Context, Entity, TicketMsg,
};
use crate::{
    domain::{
        Amount, Charge, ChargeId, CouponCode, Discount, EventKind, Order, OrderId, Price,
        RuleError, Timestamp, UserId,
    },
    error::{Error, Result},
    metrics as m,
    payments::{ChargeError, ChargeRequest},
    store::{IdemKey, Scope},
};

pub(crate) enum OrderMsg {
    Cancel {
        by: UserId,
        reply: RpcReplyPort<Result<Order>>,
    },
    Pay {
        by: UserId,
        /// Not needed when a coupon leaves nothing to charge.
        token: Option<String>,
        coupon: Option<CouponCode>,
        key: Option<String>,
        reply: RpcReplyPort<Result<Charge>>,
    },
    /// The deadline came while this actor was running (from the reminder
    /// service); answered once decided.
    Expire(RpcReplyPort<Result<()>>),
    IdleCheck,
    #[cfg(test)]
    Crash,
}

impl ractor::Message for OrderMsg {}

impl Passivating for OrderMsg {
    fn idle_check() -> Self {
        Self::IdleCheck
    }

    fn is_idle_check(&self) -> bool {
        matches!(self, Self::IdleCheck)
    }
}

pub(super) struct OrderActor;

pub(super) struct OrderState {
    ctx: Arc<Context>,
    order: Order,
    idle: Idle,
}

impl Entity for OrderId {
    type Msg = OrderMsg;

    fn actor_name(&self) -> String {
        format!("order/{self}")
    }

    async fn spawn(
        self,
        ctx: Arc<Context>,
        supervisor: ActorCell,
    ) -> Result<ActorRef<OrderMsg>, SpawnErr> {
        let (actor, _) =
            Actor::spawn_linked(Some(self.actor_name()), OrderActor, (ctx, self), supervisor)
                .await?;
        Ok(actor)
    }
}

impl Actor for OrderActor {
    type Msg = OrderMsg;
    type State = OrderState;
    type Arguments = (Arc<Context>, OrderId);

    async fn pre_start(
        &self,
        myself: ActorRef<OrderMsg>,
        (ctx, id): Self::Arguments,
    ) -> Result<OrderState, ActorProcessingErr> {
        let order = ctx
            .store
            .order(id)
            .map_err(Error::from)?
            .ok_or(Error::not_found("Order"))?;
        Ok(OrderState {
            idle: Idle::start(&myself, ctx.settings.idle_after),
            ctx,
            order,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<OrderMsg>,
        msg: OrderMsg,
        state: &mut OrderState,
    ) -> Result<(), ActorProcessingErr> {
        state.idle.saw(&msg);
        let was_pending = state.order.is_pending();
        match msg {
            OrderMsg::Cancel { by, reply } => {
                let _ = reply.send(state.cancel(by).await);
            }
            OrderMsg::Pay {
                by,
                token,
                coupon,
                key,
                reply,
            } => {
                let answer = state.pay(by, token, coupon, key).await;
                let outcome = match &answer {
                    Ok(_) => "paid",
                    Err(Error::PaymentDeclined(_)) => "declined",
                    Err(Error::Unavailable(_)) => "unavailable",
                    Err(_) => "refused",
                };
                metrics::counter!(m::PAYMENTS, "outcome" => outcome).increment(1);
                if matches!(answer, Err(Error::Rule(RuleError::OrderExpired))) {
                    // Past its deadline: lapse now rather than at the next reminder.
                    if let Err(e) = state.expire().await {
                        tracing::warn!(order = %state.order.id, error = %e, "expiry failed; the reminder retries");
                    }
                }
                let _ = reply.send(answer);
            }
            OrderMsg::Expire(reply) => {
                let _ = reply.send(state.expire().await);
                // Nothing is left to decide: leave memory now, not when idle.
                if !state.order.is_pending() {
                    myself.stop(Some("expired".into()));
                }
            }
            OrderMsg::IdleCheck => state.idle.check(&myself, !state.order.is_pending()),
            #[cfg(test)]
            OrderMsg::Crash => panic!("crash requested by a test"),
        }
        if was_pending && !state.order.is_pending() {
            state.idle.settled(&myself);
        }
        Ok(())
    }
}

impl OrderState {
    /// Has the ticket actor persist a decision; adopts the decided order
    /// once that succeeded.
    async fn settle(&mut self, settlement: Settlement) -> Result<()> {
        let next = settlement.order.clone();
        let settlement = Box::new(settlement);
        // No timeout: a settlement that might still be applied after we
        // stopped waiting would leave this actor deciding from a stale order.
        let settle = |reply| TicketMsg::Settle {
            settlement: settlement.clone(),
            reply,
        };
        let outcome = super::ask_within(&self.ctx, next.ticket.id, settle, None)
            .await
            .and_then(|answer| answer);
        match outcome {
            Ok(()) => {
                self.order = next;
                Ok(())
            }
            Err(e) => {
                // Whatever happened, the store is the truth from here on.
                self.reload();
                Err(e)
            }
        }
    }

    /// Reads the order again; keeps the old state if it cannot be read.
    fn reload(&mut self) -> bool {
        match self.ctx.store.order(self.order.id) {
            Ok(Some(stored)) => {
                self.order = stored;
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::error!(order = %self.order.id, error = %e, "reloading an order");
                false
            }
        }
    }

    async fn cancel(&mut self, by: UserId) -> Result<Order> {
        let mut next = self.order.clone();
        next.cancel(by)?;
        let event = EventKind::OrderCancelled {
            id: next.id,
            ticket_id: next.ticket.id,
            version: next.version,
        };
        self.settle(Settlement {
            order: next,
            event,
            payment: None,
        })
        .await?;
        Ok(self.order.clone())
    }

    /// Pays for the order, with a coupon's discount when one is given.
    ///
    /// The steps, and why their order is safe:
    /// 1. A retry with a key already used returns that first charge.
    /// 2. The order must be payable, so a refused order never takes a use.
    /// 3. The coupon's use is taken on its home node, keyed by this order,
    ///    *before* any money moves: nobody is charged a discounted price the
    ///    coupon did not grant, and a retry for this order takes no second use.
    /// 4. The card is charged the reduced amount (nothing when that is zero).
    /// 5. The ticket actor completes the order and sells the ticket.
    ///
    /// A failure at 4 or 5 known to leave the order unpaid gives the use
    /// back (a declined card, an order closed meanwhile).
    /// That is safe because this actor handles one message at a time: no
    /// other payment of this order runs between the take and the give-back,
    /// so the use given back is never one a completed payment relies on, and
    /// a later attempt takes it again. When the outcome is unknown (a
    /// provider that did not answer, a ticket actor that stopped with the
    /// write still queued) the use is
    /// kept: the charge or the write may yet land, and a retry finds the
    /// very same use. If the order then lapses unpaid, that use stays taken:
    /// a coupon may end up granting fewer uses than it could, never more.
    async fn pay(
        &mut self,
        by: UserId,
        token: Option<String>,
        coupon: Option<CouponCode>,
        key: Option<String>,
    ) -> Result<Charge> {
        let store = self.ctx.store.clone();
        let idem = IdemKey::given(Scope::Pay, by, self.order.id.as_bytes(), key.as_deref());
        let replay = match store.remembered::<ChargeId>(idem)? {
            Some(first) => store.charge(first)?,
            None => None,
        };
        if let Some(first) = replay {
            return Ok(first);
        }
        self.order.check_payable(by, Timestamp::now())?;
        let Some(code) = coupon else {
            return self
                .charge_and_complete(by, token, None, key)
                .await
                .map_err(|failed| failed.error);
        };
        let desk = self.ctx.coupons()?;
        // Bounded, so the card and the disk keep their share of the wait.
        // A use taken after the wait ran out stays with this order, and a
        // retry with the same coupon finds it rather than taking another.
        let discount = tokio::time::timeout(REDEEM_WAIT, desk.redeem(code, self.order.id))
            .await
            .map_err(|_| Error::Unavailable("the coupon's node did not answer in time".into()))??;
        match self
            .charge_and_complete(by, token, Some(discount), key)
            .await
        {
            Ok(charge) => Ok(charge),
            Err(Failed {
                error,
                may_complete: true,
            }) => Err(error),
            Err(Failed { error, .. }) => {
                if let Err(e) = desk.give_back(code, self.order.id).await {
                    tracing::error!(order = %self.order.id, coupon = %code, error = %e,
                        "the payment failed but its coupon use could not be given back");
                }
                Err(error)
            }
        }
    }

    /// Steps 4 and 5 of [`OrderState::pay`].
    async fn charge_and_complete(
        &mut self,
        by: UserId,
        token: Option<String>,
        discount: Option<Discount>,
        key: Option<String>,
    ) -> Result<Charge, Failed> {
        let price = self.order.ticket.price;
        let amount = discount.map_or(Amount::from(price), |d| d.apply(price));
        let provider_id = match amount.to_price() {
            None => Charge::BY_COUPON.to_owned(),
            Some(amount) => {
                let token = token.ok_or_else(|| Error::invalid("token", "token is required"))?;
                // A provider that did not answer may still have charged the
                // card: the coupon's use stays with this order, so a retry
                // (same coupon, same amount, same provider key) finds that
                // charge, and the use never serves another order meanwhile.
                self.charge_card(amount, token)
                    .await
                    .map_err(|error| Failed {
                        may_complete: matches!(error, Error::Unavailable(_)),
                        error,
                    })?
            }
        };
        let charge = Charge {
            id: ChargeId::new(),
            order_id: self.order.id,
            user_id: by,
            amount,
            provider_id,
            created_at: Timestamp::now(),
        };
        let mut next = self.order.clone();
        next.complete(charge.id);
        let event = EventKind::ChargeCreated {
            id: charge.id,
            order_id: next.id,
            amount: charge.amount,
            version: next.version,
        };
        let payment = Payment {
            charge: charge.clone(),
            key,
        };
        let settlement = Settlement {
            order: next,
            event,
            payment: Some(payment),
        };
        let Err(e) = self.settle(settlement).await else {
            return Ok(charge);
        };
        // `settle` reloaded the order from disk (when it could read it).
        match self.order.charge_id {
            // The write landed after all (queued when its actor stopped): it is paid.
            Some(id) if id == charge.id => Ok(charge),
            // Decided otherwise, on disk, while the card was charged: it can
            // never be paid now, so the money goes back.
            _ if !self.order.is_pending() => Err(self.refund(&charge, e).await.into()),
            // Not known to be refused (a ticket actor that stopped with
            // the write queued): the write may yet land, and a retry with the same
            // keys finds this very charge instead of making another.
            _ => Err(Failed {
                error: e,
                may_complete: true,
            }),
        }
    }

    /// Charges the card; the provider's id for the charge.
    async fn charge_card(&self, amount: Price, token: String) -> Result<String> {
        let request = ChargeRequest {
            amount,
            currency: "usd",
            token,
            // One charge per order, whoever retries and however often.
            idempotency_key: format!("order-{}", self.order.id),
        };
        match tokio::time::timeout(
            self.ctx.settings.payment_timeout,
            self.ctx.payments.charge(request),
        )
        .await
        {
            Ok(Ok(receipt)) => Ok(receipt.provider_id),
            Ok(Err(ChargeError::Declined(msg))) => Err(Error::PaymentDeclined(msg)),
            Ok(Err(ChargeError::Unavailable(msg))) => Err(Error::Unavailable(msg)),
            // An earlier attempt for another amount (another coupon, or
            // none) may have charged the card: not a second charge.
            Ok(Err(ChargeError::KeyReused(_))) => Err(Error::invalid(
                "coupon",
                "An earlier payment of this order, for another amount, may have gone through: \
                 pay again with the same coupon as then (or none, if it had none)",
            )),
            // The charge may still go through: a retry uses the same
            // provider key, so it finds that charge instead of making another.
            // The order is not completed by this attempt either way.
            Err(_) => Err(Error::Unavailable("the payment provider timed out".into())),
        }
    }

    /// Gives back a charge whose order could not be completed.
    async fn refund(&self, charge: &Charge, cause: Error) -> Error {
        if charge.amount == Amount::ZERO {
            tracing::warn!(order = %self.order.id, error = %cause,
                "order changed while its coupon payment ran; nothing was charged");
            return Error::bad_request("The order was closed while the payment ran");
        }
        let refunded = tokio::time::timeout(
            self.ctx.settings.payment_timeout,
            self.ctx.payments.refund(&charge.provider_id),
        )
        .await;
        let outcome = if matches!(refunded, Ok(Ok(()))) {
            "refunded"
        } else {
            "refund_failed"
        };
        metrics::counter!(m::PAYMENTS, "outcome" => outcome).increment(1);
        if let Ok(Ok(())) = refunded {
            tracing::warn!(order = %self.order.id, provider = %charge.provider_id, error = %cause,
                "order changed while its payment ran; the charge was refunded");
            return Error::bad_request(
                "The order was closed while the payment ran; the charge was refunded",
            );
        }
        tracing::error!(order = %self.order.id, provider = %charge.provider_id, error = %cause,
            "charged, but the order could not be completed and the refund failed: refund by hand");
        Error::Internal(format!(
            "charged, but the order could not be completed: {cause}"
        ))
    }

    /// Lapses the hold if it is still pending and its deadline has passed;
    /// a reminder that comes early or late for a decided order changes nothing.
    async fn expire(&mut self) -> Result<()> {
        let Some(lapse) = Settlement::lapse(self.order.clone(), Timestamp::now()) else {
            return Ok(());
        };
        self.settle(lapse).await?;
        tracing::debug!(order = %self.order.id, "order expired");
        Ok(())
    }
}

/// Longest wait for a coupon's node to grant a use.
const REDEEM_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// A payment that did not complete the order.
struct Failed {
    error: Error,
    /// The card may have been charged (the provider did not answer) or the
    /// completion still queued when its writer stopped: it may yet land, so the
    /// coupon's use is kept.
    may_complete: bool,
}

impl From<Error> for Failed {
    fn from(error: Error) -> Self {
        Self {
            error,
            may_complete: false,
        }
    }
}
