//! One actor per coupon in use: the only place its count changes.
//!
//! Redemptions and give-backs are its messages, handled one at a time, so
//! "is there a use left?" and "take it" are one step however many payments
//! race for the last use, on whichever node they came in (they are all
//! forwarded here, the coupon's home). Each change is written, with its
//! event, in one transaction before the answer, which waits for the disk.

use std::sync::Arc;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr};

use super::{
    idle::{Idle, Passivating},
    Context, Entity,
};
use crate::{
    domain::{Coupon, CouponCode, Discount, EventKind, OrderId, RuleError, Timestamp},
    error::{Error, Result},
};

pub(crate) enum CouponMsg {
    /// Take a use for `order` (a retry for the same order takes none);
    /// answers what the coupon takes off.
    Redeem {
        order: OrderId,
        reply: RpcReplyPort<Result<Discount>>,
    },
    /// Give `order`'s use back, if it holds one.
    GiveBack {
        order: OrderId,
        reply: RpcReplyPort<Result<()>>,
    },
    IdleCheck,
    #[cfg(test)]
    Crash,
}

impl ractor::Message for CouponMsg {}

impl Passivating for CouponMsg {
    fn idle_check() -> Self {
        Self::IdleCheck
    }

    fn is_idle_check(&self) -> bool {
        matches!(self, Self::IdleCheck)
    }
}

pub(super) struct CouponActor;

pub(super) struct CouponState {
    ctx: Arc<Context>,
    coupon: Coupon,
    idle: Idle,
}

impl Entity for CouponCode {
    type Msg = CouponMsg;

    fn actor_name(&self) -> String {
        format!("coupon/{self}")
    }

    async fn spawn(
        self,
        ctx: Arc<Context>,
        supervisor: ActorCell,
    ) -> Result<ActorRef<CouponMsg>, SpawnErr> {
        let (actor, _) = Actor::spawn_linked(
            Some(self.actor_name()),
            CouponActor,
            (ctx, self),
            supervisor,
        )
        .await?;
        Ok(actor)
    }
}

impl Actor for CouponActor {
    type Msg = CouponMsg;
    type State = CouponState;
    type Arguments = (Arc<Context>, CouponCode);

    async fn pre_start(
        &self,
        myself: ActorRef<CouponMsg>,
        (ctx, code): Self::Arguments,
    ) -> Result<CouponState, ActorProcessingErr> {
        // Loaded with our name registered: nobody else changes it now.
        let coupon = ctx
            .store
            .coupon(code)
            .map_err(Error::from)?
            .ok_or(Error::Rule(RuleError::UnknownCoupon))?;
        Ok(CouponState {
            idle: Idle::start(&myself, ctx.settings.idle_after),
            ctx,
            coupon,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<CouponMsg>,
        msg: CouponMsg,
        state: &mut CouponState,
    ) -> Result<(), ActorProcessingErr> {
        state.idle.saw(&msg);
        match msg {
            CouponMsg::Redeem { order, reply } => {
                let _ = reply.send(state.redeem(order).await);
            }
            CouponMsg::GiveBack { order, reply } => {
                let _ = reply.send(state.give_back(order).await);
            }
            CouponMsg::IdleCheck => {
                let settled = state.coupon.is_expired(Timestamp::now());
                state.idle.check(&myself, settled);
            }
            #[cfg(test)]
            CouponMsg::Crash => panic!("crash requested by a test"),
        }
        Ok(())
    }
}

impl CouponState {
    async fn redeem(&mut self, order: OrderId) -> Result<Discount> {
        let store = &self.ctx.store;
        let held = store.coupon_held_by(self.coupon.code, order)?;
        let mut next = self.coupon.clone();
        if next.redeem(held, Timestamp::now())? {
            self.write(next, order, true).await?;
        }
        Ok(self.coupon.discount)
    }

    async fn give_back(&mut self, order: OrderId) -> Result<()> {
        let held = self.ctx.store.coupon_held_by(self.coupon.code, order)?;
        let mut next = self.coupon.clone();
        if next.give_back(held) {
            self.write(next, order, false).await?;
        }
        Ok(())
    }

    /// Stores `next` with `order`'s use taken (`held`) or given back, and
    /// the event saying so, in one transaction; adopts it once written.
    async fn write(&mut self, next: Coupon, order: OrderId, held: bool) -> Result<()> {
        let (code, redemptions, version) = (next.code, next.redemptions, next.version);
        let event = if held {
            EventKind::CouponRedeemed {
                code,
                order_id: order,
                redemptions,
                version,
            }
        } else {
            EventKind::CouponReturned {
                code,
                order_id: order,
                redemptions,
                version,
            }
        };
        let next = self
            .ctx
            .store
            .write(move |tx| {
                tx.put_coupon(&next)?;
                tx.set_coupon_hold(code, order, held)?;
                tx.emit(event)?;
                Ok(next)
            })
            .await?;
        self.coupon = next;
        Ok(())
    }
}
