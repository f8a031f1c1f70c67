//! Take a use of a coupon for an order, on the coupon's home node, where
//! its actor counts them. Sent by order actors paying with a coupon,
//! through the [`CouponDesk`] that [`Ops`] gives them.

use std::sync::Arc;

use futures::{future::BoxFuture, FutureExt};
use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{
    actors::{CouponDesk, CouponMsg},
    domain::{CouponCode, Discount, OrderId},
    error::Result,
};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RedeemCoupon {
    pub(crate) code: CouponCode,
    pub(crate) order: OrderId,
}

impl Operation for RedeemCoupon {
    const NAME: &'static str = "redeem_coupon";
    type Reply = Discount;

    async fn apply(self, home: &Home) -> Result<Discount> {
        let Self { code, order } = self;
        home.actors
            .coupon(code, |reply| CouponMsg::Redeem { order, reply })
            .await?
    }
}

/// Order actors reach coupons through this: the coupon's home may be any node.
struct Desk(Ops);

impl Ops {
    /// Gives this node's order actors their way to coupons. The caller
    /// keeps the returned handle for as long as the node runs: the actors
    /// hold it only weakly (it holds them, through these operations).
    pub(crate) fn connect_coupons(&self) -> Arc<dyn CouponDesk> {
        let desk: Arc<dyn CouponDesk> = Arc::new(Desk(self.clone()));
        self.home.actors.connect_coupons(&desk);
        desk
    }
}

impl CouponDesk for Desk {
    fn redeem(&self, code: CouponCode, order: OrderId) -> BoxFuture<'static, Result<Discount>> {
        let ops = self.0.clone();
        async move {
            let home = ops.placement.coupon_home(code);
            ops.run(home, RedeemCoupon { code, order }).await
        }
        .boxed()
    }

    fn give_back(&self, code: CouponCode, order: OrderId) -> BoxFuture<'static, Result<()>> {
        let ops = self.0.clone();
        async move {
            let home = ops.placement.coupon_home(code);
            ops.run(home, super::return_coupon::ReturnCoupon { code, order })
                .await
        }
        .boxed()
    }
}
