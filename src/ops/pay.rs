//! Pay for a held order: its actor takes a coupon's use (on the coupon's
//! home) when one is given, charges the card what is left, then has the
//! ticket actor complete the order and sell the ticket in one transaction.
//! A payment that fails after taking a use gives it back; see the order
//! actor's `pay` for why the order of those steps is safe.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{
    actors::OrderMsg,
    domain::{Charge, CouponCode, OrderId, UserId},
    error::Result,
};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Pay {
    pub(crate) user: UserId,
    pub(crate) id: OrderId,
    /// The card token from the payment provider; not needed when a coupon
    /// leaves nothing to charge.
    pub(crate) token: Option<String>,
    /// A coupon to take off the price.
    pub(crate) coupon: Option<CouponCode>,
    /// Retrying with the same key returns the first charge; without one,
    /// nothing is remembered for a retry.
    pub(crate) key: Option<String>,
}

impl Operation for Pay {
    const NAME: &'static str = "pay";
    type Reply = Charge;
    /// The home node waits for the coupon, the card
    /// (`Settings::payment_timeout`) and the disk: the entry node must
    /// outwait the first two (`Actors::order_paying`: 18 s by default), or
    /// it would report a failure while the charge goes through. A stalled
    /// disk is not bounded: nothing is answered before it is on disk.
    const TIMEOUT: Duration = Duration::from_secs(20);

    async fn apply(self, home: &Home) -> Result<Charge> {
        let Self {
            user,
            id,
            token,
            coupon,
            key,
        } = self;
        home.order_of(user, id).await?;
        home.actors
            .order_paying(id, |reply| OrderMsg::Pay {
                by: user,
                token: token.clone(),
                coupon,
                key: key.clone(),
                reply,
            })
            .await?
    }
}

impl Ops {
    /// Charges the card behind `token` and completes the order, selling the
    /// ticket. A retry with the same `key` returns the first charge, and an
    /// order is never charged twice.
    pub async fn pay(
        &self,
        user: UserId,
        id: OrderId,
        token: String,
        key: Option<String>,
    ) -> Result<Charge> {
        self.pay_with(user, id, Some(token), None, key).await
    }

    /// [`Ops::pay`] with a coupon: the charge is the price less its
    /// discount, never below zero; a `token` is needed only when something
    /// is left to charge. The coupon's use is given back if the payment
    /// fails.
    pub async fn pay_with(
        &self,
        user: UserId,
        id: OrderId,
        token: Option<String>,
        coupon: Option<CouponCode>,
        key: Option<String>,
    ) -> Result<Charge> {
        let op = Pay {
            user,
            id,
            token,
            coupon,
            key,
        };
        self.run(self.placement.order_home(id), op).await
    }
}
