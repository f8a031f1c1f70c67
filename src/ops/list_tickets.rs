//! The tickets for sale, from this node's catalog: no fan-out, no home node.

use super::Ops;
use crate::domain::TicketEvent;

impl Ops {
    /// Tickets that can be bought now, oldest first.
    pub(crate) fn available_tickets(&self) -> Vec<TicketEvent> {
        self.catalog.available()
    }
}
