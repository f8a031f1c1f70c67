//! One ticket, as stored on its home node (and on disk).

use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{
    domain::{Ticket, TicketId},
    error::{Error, Result},
};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ShowTicket {
    pub(crate) id: TicketId,
}

impl Operation for ShowTicket {
    const NAME: &'static str = "show_ticket";
    type Reply = Ticket;

    async fn apply(self, home: &Home) -> Result<Ticket> {
        home.store
            .ticket(self.id)?
            .ok_or(Error::not_found("Ticket"))
    }
}

impl Ops {
    /// Any ticket, whatever its state, as its home node has it on disk.
    pub async fn ticket(&self, id: TicketId) -> Result<Ticket> {
        self.run(self.placement.ticket_home(id), ShowTicket { id })
            .await
    }
}
