//! The catalog's in-memory index: every ticket's latest state, the ones for
//! sale in id order (ids are time-ordered, so oldest first), and the words
//! of their titles. A page costs what the page holds, not what the catalog
//! holds: an ordered range, never a sort of everything.

use std::{
    collections::{BTreeSet, HashMap},
    ops::Bound,
};

use crate::domain::{TicketEvent, TicketId, TicketState};

/// Past this many candidates from the word index, a search walks the
/// tickets for sale in order instead (a word that common matches often, so
/// a page fills quickly).
const WORD_CANDIDATES: usize = 20_000;

#[derive(Default)]
pub(crate) struct Index {
    tickets: HashMap<TicketId, TicketEvent>,
    for_sale: BTreeSet<TicketId>,
    /// (word of a title, lower-cased; ticket) for every ticket for sale.
    words: BTreeSet<(Box<str>, TicketId)>,
}

/// What a page asks for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    /// Only tickets after this one (the previous page's cursor).
    pub(crate) after: Option<TicketId>,
    pub(crate) limit: usize,
    /// Every word must start a word of the title (lower-case).
    pub(crate) words: Vec<String>,
}

/// One page of tickets for sale, and the cursor of the next if there is more.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub(crate) tickets: Vec<TicketEvent>,
    pub(crate) next: Option<TicketId>,
}

/// The words of a title as search sees them.
pub(crate) fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

impl Index {
    /// Applies a ticket's new state; stale and repeated versions change nothing.
    pub(crate) fn apply(&mut self, t: &TicketEvent) -> bool {
        if let Some(known) = self.tickets.get(&t.id) {
            if known.version >= t.version {
                return false;
            }
            let known = known.clone();
            self.unlist(&known);
        }
        if t.state == TicketState::Available {
            self.for_sale.insert(t.id);
            for w in words(&t.title) {
                self.words.insert((w.into_boxed_str(), t.id));
            }
        }
        self.tickets.insert(t.id, t.clone());
        true
    }

    fn unlist(&mut self, t: &TicketEvent) {
        if self.for_sale.remove(&t.id) {
            for w in words(&t.title) {
                self.words.remove(&(w.into_boxed_str(), t.id));
            }
        }
    }

    /// Every ticket known, for sale or not.
    pub(crate) fn len(&self) -> usize {
        self.tickets.len()
    }

    /// Tickets for sale now.
    pub(crate) fn for_sale(&self) -> usize {
        self.for_sale.len()
    }

    pub(crate) fn page(&self, q: &Query) -> Page {
        let q = &Query {
            limit: q.limit.max(1),
            ..q.clone()
        };
        let mut ids = match q.words.iter().max_by_key(|w| w.len()) {
            None => self.in_order(q.after).take(q.limit + 1).collect(),
            Some(longest) => self.search(q, longest),
        };
        let next = (ids.len() > q.limit).then(|| {
            ids.truncate(q.limit);
            ids[q.limit - 1]
        });
        Page {
            tickets: ids.iter().map(|id| self.tickets[id].clone()).collect(),
            next,
        }
    }

    fn in_order(&self, after: Option<TicketId>) -> impl Iterator<Item = TicketId> + '_ {
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.for_sale.range((from, Bound::Unbounded)).copied()
    }

    /// Up to `limit + 1` matching ids after the cursor, in order.
    fn search(&self, q: &Query, longest: &str) -> Vec<TicketId> {
        let matches_all = |id: &TicketId| {
            let title: Vec<String> = words(&self.tickets[id].title).collect();
            q.words
                .iter()
                .all(|w| title.iter().any(|t| t.starts_with(w.as_str())))
        };
        let start = (Box::<str>::from(longest), TicketId::from_bytes([0; 16]));
        let mut candidates: Vec<TicketId> = Vec::new();
        for (word, id) in self.words.range(start..) {
            if !word.starts_with(longest) {
                break;
            }
            if candidates.len() == WORD_CANDIDATES {
                // Common: walk the tickets for sale in order instead.
                return self
                    .in_order(q.after)
                    .filter(matches_all)
                    .take(q.limit + 1)
                    .collect();
            }
            if q.after.is_none_or(|after| *id > after) {
                candidates.push(*id);
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates
            .into_iter()
            .filter(matches_all)
            .take(q.limit + 1)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderId, Price, Ticket, Title, UserId};

    fn ticket(title: &str) -> Ticket {
        Ticket::new(
            Title::parse(title).unwrap(),
            Price::from_cents(100).unwrap(),
            UserId::new(),
        )
    }

    fn query(after: Option<TicketId>, limit: usize, q: &str) -> Query {
        Query {
            after,
            limit,
            words: words(q).collect(),
        }
    }

    fn titles(p: &Page) -> Vec<&str> {
        p.tickets.iter().map(|t| t.title.as_str()).collect()
    }

    #[test]
    fn pages_in_order_with_a_cursor_and_skips_held_tickets() {
        let mut index = Index::default();
        let mut all = Vec::new();
        for i in 0..7 {
            let t = ticket(&format!("Seat {i}"));
            index.apply(&TicketEvent::from(&t));
            all.push(t);
        }
        let mut held = all[2].clone();
        held.hold(OrderId::for_ticket(held.id)).unwrap();
        assert!(index.apply(&TicketEvent::from(&held)));
        assert!(!index.apply(&TicketEvent::from(&all[2])), "stale");

        let first = index.page(&query(None, 3, ""));
        assert_eq!(titles(&first), ["Seat 0", "Seat 1", "Seat 3"]);
        let second = index.page(&query(first.next, 3, ""));
        assert_eq!(titles(&second), ["Seat 4", "Seat 5", "Seat 6"]);
        assert_eq!(second.next, None, "nothing after the last");
        assert_eq!(index.len(), 7);

        held.release(held.order_id().unwrap());
        index.apply(&TicketEvent::from(&held));
        assert_eq!(
            titles(&index.page(&query(None, 3, ""))),
            ["Seat 0", "Seat 1", "Seat 2"]
        );
    }

    #[test]
    fn search_matches_word_prefixes_case_insensitively() {
        let mut index = Index::default();
        for title in [
            "Rock Concert",
            "Jazz night",
            "ROCKY horror show",
            "Concerto in D",
            "Pop",
        ] {
            index.apply(&TicketEvent::from(&ticket(title)));
        }
        assert_eq!(
            titles(&index.page(&query(None, 10, "rock"))),
            ["Rock Concert", "ROCKY horror show"]
        );
        assert_eq!(
            titles(&index.page(&query(None, 10, "CONCERT"))),
            ["Rock Concert", "Concerto in D"]
        );
        assert_eq!(
            titles(&index.page(&query(None, 10, "rock conc"))),
            ["Rock Concert"]
        );
        assert!(
            index.page(&query(None, 10, "ock")).tickets.is_empty(),
            "prefixes only"
        );
        let first = index.page(&query(None, 1, "con"));
        assert_eq!(titles(&first), ["Rock Concert"]);
        assert_eq!(
            titles(&index.page(&query(first.next, 1, "con"))),
            ["Concerto in D"]
        );
    }

    #[test]
    fn a_common_word_walks_the_tickets_in_order() {
        let mut index = Index::default();
        for i in 0..(WORD_CANDIDATES + 10) {
            index.apply(&TicketEvent::from(&ticket(&format!("Gig {i}"))));
        }
        let page = index.page(&query(None, 2, "gig"));
        assert_eq!(titles(&page), ["Gig 0", "Gig 1"]);
        assert!(page.next.is_some());
    }
}
