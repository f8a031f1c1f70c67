//! Edit a ticket's title and price: decided by the ticket's actor.

use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{
    actors::TicketMsg,
    domain::{Price, Ticket, TicketId, Title, UserId},
    error::Result,
};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct EditTicket {
    pub(crate) by: UserId,
    pub(crate) id: TicketId,
    pub(crate) title: Title,
    pub(crate) price: Price,
}

impl Operation for EditTicket {
    const NAME: &'static str = "edit_ticket";
    type Reply = Ticket;

    async fn apply(self, home: &Home) -> Result<Ticket> {
        let Self {
            by,
            id,
            title,
            price,
        } = self;
        home.actors
            .ticket(id, |reply| TicketMsg::Edit {
                by,
                title: title.clone(),
                price,
                reply,
            })
            .await?
    }
}

impl Ops {
    /// A new title and price, by the seller, while nobody holds or has bought it.
    pub async fn edit_ticket(
        &self,
        by: UserId,
        id: TicketId,
        title: Title,
        price: Price,
    ) -> Result<Ticket> {
        let op = EditTicket {
            by,
            id,
            title,
            price,
        };
        self.run(self.placement.ticket_home(id), op).await
    }
}
