//! The catalog: every node's view of all tickets, built from the
//! TicketCreated/TicketUpdated events of every node (read by `follow`), so
//! listing tickets needs no fan-out; [`index`] pages and searches it.
//! Events are applied in version order; stale and repeated ones are ignored.
//! Each change applied also goes to the [`changes`] feed that live streams
//! follow.

mod changes;
mod index;

use std::sync::{Arc, RwLock};

pub(crate) use changes::{Changes, Next, Subscription};
pub(crate) use index::{words, Page, Query};

use crate::domain::{Event, EventKind, TicketEvent};

#[derive(Clone, Default)]
pub(crate) struct Catalog {
    index: Arc<RwLock<index::Index>>,
    changes: Changes,
}

impl Catalog {
    /// Applies one event; returns whether it changed the catalog.
    pub(crate) fn apply(&self, event: &EventKind) -> bool {
        let (EventKind::TicketCreated(t) | EventKind::TicketUpdated(t)) = event else {
            return false;
        };
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        let changed = index.apply(t);
        if changed {
            // Still under the index's lock: the feed has the changes in
            // the order they were applied.
            self.changes.push(t.clone());
        }
        changed
    }

    /// Fills a catalog that has applied nothing yet with `tickets`, each
    /// in its latest state (a node's own, from its store at start), in
    /// bulk and without feeding live streams: they are not changes.
    pub(crate) fn restore<E>(
        &self,
        tickets: impl Iterator<Item = Result<TicketEvent, E>>,
    ) -> Result<(), E> {
        let restored = index::Index::of(tickets)?;
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        debug_assert_eq!(index.len(), 0, "restored before anything is applied");
        *index = restored;
        Ok(())
    }

    /// The feed of the changes applied, for live streams.
    pub(crate) fn changes(&self) -> &Changes {
        &self.changes
    }

    /// A page of the tickets for sale, oldest first.
    pub(crate) fn page(&self, query: &Query) -> Page {
        self.index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .page(query)
    }

    /// Tickets known, for sale or not.
    pub(crate) fn len(&self) -> usize {
        self.index.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Tickets for sale now.
    pub(crate) fn for_sale(&self) -> usize {
        self.index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .for_sale()
    }
}

impl crate::follow::ReadModel for Catalog {
    fn apply(&self, event: &Event) {
        Catalog::apply(self, &event.kind);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderId, Price, Ticket, TicketEvent, Title, UserId};

    #[test]
    fn applies_newer_versions_only() {
        let c = Catalog::default();
        let mut t = Ticket::new(
            Title::parse("t").unwrap(),
            Price::from_cents(1).unwrap(),
            UserId::new(),
        );
        let v0 = TicketEvent::from(&t);
        t.hold(OrderId::for_ticket(t.id)).unwrap();
        let v1 = TicketEvent::from(&t);
        assert!(c.apply(&EventKind::TicketUpdated(v1.clone())));
        assert!(!c.apply(&EventKind::TicketCreated(v0)), "stale");
        assert!(!c.apply(&EventKind::TicketUpdated(v1)), "duplicate");
        let all = Query {
            limit: 10,
            ..Query::default()
        };
        assert!(
            c.page(&all).tickets.is_empty(),
            "held tickets are not listed"
        );
        assert_eq!(c.len(), 1);
    }
}
