//! The two sled databases the trees are split across, opened together.
//!
//! sled 0.34 writes its snapshot only when it opens, so an open after a
//! crash reads back every log segment written since the one before: 3.7 s
//! of one core after a rush of 1,000,000 holds (docs/BENCHMARKS.md,
//! session 11). Each database has its own log, read back on its own
//! thread, so the two are kept about the same size: the tickets, the
//! event log, its index of session events and the idempotency keys go to
//! `sled-log` (named when it held only the log); the orders, their
//! indexes, the accounts and the counts stay in `sled`. Nothing depends on
//! a write reaching both at once: the journal completes whole batches in
//! both after a crash, and only a flush of both lets its segments go.

use std::{path::Path, thread, time::Duration};

use super::StoreError;

/// The trees kept in the second database.
const SECOND_TREES: [&str; 4] = ["tickets", "events", "session_events", "idempotency"];
const MAIN_DIR: &str = "sled";
const SECOND_DIR: &str = "sled-log";

/// Which database a tree is in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Part {
    Main,
    Second,
}

impl Part {
    /// The database that holds the tree `name`.
    pub(super) fn of(name: &[u8]) -> Self {
        if SECOND_TREES.iter().any(|t| t.as_bytes() == name) {
            Self::Second
        } else {
            Self::Main
        }
    }
}

/// Both databases; clones share them.
#[derive(Clone)]
pub(super) struct Databases {
    main: sled::Db,
    second: sled::Db,
}

impl Databases {
    /// Opens (or creates) both under `dir`, each read back on a thread of
    /// its own, with `cache_bytes` of page cache between them. A data dir
    /// from before a tree's move to the second has it moved over, once.
    pub(super) fn open(dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        let (main, second) = open_both(dir, cache_bytes)?;
        let dbs = Self { main, second };
        dbs.move_trees()?;
        Ok(dbs)
    }

    /// Opens both once more and closes them: for a clean stop, once every
    /// handle on the store is gone (see [`super::Store::checkpoint`]).
    pub(super) fn checkpoint(dir: &Path, cache_bytes: u64) -> Result<(), StoreError> {
        let (main, second) = open_both(dir, cache_bytes)?;
        drop((main, second));
        Ok(())
    }

    /// The database that holds the tree `name`.
    fn of(&self, name: &[u8]) -> &sled::Db {
        match Part::of(name) {
            Part::Main => &self.main,
            Part::Second => &self.second,
        }
    }

    pub(super) fn open_tree(&self, name: impl AsRef<[u8]>) -> Result<sled::Tree, StoreError> {
        let name = name.as_ref();
        Ok(self.of(name).open_tree(name)?)
    }

    /// The database of the records, for what looks at its tree names.
    pub(super) fn main(&self) -> &sled::Db {
        &self.main
    }

    /// Puts every write made to either before the call on disk.
    pub(super) fn flush(&self) -> Result<(), StoreError> {
        self.main.flush()?;
        self.second.flush()?;
        Ok(())
    }

    /// Older data dirs hold some of the second's trees in `sled`:
    /// copied over, made durable, and only then dropped there. A crash in
    /// between copies them again at the next open, over the same values:
    /// nothing is written to them before this has finished.
    fn move_trees(&self) -> Result<(), StoreError> {
        let names = self.main.tree_names();
        for name in SECOND_TREES {
            if !names.iter().any(|n| n.as_ref() == name.as_bytes()) {
                continue;
            }
            let old = self.main.open_tree(name)?;
            let new = self.second.open_tree(name)?;
            let mut moved = 0u64;
            for entry in old.iter() {
                let (key, value) = entry?;
                new.insert(key, value)?;
                moved += 1;
            }
            self.second.flush()?;
            drop(old);
            self.main.drop_tree(name)?;
            self.main.flush()?;
            tracing::info!(tree = name, records = moved, "moved to {SECOND_DIR}");
        }
        Ok(())
    }
}

/// Opens both databases, each on its own thread.
fn open_both(dir: &Path, cache_bytes: u64) -> Result<(sled::Db, sled::Db), StoreError> {
    // Tickets are read at every start of their actor, orders and accounts
    // as often: an even split.
    let second_cache = cache_bytes / 2;
    thread::scope(|s| {
        let main = s.spawn(|| open_one(&dir.join(MAIN_DIR), cache_bytes - second_cache));
        let second = open_one(&dir.join(SECOND_DIR), second_cache);
        let main = main.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        Ok((main?, second?))
    })
}

fn open_one(path: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    let started = std::time::Instant::now();
    let db = open_when_free(path, cache_bytes)?;
    tracing::info!(
        db = %path.display(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "sled opened"
    );
    Ok(db)
}

fn open_when_free(path: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    // sled's own threads may still hold its lock file for a moment after
    // the last handle went (a checkpoint right after the store closed, a
    // test reopening). sled takes the lock before it reads anything, and
    // says so only in its message; any other error comes after a whole
    // read of its log, not worth repeating.
    let locked = |e: &std::io::Error| e.to_string().starts_with("could not acquire lock");
    let mut tries = 0;
    loop {
        match config(path, cache_bytes).open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e)) if locked(&e) && tries < 40 => {
                tracing::debug!(error = %e, "sled not released yet");
                tries += 1;
                thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn config(path: &Path, cache_bytes: u64) -> sled::Config {
    sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
        // The journal makes writes durable; sled is flushed only to let
        // journal segments go.
        .flush_every_ms(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_data_dir_has_the_second_databases_trees_moved_once() {
        let dir = tempfile::tempdir().unwrap();
        {
            let old = sled::open(dir.path().join(MAIN_DIR)).unwrap();
            old.open_tree("events")
                .unwrap()
                .insert(b"1", b"e1")
                .unwrap();
            old.open_tree("user_orders")
                .unwrap()
                .insert(b"u", b"")
                .unwrap();
            old.open_tree("tickets")
                .unwrap()
                .insert(b"t", b"t1")
                .unwrap();
            old.open_tree("idempotency")
                .unwrap()
                .insert(b"k", b"o1")
                .unwrap();
            old.flush().unwrap();
        }
        let dbs = Databases::open(dir.path(), 1 << 20).unwrap();
        let events = dbs.open_tree("events").unwrap();
        assert_eq!(events.get(b"1").unwrap().as_deref(), Some(&b"e1"[..]));
        assert!(
            dbs.main
                .open_tree("user_orders")
                .unwrap()
                .contains_key(b"u")
                .unwrap(),
            "the orders' index stays"
        );
        let tickets = dbs.second.open_tree("tickets").unwrap();
        assert_eq!(tickets.get(b"t").unwrap().as_deref(), Some(&b"t1"[..]));
        let main_names = dbs.main.tree_names();
        for moved in ["events", "idempotency", "tickets"] {
            assert!(!main_names.iter().any(|n| n.as_ref() == moved.as_bytes()));
        }
        let keys = dbs.second.open_tree("idempotency").unwrap();
        assert_eq!(keys.get(b"k").unwrap().as_deref(), Some(&b"o1"[..]));
        // Written to in its new place, then opened again: not moved twice.
        events.insert(b"2", b"e2").unwrap();
        dbs.flush().unwrap();
        drop((events, keys, tickets, dbs));
        let dbs = Databases::open(dir.path(), 1 << 20).unwrap();
        let events = dbs.open_tree("events").unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(dbs.second.open_tree("events").unwrap().len(), 2);
    }

    #[test]
    fn the_tickets_of_the_release_before_move_beside_its_log() {
        let dir = tempfile::tempdir().unwrap();
        {
            let second = sled::open(dir.path().join(SECOND_DIR)).unwrap();
            let events = second.open_tree("events").unwrap();
            events.insert(b"1", b"e1").unwrap();
            second.flush().unwrap();
            let main = sled::open(dir.path().join(MAIN_DIR)).unwrap();
            let tickets = main.open_tree("tickets").unwrap();
            tickets.insert(b"t", b"t1").unwrap();
            main.open_tree("orders")
                .unwrap()
                .insert(b"o", b"o1")
                .unwrap();
            main.flush().unwrap();
        }
        let dbs = Databases::open(dir.path(), 1 << 20).unwrap();
        let tickets = dbs.second.open_tree("tickets").unwrap();
        assert_eq!(tickets.get(b"t").unwrap().as_deref(), Some(&b"t1"[..]));
        let events = dbs.second.open_tree("events").unwrap();
        assert_eq!(events.get(b"1").unwrap().as_deref(), Some(&b"e1"[..]));
        assert_eq!(events.len(), 1);
        let orders = dbs.main.open_tree("orders").unwrap();
        assert_eq!(orders.get(b"o").unwrap().as_deref(), Some(&b"o1"[..]));
        assert!(!dbs
            .main
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == b"tickets"));
    }
}
