//! The catalog's in-memory index: the tickets for sale in id order (ids
//! are time-ordered, so oldest first) with what a page shows of them, the
//! words of their titles, and for every ticket known only its version (so
//! a stale event changes nothing). A ticket that is held or sold costs a
//! version, not a copy of its state: a big onsale holds most of them. A
//! page costs what the page holds, not what the catalog holds: an ordered
//! range, never a sort of everything.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    ops::Bound,
};

use crate::domain::{Price, TicketEvent, TicketId, TicketState, UserId};

/// The most a page of a search looks at: past this many candidates from
/// the word index it walks the tickets for sale in order instead (a word
/// that common matches often, so a page fills quickly), and a walk that
/// looks this far without filling the page ends it there, with a cursor to
/// go on from. A search costs at most this, whatever the catalog holds.
const WORD_CANDIDATES: usize = 20_000;

#[derive(Default)]
pub(crate) struct Index {
    /// Every ticket known, for sale or not: its latest version.
    versions: HashMap<TicketId, u64>,
    /// The tickets for sale, with what a page shows of them.
    for_sale: BTreeMap<TicketId, Listing>,
    /// (word of a title, lower-cased; ticket) for every ticket for sale.
    words: BTreeSet<(Word, TicketId)>,
}

/// A word of the word index, ordered as its text is. The first 16 bytes
/// are held inline, as one big-endian number: an onsale's titles share a
/// few words among thousands of tickets, and a lookup that followed a
/// pointer to each key's text on its way down the tree was 3 % of a
/// rush's CPU (every BUY takes its ticket's words out). Words hold no NUL,
/// so the zero padding sorts a word before its longer extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    head: u128,
    tail: Box<[u8]>,
}

impl Ord for Word {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Most words fit inline: two empty tails are equal without the
        // `memcmp` call comparing slices makes (4 % of a rush's CPU, from
        // words that thousands of titles share).
        self.head.cmp(&other.head).then_with(|| {
            if self.tail.is_empty() && other.tail.is_empty() {
                std::cmp::Ordering::Equal
            } else {
                self.tail.cmp(&other.tail)
            }
        })
    }
}

impl PartialOrd for Word {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Word {
    const HEAD: usize = 16;

    fn new(word: &str) -> Self {
        let bytes = word.as_bytes();
        let split = bytes.len().min(Self::HEAD);
        let mut head = [0; Self::HEAD];
        head[..split].copy_from_slice(&bytes[..split]);
        Self {
            head: u128::from_be_bytes(head),
            tail: bytes[split..].into(),
        }
    }

    fn starts_with(&self, prefix: &str) -> bool {
        let prefix = prefix.as_bytes();
        let head = self.head.to_be_bytes();
        match prefix.split_at_checked(Self::HEAD) {
            Some((first, rest)) => head == first && self.tail.starts_with(rest),
            None => head.starts_with(prefix),
        }
    }
}

/// What a page shows of a ticket for sale, besides its id (its version
/// too, as in `versions`: a page then looks nothing up per ticket).
struct Listing {
    title: Box<str>,
    price: Price,
    user_id: UserId,
    version: u64,
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
    /// An index of `tickets`, each given once in its latest state (as a
    /// store holds them), built in bulk: sorted runs, no insert one by one.
    pub(crate) fn of<E>(tickets: impl Iterator<Item = Result<TicketEvent, E>>) -> Result<Self, E> {
        let mut versions = HashMap::with_capacity(tickets.size_hint().0);
        let mut for_sale = Vec::new();
        let mut words_of_sale = Vec::new();
        for t in tickets {
            let t = t?;
            versions.insert(t.id, t.version);
            if t.state == TicketState::Available {
                words_of_sale.extend(words(&t.title).map(|w| (Word::new(&w), t.id)));
                for_sale.push((t.id, Listing::of(t)));
            }
        }
        Ok(Self {
            versions,
            for_sale: BTreeMap::from_iter(for_sale),
            words: BTreeSet::from_iter(words_of_sale),
        })
    }

    /// Both indexes in one, for tickets that are in only one of them.
    pub(crate) fn join(mut self, mut other: Self) -> Self {
        if self.versions.len() < other.versions.len() {
            std::mem::swap(&mut self, &mut other);
        }
        self.versions.extend(other.versions);
        self.for_sale.append(&mut other.for_sale);
        self.words.append(&mut other.words);
        self
    }

    /// The index again from what [`Index::image`] gave.
    pub(crate) fn of_image(for_sale: Vec<TicketEvent>, others: Vec<(TicketId, u64)>) -> Self {
        let mut versions = HashMap::with_capacity(for_sale.len() + others.len());
        versions.extend(others);
        let mut words_of_sale = Vec::new();
        let mut listings = Vec::with_capacity(for_sale.len());
        for t in for_sale {
            versions.insert(t.id, t.version);
            words_of_sale.extend(words(&t.title).map(|w| (Word::new(&w), t.id)));
            listings.push((t.id, Listing::of(t)));
        }
        Self {
            versions,
            for_sale: BTreeMap::from_iter(listings),
            words: BTreeSet::from_iter(words_of_sale),
        }
    }

    /// Every ticket known with its version, for sale or not.
    pub(crate) fn versions(&self) -> Vec<(TicketId, u64)> {
        self.versions.iter().map(|(id, v)| (*id, *v)).collect()
    }

    /// Up to `n` tickets for sale after `after`, in order, as pages show them.
    pub(crate) fn for_sale_after(&self, after: Option<TicketId>, n: usize) -> Vec<TicketEvent> {
        self.in_order(after)
            .take(n)
            .map(|(id, l)| Self::shown(id, l))
            .collect()
    }

    /// Applies a ticket's new state; stale and repeated versions change nothing.
    pub(crate) fn apply(&mut self, t: &TicketEvent) -> bool {
        match self.versions.get_mut(&t.id) {
            Some(known) if *known >= t.version => return false,
            Some(known) => *known = t.version,
            None => {
                self.versions.insert(t.id, t.version);
            }
        }
        if let Some(was) = self.for_sale.remove(&t.id) {
            for w in words(&was.title) {
                self.words.remove(&(Word::new(&w), t.id));
            }
        }
        if t.state == TicketState::Available {
            for w in words(&t.title) {
                self.words.insert((Word::new(&w), t.id));
            }
            self.for_sale.insert(t.id, Listing::of(t.clone()));
        }
        true
    }

    /// Every ticket known, for sale or not.
    pub(crate) fn len(&self) -> usize {
        self.versions.len()
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
        let (mut found, budget_ran_out_at) = if q.words.is_empty() {
            (self.in_order(q.after).take(q.limit + 1).collect(), None)
        } else {
            self.search(q)
        };
        let next = match budget_ran_out_at {
            // A search that looked at as much as it may this time: the
            // next page goes on from where it stopped.
            Some(last) => Some(last),
            None => (found.len() > q.limit).then(|| {
                found.truncate(q.limit);
                found[q.limit - 1].0
            }),
        };
        Page {
            tickets: found.iter().map(|(id, l)| Self::shown(*id, l)).collect(),
            next,
        }
    }

    /// A ticket for sale as a page shows it.
    fn shown(id: TicketId, l: &Listing) -> TicketEvent {
        TicketEvent {
            id,
            title: l.title.to_string(),
            price: l.price,
            user_id: l.user_id,
            state: TicketState::Available,
            version: l.version,
        }
    }

    /// The tickets for sale after `after`, with their listings (taken
    /// from the range itself: a page looks nothing up twice).
    fn in_order(&self, after: Option<TicketId>) -> impl Iterator<Item = (TicketId, &Listing)> {
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.for_sale
            .range((from, Bound::Unbounded))
            .map(|(id, l)| (*id, l))
    }

    /// The entries of the word index for words starting with `prefix`.
    fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = TicketId> + 'a {
        let start = (Word::new(prefix), TicketId::from_bytes([0; 16]));
        self.words
            .range(start..)
            .take_while(move |(word, _)| word.starts_with(prefix))
            .map(|(_, id)| *id)
    }

    /// Up to `limit + 1` matching tickets after the cursor, in order; and,
    /// when the work allowed for one page ran out first, the last id looked at.
    fn search(&self, q: &Query) -> (Vec<(TicketId, &Listing)>, Option<TicketId>) {
        let matches_all = |l: &Listing| {
            let title: Vec<String> = words(&l.title).collect();
            q.words
                .iter()
                .all(|w| title.iter().any(|t| t.starts_with(w.as_str())))
        };
        // The rarest word (counted up to the cap) gives the fewest candidates.
        let (rarest, count) = q
            .words
            .iter()
            .map(|w| (w, self.with_prefix(w).take(WORD_CANDIDATES).count()))
            .min_by_key(|(_, n)| *n)
            .expect("a search has words");
        if count < WORD_CANDIDATES {
            let mut candidates: Vec<TicketId> = self
                .with_prefix(rarest)
                .filter(|id| q.after.is_none_or(|after| *id > after))
                .collect();
            candidates.sort_unstable();
            candidates.dedup();
            let found = candidates
                .into_iter()
                .map(|id| (id, &self.for_sale[&id]))
                .filter(|(_, l)| matches_all(l))
                .take(q.limit + 1)
                .collect();
            return (found, None);
        }
        // Every word is common: walk the tickets for sale in order, as far
        // as one page may look.
        let mut found = Vec::new();
        let mut last = None;
        for (looked, (id, l)) in self.in_order(q.after).enumerate() {
            if looked == WORD_CANDIDATES {
                return (found, last);
            }
            last = Some(id);
            if matches_all(l) {
                found.push((id, l));
                if found.len() > q.limit {
                    break;
                }
            }
        }
        (found, None)
    }
}

impl Listing {
    fn of(t: TicketEvent) -> Self {
        Self {
            title: t.title.into_boxed_str(),
            price: t.price,
            user_id: t.user_id,
            version: t.version,
        }
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
    fn words_sort_and_match_prefixes_as_their_text_does() {
        let texts = [
            "",
            "a",
            "ab",
            "abc",
            "b",
            "z9",
            "0",
            "99",
            "ü",
            "zürich",
            "sixteen-bytes-xx",
            "sixteen-bytes-xy",
            "sixteen-bytes-x",
            "sixteen-bytes-xxa",
            "sixteen-bytes-xxaa",
            "championshipfinal",
            "championshipfinals",
            "championships",
        ];
        let mut by_text = texts.to_vec();
        by_text.sort_unstable();
        let mut by_word: Vec<Word> = texts.iter().map(|t| Word::new(t)).collect();
        by_word.sort_unstable();
        assert_eq!(
            by_word,
            by_text.iter().map(|t| Word::new(t)).collect::<Vec<_>>()
        );
        for word in texts {
            for prefix in texts.iter().filter(|p| !p.is_empty()) {
                assert_eq!(
                    Word::new(word).starts_with(prefix),
                    word.starts_with(prefix),
                    "{word:?} starts with {prefix:?}"
                );
            }
        }
    }

    #[test]
    fn search_finds_words_longer_than_the_inline_part_by_any_prefix() {
        let mut index = Index::default();
        for title in ["Championshipfinals 2027", "Championship final", "Chess"] {
            index.apply(&TicketEvent::from(&ticket(title)));
        }
        for (prefix, expected) in [
            (
                "champ",
                vec!["Championshipfinals 2027", "Championship final"],
            ),
            ("championshipfina", vec!["Championshipfinals 2027"]),
            ("championshipfinals", vec!["Championshipfinals 2027"]),
            ("championshipfinalsx", vec![]),
            (
                "championship",
                vec!["Championshipfinals 2027", "Championship final"],
            ),
        ] {
            assert_eq!(
                titles(&index.page(&query(None, 10, prefix))),
                expected,
                "{prefix}"
            );
        }
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
        let again = index.page(&query(None, 3, ""));
        assert_eq!(titles(&again), ["Seat 0", "Seat 1", "Seat 2"]);
        assert_eq!(
            again.tickets[2].version, held.version,
            "a page shows a ticket's latest version, not the one it was first listed with"
        );
        assert_eq!(again.tickets[0].version, all[0].version);
    }

    #[test]
    fn an_index_built_in_bulk_pages_and_searches_as_one_built_by_events() {
        let mut by_events = Index::default();
        let mut latest = Vec::new();
        for i in 0..50 {
            let mut t = ticket(&format!("Row {} seat {i}", i % 7));
            by_events.apply(&TicketEvent::from(&t));
            if i % 3 == 0 {
                t.hold(OrderId::for_ticket(t.id)).unwrap();
                by_events.apply(&TicketEvent::from(&t));
            }
            latest.push(TicketEvent::from(&t));
        }
        let held = latest[0].clone();
        assert_ne!(held.state, TicketState::Available);
        let mut bulk = Index::of(latest.into_iter().map(Ok::<_, ()>)).unwrap();
        assert_eq!(bulk.len(), by_events.len());
        assert_eq!(bulk.for_sale(), by_events.for_sale());
        for (after, q) in [(None, ""), (None, "row 3"), (None, "seat 4")] {
            let (a, b) = (
                bulk.page(&query(after, 7, q)),
                by_events.page(&query(after, 7, q)),
            );
            assert_eq!(a.tickets, b.tickets, "{q:?}");
            assert_eq!(a.next, b.next);
        }
        // Versions carry over: the event that listed it is stale now.
        let listed = TicketEvent {
            state: TicketState::Available,
            version: held.version - 1,
            ..held
        };
        assert!(!bulk.apply(&listed));
        assert_eq!(bulk.for_sale(), by_events.for_sale());
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
    fn a_search_looks_at_a_bounded_number_of_tickets_per_page() {
        let mut index = Index::default();
        for i in 0..(2 * WORD_CANDIDATES + 4) {
            let title = if i % 2 == 0 { "Gig" } else { "Night" };
            index.apply(&TicketEvent::from(&ticket(&format!("{title} {i}"))));
        }
        index.apply(&TicketEvent::from(&ticket("Gig night")));
        // Both words are common, together they are rare (only at the very
        // end): the first pages come back empty but with a cursor.
        let mut pages = 0;
        let mut cursor = None;
        let found = loop {
            let page = index.page(&query(cursor, 10, "gig nig"));
            pages += 1;
            if !page.tickets.is_empty() {
                break page;
            }
            cursor = Some(page.next.expect("a cursor to go on from"));
            assert!(pages < 10, "the walk does not end");
        };
        assert_eq!(titles(&found), ["Gig night"]);
        assert!(
            pages >= 3,
            "each page looked at most {WORD_CANDIDATES} tickets"
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
