//! The catalog's change feed: every ticket change the catalog applied, in
//! the order it applied them, numbered from 1, the latest [`RING`] kept in
//! memory. Live streams follow it with a cursor; a reconnect resumes from
//! the id of the last change it saw, if the ring still holds what came
//! after.
//!
//! The catalog applies only events on disk, so nothing reaches the feed
//! before it is. Applying never waits on a subscriber: a change is
//! pushed into the ring (a short lock) and the new head is published on a
//! `watch`; subscribers read the ring at their own pace, and one that falls
//! behind the ring is told to start over ([`Next::Reset`]).
//!
//! Ids are `<incarnation>-<seq>`: the incarnation is random per catalog
//! (per process start), so an id from another node or from before a
//! restart is recognized as unknown rather than misread.

use std::{
    collections::{HashSet, VecDeque},
    sync::{Arc, RwLock},
};

use tokio::sync::watch;

use crate::domain::{TicketEvent, TicketId};

/// Changes kept for resuming streams.
pub(crate) const RING: usize = 10_000;

/// Most changes handed to a subscriber at once (bounds the time it holds
/// the ring's lock).
const BATCH: usize = 256;

/// One change the catalog applied: the ticket's new state.
#[derive(Debug)]
pub(crate) struct Change {
    /// Its place in this catalog's feed, from 1.
    pub(crate) seq: u64,
    /// The ticket as it now is.
    pub(crate) ticket: TicketEvent,
}

/// The feed of one catalog; cheap to clone.
#[derive(Clone)]
pub(crate) struct Changes(Arc<Feed>);

struct Feed {
    incarnation: u64,
    capacity: usize,
    ring: RwLock<Ring>,
    /// The seq of the latest change, for waking subscribers.
    head: watch::Sender<u64>,
}

#[derive(Default)]
struct Ring {
    /// The seq of the latest change (0: none yet).
    last: u64,
    changes: VecDeque<Arc<Change>>,
}

impl Ring {
    /// The seq of the oldest change a subscriber can still read.
    fn first(&self) -> u64 {
        self.last + 1 - self.changes.len() as u64
    }

    /// Whether everything after `seq` is still here.
    fn holds_after(&self, seq: u64) -> bool {
        seq <= self.last && seq + 1 >= self.first()
    }
}

impl Default for Changes {
    fn default() -> Self {
        Self::with_capacity(RING)
    }
}

impl Changes {
    /// A feed keeping the latest `capacity` changes.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self(Arc::new(Feed {
            incarnation: rand::random(),
            capacity: capacity.max(1),
            ring: RwLock::default(),
            head: watch::Sender::new(0),
        }))
    }

    /// Appends a change. Called in the order the catalog applies them.
    pub(crate) fn push(&self, ticket: TicketEvent) {
        let seq = {
            let mut ring = self.0.ring.write().unwrap_or_else(|p| p.into_inner());
            ring.last += 1;
            let seq = ring.last;
            ring.changes.push_back(Arc::new(Change { seq, ticket }));
            if ring.changes.len() > self.0.capacity {
                ring.changes.pop_front();
            }
            seq
        };
        self.0.head.send_replace(seq);
    }

    /// The id of the change numbered `seq`.
    pub(crate) fn id(&self, seq: u64) -> String {
        format!("{:016x}-{seq}", self.0.incarnation)
    }

    /// The id of the latest change: a page rendered now hands it to its
    /// script, which resumes from it and so misses nothing in between.
    pub(crate) fn current_id(&self) -> String {
        let last = self.0.ring.read().unwrap_or_else(|p| p.into_inner()).last;
        self.id(last)
    }

    /// The seq `id` names, if it is one of this feed's.
    fn seq_of(&self, id: &str) -> Option<u64> {
        let (incarnation, seq) = id.trim().split_once('-')?;
        let incarnation = u64::from_str_radix(incarnation, 16).ok()?;
        (incarnation == self.0.incarnation).then(|| seq.parse().ok())?
    }

    /// Follows the feed: from after `last_seen` (an id this feed gave)
    /// when the ring still holds everything after it, else from now on.
    /// The flag says whether `last_seen` was given but could not be
    /// resumed from (the subscriber missed changes: it should start over).
    pub(crate) fn subscribe(
        &self,
        last_seen: Option<&str>,
        only: Option<HashSet<TicketId>>,
    ) -> (Subscription, bool) {
        let ring = self.0.ring.read().unwrap_or_else(|p| p.into_inner());
        let resumed = last_seen
            .and_then(|id| self.seq_of(id))
            .filter(|seq| ring.holds_after(*seq));
        let subscription = Subscription {
            feed: self.clone(),
            cursor: resumed.unwrap_or(ring.last),
            head: self.0.head.subscribe(),
            only,
        };
        (subscription, last_seen.is_some() && resumed.is_none())
    }
}

/// What a subscriber gets next.
#[derive(Debug)]
pub(crate) enum Next {
    /// Changes after the previous ones, in order (never empty).
    Changes(Vec<Arc<Change>>),
    /// The subscriber fell behind the ring and missed changes; it goes on
    /// from the latest.
    Reset,
}

/// One subscriber's place in the feed.
pub(crate) struct Subscription {
    feed: Changes,
    /// The seq of the last change handed out (or skipped).
    cursor: u64,
    head: watch::Receiver<u64>,
    /// Only changes to these tickets, when given.
    only: Option<HashSet<TicketId>>,
}

impl Subscription {
    /// The id of the subscriber's place: resuming from it misses nothing.
    pub(crate) fn id(&self) -> String {
        self.feed.id(self.cursor)
    }

    /// Waits for the next changes (of the tickets asked for).
    pub(crate) async fn next(&mut self) -> Next {
        loop {
            // Seen before the ring is read: a push after this wakes us.
            self.head.borrow_and_update();
            {
                let ring = self.feed.0.ring.read().unwrap_or_else(|p| p.into_inner());
                if !ring.holds_after(self.cursor) {
                    self.cursor = ring.last;
                    return Next::Reset;
                }
                let from = usize::try_from(self.cursor + 1 - ring.first()).unwrap_or(usize::MAX);
                let batch: Vec<Arc<Change>> =
                    ring.changes.range(from..).take(BATCH).cloned().collect();
                if let Some(last) = batch.last() {
                    self.cursor = last.seq;
                }
                let batch: Vec<Arc<Change>> = match &self.only {
                    None => batch,
                    Some(only) => batch
                        .into_iter()
                        .filter(|c| only.contains(&c.ticket.id))
                        .collect(),
                };
                if !batch.is_empty() {
                    return Next::Changes(batch);
                }
                if from < ring.changes.len() {
                    // All filtered out, but there may be more to read.
                    continue;
                }
            }
            if self.head.changed().await.is_err() {
                // The feed is gone (never while the catalog lives).
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Price, Ticket, Title, UserId};

    fn ticket(title: &str) -> TicketEvent {
        TicketEvent::from(&Ticket::new(
            Title::parse(title).unwrap(),
            Price::from_cents(100).unwrap(),
            UserId::new(),
        ))
    }

    async fn titles(s: &mut Subscription) -> Vec<String> {
        match s.next().await {
            Next::Changes(c) => c.iter().map(|c| c.ticket.title.clone()).collect(),
            Next::Reset => vec!["reset".into()],
        }
    }

    #[tokio::test]
    async fn resumes_after_a_known_id_and_resets_otherwise() {
        let feed = Changes::with_capacity(3);
        let (mut live, reset) = feed.subscribe(None, None);
        assert!(!reset);
        feed.push(ticket("a"));
        assert_eq!(titles(&mut live).await, ["a"]);
        let after_a = live.id();
        feed.push(ticket("b"));
        feed.push(ticket("c"));

        let (mut resumed, reset) = feed.subscribe(Some(&after_a), None);
        assert!(!reset);
        assert_eq!(titles(&mut resumed).await, ["b", "c"]);

        feed.push(ticket("d"));
        feed.push(ticket("e"));
        // The ring (3) no longer holds b.
        assert!(feed.subscribe(Some(&after_a), None).1, "too old");
        assert!(feed.subscribe(Some("0-1"), None).1, "another incarnation");
        assert!(feed.subscribe(Some("junk"), None).1, "not an id");
        let other = Changes::default();
        assert!(feed.subscribe(Some(&other.id(1)), None).1, "another feed");
        assert!(feed.subscribe(Some(&feed.id(99)), None).1, "in the future");

        // `live` read only a: it lagged past the ring.
        assert_eq!(titles(&mut live).await, ["reset"]);
        feed.push(ticket("f"));
        assert_eq!(titles(&mut live).await, ["f"]);
    }

    #[tokio::test]
    async fn a_filter_passes_only_its_tickets() {
        let feed = Changes::default();
        let wanted = ticket("wanted");
        let (mut s, _) = feed.subscribe(None, Some(HashSet::from([wanted.id])));
        feed.push(ticket("other"));
        feed.push(wanted.clone());
        feed.push(ticket("another"));
        assert_eq!(titles(&mut s).await, ["wanted"]);
        assert_eq!(s.id(), feed.id(3), "skipped ones are passed too");
    }
}
