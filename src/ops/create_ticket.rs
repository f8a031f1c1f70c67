//! Put a ticket up for sale. Its id (and so its home node) is chosen here.

use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{
    domain::{Price, Ticket, Title, UserId},
    error::Result,
    records::{Recorded, TicketRecord},
};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CreateTicket {
    pub(crate) ticket: TicketRecord,
}

impl Operation for CreateTicket {
    const NAME: &'static str = "create_ticket";
    type Reply = Ticket;

    async fn apply(self, home: &Home) -> Result<Ticket> {
        let ticket = Ticket::from_record(self.ticket)?;
        // A new ticket has no owner actor yet and nobody else knows its id.
        // It waits for a stalled disk rather than answer 503: trying again
        // after a 503 would list it twice, under a new id.
        Ok(home
            .store
            .write(move |tx| tx.create_ticket(&ticket).map(|()| ticket))
            .await?)
    }
}

impl Ops {
    /// Lists a ticket for `seller`; its fresh id picks its home node.
    pub async fn create_ticket(
        &self,
        seller: UserId,
        title: Title,
        price: Price,
    ) -> Result<Ticket> {
        let ticket = Ticket::new(title, price, seller);
        let home = self.placement.ticket_home(ticket.id);
        let ticket = ticket.to_record();
        self.run(home, CreateTicket { ticket }).await
    }
}
