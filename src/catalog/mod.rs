//! The catalog: every node's view of all tickets, built from the
//! TicketCreated/TicketUpdated events of every node (read by `follow`), so
//! listing tickets needs no fan-out; [`index`] pages and searches it.
//! Events are applied in version order; stale and repeated ones are ignored.
//! Each change applied also goes to the [`changes`] feed that live streams
//! follow.

mod changes;
mod index;

use std::{
    io::Write as _,
    path::Path,
    sync::{Arc, RwLock},
};

pub(crate) use changes::{Changes, Next, Subscription};
pub(crate) use index::{words, Page, Query};

use crate::{
    domain::{Event, EventKind, TicketEvent, TicketId},
    records::{self, CatalogImage},
};

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

    /// Fills a catalog that has applied nothing yet with tickets, each
    /// in its latest state (a node's own, from its store at start), in
    /// bulk and without feeding live streams: they are not changes. Each
    /// of `parts` (no ticket in two) is read on a thread of its own.
    pub(crate) fn restore<E, I>(&self, parts: impl IntoIterator<Item = I>) -> Result<(), E>
    where
        E: Send,
        I: Iterator<Item = Result<TicketEvent, E>> + Send,
    {
        let restored = std::thread::scope(|s| {
            let built: Vec<_> = parts
                .into_iter()
                .map(|part| s.spawn(|| index::Index::of(part)))
                .collect();
            built
                .into_iter()
                .try_fold(index::Index::default(), |all, part| {
                    let part = part
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
                    Ok(all.join(part))
                })
        })?;
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        debug_assert_eq!(index.len(), 0, "restored before anything is applied");
        *index = restored;
        Ok(())
    }

    /// Writes what the catalog holds of this node's own tickets (`own`) to
    /// `path`, stamped with the position of this node's event log it
    /// reflects (at a clean stop, once the store is closed). A start whose
    /// log is still there loads it instead of reading every ticket from the
    /// store: seconds at 1,000,000 tickets. Peers' tickets are left out:
    /// their logs are read again after a start anyway, and a peer whose log
    /// was replaced meanwhile would otherwise leave tickets it no longer has.
    pub(crate) fn save(
        &self,
        path: &Path,
        log_id: u64,
        last_seq: u64,
        own: impl Fn(TicketId) -> bool,
    ) -> std::io::Result<()> {
        let (for_sale, others) = self
            .index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .image(own);
        let mut bytes = records::encode(&CatalogImage {
            log_id,
            last_seq,
            for_sale,
            others,
        });
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        // Whole or not at all: written aside, synced, then renamed.
        let aside = path.with_extension("partial");
        let mut file = std::fs::File::create(&aside)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&aside, path)
    }

    /// Fills a catalog that has applied nothing yet from what [`Catalog::save`]
    /// wrote to `path`, if it was taken at the store's event log position
    /// `(log_id, last_seq)`: the store then holds exactly the tickets it
    /// shows. Returns whether it did; the file is removed either way (after
    /// the next write it would be stale).
    pub(crate) fn load(&self, path: &Path, log_id: u64, last_seq: u64) -> bool {
        // What a stop cut off while saving left behind.
        let _ = std::fs::remove_file(path.with_extension("partial"));
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return false,
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "catalog image not read");
                return false;
            }
        };
        if let Err(e) = std::fs::remove_file(path) {
            // Left in place, it could be loaded over newer tickets later.
            tracing::warn!(error = %e, path = %path.display(), "catalog image not removed; not used");
            return false;
        }
        let image = bytes
            .split_last_chunk::<4>()
            .filter(|(body, crc)| crc32fast::hash(body) == u32::from_le_bytes(**crc))
            .ok_or_else(|| "checksum mismatch".to_owned())
            .and_then(|(body, _)| records::decode::<CatalogImage>(body).map_err(|e| e.to_string()));
        match image {
            Ok(image) if (image.log_id, image.last_seq) == (log_id, last_seq) => {
                let loaded = index::Index::of_image(image.for_sale, image.others);
                let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
                debug_assert_eq!(index.len(), 0, "loaded before anything is applied");
                *index = loaded;
                true
            }
            Ok(_) => {
                tracing::info!("catalog image older than the store; reading the store");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "catalog image unreadable; reading the store");
                false
            }
        }
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

    #[test]
    fn a_restore_from_parts_shows_what_applying_them_shows() {
        let applied = Catalog::default();
        let mut tickets = Vec::new();
        for i in 0..9 {
            let mut t = Ticket::new(
                Title::parse(&format!("Row {} seat {i}", i % 3)).unwrap(),
                Price::from_cents(5).unwrap(),
                UserId::new(),
            );
            if i % 4 == 0 {
                t.hold(OrderId::for_ticket(t.id)).unwrap();
            }
            let t = TicketEvent::from(&t);
            applied.apply(&EventKind::TicketCreated(t.clone()));
            tickets.push(t);
        }
        let (first, second) = tickets.split_at(4);
        let restored = Catalog::default();
        restored
            .restore::<(), _>([second, first].map(|part| part.iter().cloned().map(Ok)))
            .unwrap();
        for q in ["", "row", "row 1", "seat 7"] {
            let query = Query {
                limit: 20,
                words: words(q).collect(),
                ..Query::default()
            };
            assert_eq!(
                restored.page(&query).tickets,
                applied.page(&query).tickets,
                "{q:?}"
            );
        }
        assert_eq!(
            (restored.len(), restored.for_sale()),
            (applied.len(), applied.for_sale())
        );
        assert_eq!(restored.for_sale(), 6);
    }

    #[test]
    fn an_image_loads_once_and_only_at_the_position_it_was_taken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.image");
        let c = Catalog::default();
        let mut held = Ticket::new(
            Title::parse("Held seat").unwrap(),
            Price::from_cents(1).unwrap(),
            UserId::new(),
        );
        for title in ["Rock night", "Jazz night"] {
            let t = Ticket::new(
                Title::parse(title).unwrap(),
                Price::from_cents(5).unwrap(),
                UserId::new(),
            );
            c.apply(&EventKind::TicketCreated(TicketEvent::from(&t)));
        }
        c.apply(&EventKind::TicketCreated(TicketEvent::from(&held)));
        held.hold(OrderId::for_ticket(held.id)).unwrap();
        c.apply(&EventKind::TicketUpdated(TicketEvent::from(&held)));
        let search = Query {
            limit: 10,
            words: words("night").collect(),
            ..Query::default()
        };

        c.save(&path, 7, 42, |_| true).unwrap();
        let loaded = Catalog::default();
        assert!(loaded.load(&path, 7, 42));
        assert_eq!(loaded.page(&search).tickets, c.page(&search).tickets);
        assert_eq!((loaded.len(), loaded.for_sale()), (3, 2));
        // The held ticket's version came along: its stale listing is ignored.
        held.release(held.order_id().unwrap());
        let mut stale = TicketEvent::from(&held);
        stale.version -= 2;
        assert!(!loaded.apply(&EventKind::TicketUpdated(stale)));
        assert!(!path.exists(), "used once");

        // Only what `own` picks goes in: a peer's tickets come from its log.
        c.save(&path, 7, 42, |id| id == held.id).unwrap();
        let own = Catalog::default();
        assert!(own.load(&path, 7, 42));
        assert_eq!((own.len(), own.for_sale()), (1, 0));

        c.save(&path, 7, 42, |_| true).unwrap();
        assert!(!Catalog::default().load(&path, 7, 43), "the store moved on");
        c.save(&path, 7, 42, |_| true).unwrap();
        assert!(!Catalog::default().load(&path, 8, 42), "another event log");
        c.save(&path, 7, 42, |_| true).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        // And a stop cut off while saving the next one.
        std::fs::write(path.with_extension("partial"), b"cut off").unwrap();
        let damaged = Catalog::default();
        assert!(!damaged.load(&path, 7, 42), "damage is caught");
        assert_eq!(damaged.len(), 0);
        assert!(!path.exists());
        assert!(!path.with_extension("partial").exists(), "leftovers go");
    }
}
