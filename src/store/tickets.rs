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

    /// Every ticket, in two parts of about the same size (ids are
    /// time-ordered: split at the midpoint between the first and the last),
    /// so a start can read them on two threads.
    pub(crate) fn tickets_in_halves(
        &self,
    ) -> Result<[impl Iterator<Item = Result<Ticket, StoreError>> + Send + '_; 2], StoreError> {
        let tree = self.tree(T::Tickets);
        let as_number = |key: Option<(sled::IVec, sled::IVec)>| {
            key.and_then(|(k, _)| <[u8; 16]>::try_from(k.as_ref()).ok())
                .map_or(0, u128::from_be_bytes)
        };
        let (first, last) = (as_number(tree.first()?), as_number(tree.last()?));
        let middle = (first / 2 + last / 2).to_be_bytes();
        let decode = |v: Result<(sled::IVec, sled::IVec), sled::Error>| codec::decode(&v?.1);
        Ok([
            tree.range(..middle).map(decode),
            tree.range(middle..).map(decode),
        ])
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
