//! BUY: hold a ticket for the caller. The ticket's actor decides, one BUY at
//! a time, and writes the hold and the new order in one transaction.

use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{
    actors::TicketMsg,
    domain::{Order, Price, TicketId, UserId},
    error::Result,
};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Buy {
    pub(crate) buyer: UserId,
    pub(crate) ticket: TicketId,
    /// Retrying with the same key returns the first order instead of
    /// trying again; without one, nothing is remembered for a retry.
    pub(crate) key: Option<String>,
    /// The price the buyer saw: a ticket at another price now is refused.
    pub(crate) seen: Option<Price>,
}

impl Operation for Buy {
    const NAME: &'static str = "buy";
    type Reply = Order;

    async fn apply(self, home: &Home) -> Result<Order> {
        // An unknown ticket fails in the actor's start-up: no read here.
        home.actors
            .ticket(self.ticket, |reply| TicketMsg::Reserve {
                by: self.buyer,
                key: self.key.clone(),
                seen: self.seen,
                reply,
            })
            .await?
    }
}

impl Ops {
    /// Holds `ticket` for `buyer` in a new order, unless it is held or sold.
    /// A retry with the same `key` returns the first order.
    pub async fn buy(
        &self,
        buyer: UserId,
        ticket: TicketId,
        key: Option<String>,
        seen: Option<Price>,
    ) -> Result<Order> {
        let op = Buy {
            buyer,
            ticket,
            key,
            seen,
        };
        self.run(self.placement.ticket_home(ticket), op).await
    }
}
