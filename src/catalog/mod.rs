//! The catalog: every node's view of all tickets, built from the
//! TicketCreated/TicketUpdated events of every node (its own from its
//! store, its peers' read by `follow`), so
//! listing tickets needs no fan-out; [`index`] pages and searches it.
//! Events are applied in version order; stale and repeated ones are ignored.
//! Each change applied also goes to the [`changes`] feed that live streams
//! follow.

mod changes;
mod index;

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    sync::{
        mpsc::{self, RecvTimeoutError},
        Arc, RwLock,
    },
    time::Duration,
};

pub(crate) use changes::{Changes, Next, Subscription};
pub(crate) use index::{words, Page, Query};

use crate::{
    domain::{Event, EventKind, TicketEvent, TicketId},
    records::{self, CatalogImage},
};

/// The events of this node's log after which a serving node writes its
/// image again: a start after a crash applies at most about this many,
/// plus what came while the last image was written.
pub(crate) const IMAGE_AFTER_EVENTS: u64 = 100_000;
/// Tickets for sale copied per hold of the lock while an image is taken.
const IMAGE_SLICE: usize = 4_096;
/// How often a serving node looks whether its image is due.
#[cfg(not(test))]
const IMAGE_CHECK: Duration = Duration::from_secs(5);
#[cfg(test)]
const IMAGE_CHECK: Duration = Duration::from_millis(20);

/// The thread that keeps the catalog's image recent; stopped when dropped.
pub(crate) struct ImageKeeper {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ImageKeeper {
    /// Stops the thread, waiting for an image being written.
    pub(crate) fn stop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ImageKeeper {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A catalog image read from disk and indexed, not yet checked against the
/// store (see [`Catalog::adopt`]).
pub(crate) struct Image {
    log_id: u64,
    last_seq: u64,
    tickets: u64,
    index: index::Index,
}

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
    /// covers at least: every event up to `last_seq` must have been applied
    /// before the call (a later one may be in too). A start loads it and
    /// applies the events after that position from the store, instead of
    /// reading every ticket: seconds at 1,000,000 tickets. Written while
    /// serving too (every [`IMAGE_AFTER_EVENTS`]), so a start after a crash
    /// has a recent one. Peers' tickets are left out: their logs are read
    /// again after a start anyway, and a peer whose log was replaced
    /// meanwhile would otherwise leave tickets it no longer has.
    pub(crate) fn save(
        &self,
        path: &Path,
        log_id: u64,
        last_seq: u64,
        own: impl Fn(TicketId) -> bool,
    ) -> std::io::Result<()> {
        let (for_sale, others) = self.image(own);
        let mut bytes = records::encode(&CatalogImage {
            log_id,
            last_seq,
            for_sale,
            others,
        });
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        // Whole or not at all: written aside, then renamed. Not synced:
        // one cut short by a power loss fails its checksum, and the start
        // reads the store instead; syncing tens of MB while a rush syncs
        // its journal slowed the rush (docs/BENCHMARKS.md, session 11).
        let aside = path.with_extension("partial");
        let mut file = std::fs::File::create(&aside)?;
        file.write_all(&bytes)?;
        std::fs::rename(&aside, path)
    }

    /// The `own` tickets for sale as pages show them, in order, and the
    /// version of every other one, each as new as when the call began or
    /// newer. The writer applies each batch here before answering, so the
    /// lock is held briefly: once to copy the versions (an id and a number
    /// per ticket, ≈ 16 MB at 1,000,000), then per slice of listings.
    fn image(&self, own: impl Fn(TicketId) -> bool) -> (Vec<TicketEvent>, Vec<(TicketId, u64)>) {
        let read = || self.index.read().unwrap_or_else(|p| p.into_inner());
        let versions = read().versions();
        let mut for_sale = Vec::new();
        let mut after = None;
        loop {
            let slice = read().for_sale_after(after, IMAGE_SLICE);
            let Some(last) = slice.last() else { break };
            after = Some(last.id);
            for_sale.extend(slice.into_iter().filter(|t| own(t.id)));
        }
        // A ticket put up for sale after `versions` was taken is listed,
        // one sold meanwhile is not: each shows up once, either way.
        let others = versions
            .into_iter()
            .filter(|(id, _)| own(*id) && for_sale.binary_search_by_key(id, |t| t.id).is_err())
            .collect();
        (for_sale, others)
    }

    /// Reads and indexes what [`Catalog::save`] wrote to `path`. It needs
    /// nothing from the store, so a start does it while the store opens;
    /// [`Catalog::adopt`] then decides whether it is used.
    pub(crate) fn read_image(path: &Path) -> Option<Image> {
        // What a stop cut off while saving left behind.
        let _ = std::fs::remove_file(path.with_extension("partial"));
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "catalog image not read");
                return None;
            }
        };
        let image = bytes
            .split_last_chunk::<4>()
            .filter(|(body, crc)| crc32fast::hash(body) == u32::from_le_bytes(**crc))
            .ok_or_else(|| "checksum mismatch".to_owned())
            .and_then(|(body, _)| records::decode::<CatalogImage>(body).map_err(|e| e.to_string()));
        let image = match image {
            Ok(image) => image,
            Err(e) => {
                tracing::warn!(error = %e, "catalog image unreadable; reading the store");
                return None;
            }
        };
        Some(Image {
            log_id: image.log_id,
            last_seq: image.last_seq,
            tickets: (image.for_sale.len() + image.others.len()) as u64,
            index: index::Index::of_image(image.for_sale, image.others),
        })
    }

    /// Fills a catalog that has applied nothing yet from `image`, if it was
    /// taken from the store's event log `log_id` at or before its position
    /// `last_seq`, and not so far before that reading the store would be
    /// quicker. Returns the image's position: the events after it must go
    /// to [`Catalog::catch_up`].
    pub(crate) fn adopt(&self, image: Image, log_id: u64, last_seq: u64) -> Option<u64> {
        if image.log_id != log_id || image.last_seq > last_seq {
            tracing::info!("catalog image of another event log or ahead of it; reading the store");
            return None;
        }
        if last_seq - image.last_seq > image.tickets.max(IMAGE_AFTER_EVENTS) {
            tracing::info!("catalog image far behind the store; reading the store");
            return None;
        }
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        debug_assert_eq!(index.len(), 0, "adopted before anything is applied");
        *index = image.index;
        Some(image.last_seq)
    }

    /// Applies the events of this node's own log that came after an image,
    /// at a start: like [`Catalog::restore`], without feeding live streams.
    pub(crate) fn catch_up<'a>(&self, events: impl IntoIterator<Item = &'a Event>) {
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        for event in events {
            if let EventKind::TicketCreated(t) | EventKind::TicketUpdated(t) = &event.kind {
                index.apply(t);
            }
        }
    }

    /// Writes the image to `path` again, on a thread of its own, each time
    /// this node's log (`position`, whose events are all applied here) has
    /// moved [`IMAGE_AFTER_EVENTS`] past the last one (at `imaged` when it
    /// starts): the image a start after a crash finds is that recent.
    /// Until the keeper is stopped.
    pub(crate) fn keep_image(
        &self,
        path: PathBuf,
        log_id: u64,
        imaged: u64,
        position: impl Fn() -> u64 + Send + 'static,
        own: impl Fn(TicketId) -> bool + Send + 'static,
    ) -> std::io::Result<ImageKeeper> {
        let catalog = self.clone();
        let (stop, stopped) = mpsc::channel::<()>();
        let mut saved = imaged;
        let thread = std::thread::Builder::new()
            .name("catalog-image".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(IMAGE_CHECK) {
                    let now = position();
                    if now < saved + IMAGE_AFTER_EVENTS {
                        continue;
                    }
                    let started = std::time::Instant::now();
                    match catalog.save(&path, log_id, now, &own) {
                        Ok(()) => {
                            saved = now;
                            tracing::info!(
                                position = now,
                                elapsed_ms = started.elapsed().as_millis() as u64,
                                "catalog image written"
                            );
                        }
                        Err(e) => tracing::warn!(error = %e, "catalog image not written"),
                    }
                }
            })?;
        Ok(ImageKeeper {
            stop: Some(stop),
            thread: Some(thread),
        })
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
    fn an_image_loads_at_or_before_the_store_and_catches_up_with_its_log() {
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
        assert_eq!(loaded.load(&path, 7, 42), Some(42));
        assert_eq!(loaded.page(&search).tickets, c.page(&search).tickets);
        assert_eq!((loaded.len(), loaded.for_sale()), (3, 2));
        // The held ticket's version came along: its stale listing is ignored.
        let order = held.order_id().unwrap();
        held.release(order);
        let mut stale = TicketEvent::from(&held);
        stale.version -= 2;
        assert!(!loaded.apply(&EventKind::TicketUpdated(stale)));

        // The store moved on (a crash after the image): the image stays
        // valid, and the log after it brings the catalog up to date.
        assert!(path.exists(), "kept for the next start");
        let event = |seq, kind| Event {
            seq,
            at: crate::domain::Timestamp::from_millis(1),
            kind,
        };
        let fresh = Ticket::new(
            Title::parse("Folk night").unwrap(),
            Price::from_cents(5).unwrap(),
            UserId::new(),
        );
        let after = [
            event(43, EventKind::TicketUpdated(TicketEvent::from(&held))),
            event(44, EventKind::TicketCreated(TicketEvent::from(&fresh))),
        ];
        let behind = Catalog::default();
        assert_eq!(behind.load(&path, 7, 44), Some(42));
        behind.catch_up(&after);
        for e in &after {
            c.apply(&e.kind);
        }
        let everything = Query {
            limit: 10,
            ..Query::default()
        };
        assert_eq!(
            behind.page(&everything).tickets,
            c.page(&everything).tickets
        );
        assert_eq!((behind.len(), behind.for_sale()), (4, 4));

        // Only what `own` picks goes in: a peer's tickets come from its log.
        c.save(&path, 7, 44, |id| id == held.id).unwrap();
        let own = Catalog::default();
        assert_eq!(own.load(&path, 7, 44), Some(44));
        assert_eq!((own.len(), own.for_sale()), (1, 1));

        c.save(&path, 7, 44, |_| true).unwrap();
        assert_eq!(
            Catalog::default().load(&path, 7, 43),
            None,
            "ahead of the store"
        );
        assert_eq!(
            Catalog::default().load(&path, 8, 44),
            None,
            "another event log"
        );
        let far = 44 + IMAGE_AFTER_EVENTS + 1;
        assert_eq!(
            Catalog::default().load(&path, 7, far),
            None,
            "reading the store is quicker"
        );
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        // And a stop cut off while saving the next one.
        std::fs::write(path.with_extension("partial"), b"cut off").unwrap();
        let damaged = Catalog::default();
        assert_eq!(damaged.load(&path, 7, 44), None, "damage is caught");
        assert_eq!(damaged.len(), 0);
        assert!(!path.with_extension("partial").exists(), "leftovers go");
    }

    impl Catalog {
        /// Reads the image at `path` and adopts it, as a start does.
        fn load(&self, path: &Path, log_id: u64, last_seq: u64) -> Option<u64> {
            Catalog::read_image(path).and_then(|image| self.adopt(image, log_id, last_seq))
        }
    }

    #[test]
    fn a_serving_catalog_writes_its_image_once_its_log_has_moved_far_enough() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.image");
        let c = Catalog::default();
        let t = Ticket::new(
            Title::parse("Opera").unwrap(),
            Price::from_cents(5).unwrap(),
            UserId::new(),
        );
        c.apply(&EventKind::TicketCreated(TicketEvent::from(&t)));
        let position = Arc::new(AtomicU64::new(10 + IMAGE_AFTER_EVENTS - 1));
        let at = position.clone();
        let mut keeper = c
            .keep_image(
                path.clone(),
                7,
                10,
                move || at.load(Ordering::SeqCst),
                |_| true,
            )
            .unwrap();
        std::thread::sleep(IMAGE_CHECK * 5);
        assert!(!path.exists(), "not due yet");
        position.store(10 + IMAGE_AFTER_EVENTS, Ordering::SeqCst);
        for _ in 0..500 {
            if path.exists() {
                break;
            }
            std::thread::sleep(IMAGE_CHECK);
        }
        assert!(path.exists(), "written once due");
        keeper.stop();
        let loaded = Catalog::default();
        assert_eq!(
            loaded.load(&path, 7, 10 + IMAGE_AFTER_EVENTS),
            Some(10 + IMAGE_AFTER_EVENTS)
        );
        assert_eq!(loaded.for_sale(), 1);
    }
}
