//! The catalog: every node's view of all tickets, built from the
//! TicketCreated/TicketUpdated events of every node, so listing tickets
//! needs no fan-out; [`index`] pages and searches it. Events are applied in version order; stale and
//! repeated ones are ignored. A follower task pulls each node's event log
//! (this node's too) from where it left off, which is also how a node
//! catches up after a restart or a reconnect.

mod index;

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

pub(crate) use index::{words, Page, Query};

use futures::future::BoxFuture;

use crate::{domain::EventKind, error::Result, store::LogPage};

#[derive(Clone, Default)]
pub(crate) struct Catalog {
    index: Arc<RwLock<index::Index>>,
}

/// Where the follower reads every node's event log; given by whoever starts
/// the node, so the catalog needs nothing above it.
pub(crate) trait EventSource: Send + Sync + 'static {
    /// Every node whose log is followed (this one included).
    fn members(&self) -> Vec<String>;
    /// Up to `limit` of `member`'s events after `after`.
    fn events_after(
        &self,
        member: &str,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<LogPage>>;
}

/// Events fetched per pull.
const PAGE: usize = 1000;
const PULL_EVERY: Duration = Duration::from_millis(200);

impl Catalog {
    /// Applies one event; returns whether it changed the catalog.
    pub(crate) fn apply(&self, event: &EventKind) -> bool {
        let (EventKind::TicketCreated(t) | EventKind::TicketUpdated(t)) = event else {
            return false;
        };
        self.index
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .apply(t)
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

    /// Follows every node's event log until the returned [`Follower`] is
    /// stopped or dropped.
    pub(crate) fn follow(&self, source: impl EventSource) -> Follower {
        let catalog = self.clone();
        Follower(tokio::spawn(async move {
            let mut cursors: HashMap<String, Cursor> = HashMap::new();
            loop {
                for member in source.members() {
                    let cursor = cursors.entry(member.clone()).or_default();
                    catalog.catch_up(&source, &member, cursor).await;
                }
                tokio::time::sleep(PULL_EVERY).await;
            }
        }))
    }

    /// Reads `member`'s log from `cursor` to its end (or until it fails).
    async fn catch_up(&self, source: &impl EventSource, member: &str, cursor: &mut Cursor) {
        loop {
            let page = match source.events_after(member, cursor.seq, PAGE).await {
                Ok(page) => page,
                // Unreachable for now: catch up after it is back.
                Err(_) => return,
            };
            if cursor.log_id != Some(page.log_id) || page.head < cursor.seq {
                let read_from_start = cursor.seq == 0;
                if cursor.log_id.is_some() {
                    // Another log (a rebuilt data dir) or one that went
                    // back: read it again from the start; versions make
                    // repeats harmless.
                    tracing::warn!(%member, "event log changed; re-reading it from the start");
                }
                *cursor = Cursor {
                    log_id: Some(page.log_id),
                    seq: 0,
                };
                if !read_from_start {
                    continue;
                }
            }
            for e in &page.events {
                self.apply(&e.kind);
            }
            if let Some(last) = page.events.last() {
                cursor.seq = last.seq;
            }
            let lag = page.head.saturating_sub(cursor.seq);
            metrics::gauge!(crate::metrics::FOLLOWER_LAG, "node" => member.to_owned())
                .set(lag as f64);
            if page.events.len() < PAGE {
                return;
            }
        }
    }
}

/// Where a follower is in one node's log.
#[derive(Debug, Default)]
struct Cursor {
    log_id: Option<u64>,
    seq: u64,
}

/// The catalog's follower task: stopped on shutdown (or when dropped).
pub(crate) struct Follower(tokio::task::JoinHandle<()>);

impl Follower {
    pub(crate) async fn stop(mut self) {
        self.0.abort();
        let _ = (&mut self.0).await;
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.0.abort();
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
