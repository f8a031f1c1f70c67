//! One coupon, as stored (and on disk) on its home node.

use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{
    domain::{Coupon, CouponCode, RuleError},
    error::Result,
};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ShowCoupon {
    pub(crate) code: CouponCode,
}

impl Operation for ShowCoupon {
    const NAME: &'static str = "show_coupon";
    type Reply = Coupon;

    async fn apply(self, home: &Home) -> Result<Coupon> {
        home.store
            .coupon(self.code)?
            .ok_or(RuleError::UnknownCoupon.into())
    }
}

impl Ops {
    /// The coupon with this code, or [`RuleError::UnknownCoupon`].
    pub async fn coupon(&self, code: CouponCode) -> Result<Coupon> {
        self.run(self.placement.coupon_home(code), ShowCoupon { code })
            .await
    }
}
