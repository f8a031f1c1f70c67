//! Give an order's use of a coupon back, on the coupon's home node: its
//! payment failed, known not to have charged the card.

use serde::{Deserialize, Serialize};

use super::{Home, Operation};
use crate::{
    actors::CouponMsg,
    domain::{CouponCode, OrderId},
    error::Result,
};

/// Give an order's use of a coupon back (its payment failed).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ReturnCoupon {
    pub(crate) code: CouponCode,
    pub(crate) order: OrderId,
}

impl Operation for ReturnCoupon {
    const NAME: &'static str = "return_coupon";
    type Reply = ();

    async fn apply(self, home: &Home) -> Result<()> {
        let Self { code, order } = self;
        home.actors
            .coupon(code, |reply| CouponMsg::GiveBack { order, reply })
            .await?
    }
}
