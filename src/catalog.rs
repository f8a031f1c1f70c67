//! The catalog: every node's view of all tickets, built from the
//! TicketCreated/TicketUpdated events of every node, so listing tickets
//! needs no fan-out. Events are applied in version order; stale and
//! repeated ones are ignored. A follower task pulls each node's event log
//! (this node's too) from where it left off, which is also how a node
//! catches up after a restart or a reconnect.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use crate::{
    domain::{Event, EventKind, TicketEvent, TicketId},
    service::{Request, Service},
};

#[derive(Clone, Default)]
pub struct Catalog {
    tickets: Arc<RwLock<HashMap<TicketId, TicketEvent>>>,
}

/// Events fetched per pull.
const PAGE: usize = 1000;
const PULL_EVERY: Duration = Duration::from_millis(200);

impl Catalog {
    /// Applies one event; returns whether it changed the catalog.
    pub fn apply(&self, event: &EventKind) -> bool {
        let (EventKind::TicketCreated(t) | EventKind::TicketUpdated(t)) = event else {
            return false;
        };
        let mut tickets = self.tickets.write().unwrap_or_else(|p| p.into_inner());
        match tickets.get(&t.id) {
            Some(known) if known.version >= t.version => false,
            _ => {
                tickets.insert(t.id, t.clone());
                true
            }
        }
    }

    /// Tickets neither held nor sold, oldest first.
    pub fn available(&self) -> Vec<TicketEvent> {
        let tickets = self.tickets.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<TicketEvent> = tickets
            .values()
            .filter(|t| t.state == crate::domain::TicketState::Available)
            .cloned()
            .collect();
        out.sort_by_key(|t| t.id);
        out
    }

    pub fn len(&self) -> usize {
        self.tickets.read().map(|t| t.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Follows every node's event log for as long as the service lives.
    pub fn follow(&self, service: Service) -> tokio::task::JoinHandle<()> {
        let catalog = self.clone();
        tokio::spawn(async move {
            let mut cursors: HashMap<String, u64> = HashMap::new();
            loop {
                for member in service.placement().members() {
                    let cursor = cursors.entry(member.name.clone()).or_insert(0);
                    loop {
                        let request = Request::EventsAfter {
                            after: *cursor,
                            limit: PAGE,
                        };
                        let events: Vec<Event> = match service.call(member, request).await {
                            Ok(events) => events,
                            // Unreachable for now: catch up after it is back.
                            Err(_) => break,
                        };
                        for e in &events {
                            catalog.apply(&e.kind);
                        }
                        if let Some(last) = events.last() {
                            *cursor = last.seq;
                        }
                        if events.len() < PAGE {
                            break;
                        }
                    }
                }
                tokio::time::sleep(PULL_EVERY).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderId, Price, Ticket, Title, UserId};

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
        assert!(c.available().is_empty(), "held tickets are not listed");
        assert_eq!(c.len(), 1);
    }
}
