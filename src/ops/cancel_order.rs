//! Cancel a held order: its actor decides, its ticket's actor frees the ticket.

use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{
    actors::OrderMsg,
    domain::{Order, OrderId, UserId},
    error::Result,
};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CancelOrder {
    pub(crate) user: UserId,
    pub(crate) id: OrderId,
}

impl Operation for CancelOrder {
    const NAME: &'static str = "cancel_order";
    type Reply = Order;

    async fn apply(self, home: &Home) -> Result<Order> {
        let Self { user, id } = self;
        // Someone else's order is not found, before any actor starts.
        home.order_of(user, id).await?;
        home.actors
            .order(id, |reply| OrderMsg::Cancel { by: user, reply })
            .await?
    }
}

impl Ops {
    /// The buyer gives up a pending order; its ticket is free again at once.
    pub async fn cancel(&self, user: UserId, id: OrderId) -> Result<Order> {
        self.run(self.placement.order_home(id), CancelOrder { user, id })
            .await
    }
}
