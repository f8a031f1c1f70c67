//! Create a coupon (admins): claimed on the home node of its code, where
//! one transaction decides between two admins choosing the same code.

use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{
    domain::Coupon,
    error::Result,
    records::{CouponRecord, Recorded},
};

/// Creates the coupon on its code's home node, unless the code is taken.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CreateCoupon {
    pub(crate) coupon: CouponRecord,
}

impl Operation for CreateCoupon {
    const NAME: &'static str = "create_coupon";
    type Reply = ();

    async fn apply(self, home: &Home) -> Result<()> {
        let coupon = Coupon::from_record(self.coupon)?;
        Ok(home.write(move |tx| tx.create_coupon(&coupon)).await?)
    }
}

impl Ops {
    /// A new coupon, unless its code (case-insensitively) is taken.
    pub async fn create_coupon(&self, coupon: Coupon) -> Result<Coupon> {
        let home = self.placement.coupon_home(coupon.code);
        let op = CreateCoupon {
            coupon: coupon.to_record(),
        };
        self.run(home, op).await?;
        Ok(coupon)
    }
}
