//! The caller's orders from every node, oldest first. Orders live on their
//! ticket's node, so this asks them all; nodes that cannot be reached are
//! named rather than failing the whole list.

use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{
    domain::{Order, OrderId, UserId},
    error::{Error, Result},
};

/// One node's share of a page.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct OrdersOf {
    pub(crate) user: UserId,
    pub(crate) after: Option<OrderId>,
    pub(crate) limit: usize,
}

impl Operation for OrdersOf {
    const NAME: &'static str = "orders_of";
    type Reply = Vec<Order>;

    async fn apply(self, home: &Home) -> Result<Vec<Order>> {
        let Self { user, after, limit } = self;
        Ok(home.store.orders_of(user, after, limit)?)
    }
}

/// A page of the caller's orders, and the nodes that could not be asked.
#[derive(Debug, Clone)]
pub struct OrderList {
    /// Oldest first.
    pub orders: Vec<Order>,
    /// The cursor of the next page, if there is more.
    pub next: Option<OrderId>,
    /// Nodes that did not answer: their orders are missing from `orders`.
    pub unreachable: Vec<String>,
}

impl Ops {
    /// A page of the orders `user` placed, oldest first, asked of every
    /// node; see [`OrderList`].
    pub async fn orders_of(
        &self,
        user: UserId,
        after: Option<OrderId>,
        limit: usize,
    ) -> Result<OrderList> {
        let limit = limit.max(1);
        // Each node's first `limit + 1`: enough to fill the page and to
        // know whether there is more.
        let asks = self.placement.members().iter().map(|m| async move {
            let op = OrdersOf {
                user,
                after,
                limit: limit + 1,
            };
            (m.name.clone(), self.run(m, op).await)
        });
        let mut list = OrderList {
            orders: Vec::new(),
            next: None,
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
        list.orders.sort_by_key(|o| o.id);
        if list.orders.len() > limit {
            list.orders.truncate(limit);
            list.next = list.orders.last().map(|o| o.id);
        }
        Ok(list)
    }
}
