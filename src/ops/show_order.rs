//! One order, for its buyer only, as stored on its home node (and on disk).

use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{
    domain::{Order, OrderId, UserId},
    error::{Error, Result},
};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ShowOrder {
    pub(crate) user: UserId,
    pub(crate) id: OrderId,
}

impl Operation for ShowOrder {
    const NAME: &'static str = "show_order";
    type Reply = Order;

    async fn apply(self, home: &Home) -> Result<Order> {
        home.order_of(self.user, self.id).await
    }
}

impl Home {
    /// `user`'s order `id`; anyone else's is refused.
    pub(super) async fn order_of(&self, user: UserId, id: OrderId) -> Result<Order> {
        let order = self.store.order(id)?.ok_or(Error::not_found("Order"))?;
        order.authorize(user)?;
        Ok(order)
    }
}

impl Ops {
    /// One of `user`'s orders; anyone else's is refused.
    pub async fn order(&self, user: UserId, id: OrderId) -> Result<Order> {
        self.run(self.placement.order_home(id), ShowOrder { user, id })
            .await
    }
}
