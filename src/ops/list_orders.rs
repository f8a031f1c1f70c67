//! The caller's orders from every node, oldest first. Orders live on their
//! ticket's node, so this asks them all; nodes that cannot be reached are
//! named rather than failing the whole list.

use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{
    domain::{Order, UserId},
    error::{Error, Result},
};

/// One node's share of the list.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct OrdersOf {
    pub(crate) user: UserId,
}

impl Operation for OrdersOf {
    const NAME: &'static str = "orders_of";
    type Reply = Vec<Order>;

    async fn apply(self, home: &Home) -> Result<Vec<Order>> {
        Ok(home.store.durable(|s| s.orders_of(self.user)).await?)
    }
}

/// The caller's orders, and the nodes that could not be asked.
#[derive(Debug, Clone)]
pub struct OrderList {
    /// Oldest first.
    pub orders: Vec<Order>,
    /// Nodes that did not answer: their orders are missing from `orders`.
    pub unreachable: Vec<String>,
}

impl Ops {
    /// Every order `user` placed, asked of every node; see [`OrderList`].
    pub async fn orders_of(&self, user: UserId) -> Result<OrderList> {
        let asks = self
            .placement
            .members()
            .iter()
            .map(|m| async move { (m.name.clone(), self.run(m, OrdersOf { user }).await) });
        let mut list = OrderList {
            orders: Vec::new(),
            unreachable: Vec::new(),
        };
        for (node, result) in futures::future::join_all(asks).await {
            match result {
                Ok(orders) => list.orders.extend(orders),
                Err(Error::Unavailable(_)) => list.unreachable.push(node),
                Err(e) => return Err(e),
            }
        }
        // Ids are time-ordered.
        list.orders.sort_by_key(|o| (o.created_at, o.id));
        Ok(list)
    }
}
