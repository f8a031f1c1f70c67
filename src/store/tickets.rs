//! Tickets by id.

use super::{codec, get, scan, Store, StoreError, Tx, TxResult, T};
use crate::domain::{EventKind, Ticket, TicketEvent, TicketId};

impl Store {
    pub(crate) fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, StoreError> {
        get(self.tree(T::Tickets), id.as_bytes())
    }

    /// Every ticket, oldest first (ids are time-ordered).
    pub(crate) fn tickets(&self) -> impl Iterator<Item = Result<Ticket, StoreError>> + '_ {
        scan(self.tree(T::Tickets))
    }
}

impl Tx<'_> {
    /// A new ticket and its TicketCreated event.
    pub(crate) fn create_ticket(&mut self, ticket: &Ticket) -> TxResult<()> {
        self.put_ticket(ticket)?;
        self.emit(EventKind::TicketCreated(TicketEvent::from(ticket)))
    }

    pub(crate) fn put_ticket(&mut self, ticket: &Ticket) -> TxResult<()> {
        self.put(T::Tickets, ticket.id.as_bytes(), codec::encode(ticket));
        Ok(())
    }
}
