//! Every coupon, by code, a page at a time. Coupons live on their codes'
//! home nodes, so this asks them all (admins only: not a hot path).

use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{
    domain::{Coupon, CouponCode},
    error::Result,
};

/// One node's share of a page.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CouponsAfter {
    pub(crate) after: Option<CouponCode>,
    pub(crate) limit: usize,
}

impl Operation for CouponsAfter {
    const NAME: &'static str = "coupons_after";
    type Reply = Vec<Coupon>;

    async fn apply(self, home: &Home) -> Result<Vec<Coupon>> {
        let Self { after, limit } = self;
        Ok(home.store.coupons_after(after, limit)?)
    }
}

/// A page of coupons.
#[derive(Debug, Clone)]
pub struct CouponList {
    /// By code.
    pub coupons: Vec<Coupon>,
    /// The cursor of the next page, if there is more.
    pub next: Option<CouponCode>,
}

impl Ops {
    /// Up to `limit` coupons after `after`, by code, from every node. A
    /// node that cannot be asked fails the list (503): an admin must not
    /// take a partial list for all there is.
    pub async fn coupons(&self, after: Option<CouponCode>, limit: usize) -> Result<CouponList> {
        let limit = limit.max(1);
        let asks = self.placement.members().iter().map(|m| {
            self.run(
                m,
                CouponsAfter {
                    after,
                    limit: limit + 1,
                },
            )
        });
        let mut coupons = Vec::new();
        for result in futures::future::join_all(asks).await {
            coupons.extend(result?);
        }
        coupons.sort_by_key(|c| c.code);
        let mut next = None;
        if coupons.len() > limit {
            coupons.truncate(limit);
            next = coupons.last().map(|c| c.code);
        }
        Ok(CouponList { coupons, next })
    }
}
