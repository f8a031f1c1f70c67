//! The one writer: many writes, one batch, on disk before anyone sees it.
//!
//! sled rolls and writes out its log buffer around every transaction (on
//! its thread pool, waking every idle pool thread), so a transaction per
//! BUY cost about thirty context switches. Writes are therefore queued to
//! one thread, which takes whatever has queued up, runs each write's body
//! against an overlay of the batch's changes, writes the batch to the
//! journal and syncs it, then applies it to sled and answers every write
//! in it. A body that aborts has its changes undone in the overlay; the
//! others still commit. Being the only writer of every key a body touches
//! (only bookkeeping in `meta` is written outside it), the thread takes no
//! sled locks around a body: what it reads (the overlay over the trees) is
//! the whole truth. Whatever sled holds is therefore already on disk, so
//! reads wait for nothing.

use std::{
    collections::HashMap,
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc, Arc, OnceLock, RwLock, RwLockReadGuard,
    },
    time::Instant,
};

use sled::IVec;
use tokio::sync::oneshot;

use super::{
    events,
    journal::{AppendError, Changes, Journal},
    StoreError, Tx, TxResult, T, TREE_NAMES,
};
use crate::domain::{Event, Timestamp};
use crate::metrics as m;

/// Most writes in one batch; more wait for the next.
const MAX_BATCH: usize = 1024;
/// Most events in one entry of the log: sled keeps 16 entries to a leaf
/// and writes a leaf whole every few changes, so entries stay a few KiB.
const EVENT_RUN: usize = 32;

/// Told of every event once it is on disk (the local catalog uses this).
pub(crate) type Observer = Box<dyn Fn(&Event) + Send + Sync>;

/// What the writer thread is sent.
pub(super) enum Msg {
    Write(Box<dyn Job>),
    /// Refuse every later write, empty the journal into sled, then answer
    /// (the store is closing).
    Close(oneshot::Sender<Result<(), StoreError>>),
}

/// A queued write: its body, and the caller waiting for its answer.
pub(super) trait Job: Send {
    /// Runs the body once against the batch so far; `false` if it aborted
    /// (its changes are then undone).
    fn run(&mut self, tx: &mut Tx<'_>) -> bool;
    /// Answers the caller once the batch is on disk (its body's outcome,
    /// kept or refused) or failed (for every body: a refusal may rest on a
    /// batch-mate's change that was never written).
    fn finish(self: Box<Self>, batch: Result<(), StoreError>);
}

/// A body with its reply port.
pub(super) struct Pending<F, R> {
    pub(super) body: Option<F>,
    pub(super) outcome: Option<Result<R, StoreError>>,
    pub(super) reply: oneshot::Sender<Result<TxResult<R>, StoreError>>,
}

impl<F, R> Job for Pending<F, R>
where
    F: FnOnce(&mut Tx<'_>) -> TxResult<R> + Send,
    R: Send,
{
    fn run(&mut self, tx: &mut Tx<'_>) -> bool {
        let Some(body) = self.body.take() else {
            return false;
        };
        // A panicking body is a bug; it must not take the writer down.
        let outcome = catch_unwind(AssertUnwindSafe(|| body(tx))).unwrap_or_else(|_| {
            Err(StoreError::Corrupt(
                "a write panicked; its changes were undone".into(),
            ))
        });
        let kept = outcome.is_ok();
        self.outcome = Some(outcome);
        kept
    }

    fn finish(self: Box<Self>, batch: Result<(), StoreError>) {
        let answer = match (self.outcome, batch) {
            (Some(outcome), Ok(())) => Ok(outcome),
            (_, Err(e)) => Err(e),
            (None, Ok(_)) => Err(StoreError::Flush("the write was not run".into())),
        };
        let _ = self.reply.send(answer);
    }
}

/// Changes of the batch in progress, by tree: `None` is a removal.
#[derive(Default)]
pub(super) struct Overlay {
    trees: [HashMap<Vec<u8>, Option<IVec>>; TREE_NAMES.len()],
}

/// One change a body made, to be undone if the body aborts: the overlay's
/// entry for the key before it.
pub(super) type Undo = (T, Vec<u8>, Option<Option<IVec>>);

impl Overlay {
    /// The value of `key` as the batch sees it: `Some(None)` if removed,
    /// `None` if the batch has not touched it.
    pub(super) fn get(&self, t: T, key: &[u8]) -> Option<Option<IVec>> {
        self.trees[t as usize].get(key).cloned()
    }

    pub(super) fn set(&mut self, t: T, key: &[u8], value: Option<IVec>) -> Undo {
        let before = self.trees[t as usize].insert(key.to_vec(), value);
        (t, key.to_vec(), before)
    }

    pub(super) fn undo(&mut self, changes: Vec<Undo>) {
        for (t, key, before) in changes.into_iter().rev() {
            let tree = &mut self.trees[t as usize];
            match before {
                Some(value) => tree.insert(key, value),
                None => tree.remove(&key),
            };
        }
    }

    fn is_empty(&self) -> bool {
        self.trees.iter().all(HashMap::is_empty)
    }

    /// Empties it, keeping its maps' room for the next batch.
    fn clear(&mut self) {
        self.trees.iter_mut().for_each(HashMap::clear);
    }

    /// The batch's changes, for the journal.
    fn changes(&self) -> Changes<'_> {
        TREE_NAMES
            .iter()
            .zip(&self.trees)
            .filter(|(_, changes)| !changes.is_empty())
            .map(|(name, changes)| {
                let entries = changes
                    .iter()
                    .map(|(key, value)| (key.as_slice(), value.as_ref()))
                    .collect();
                (*name, entries)
            })
            .collect()
    }
}

/// What the writer has put on disk and into sled, as readers see it.
pub(super) struct Committed {
    /// The last event number applied; every event up to it is on disk.
    last_seq: AtomicU64,
    observer: OnceLock<Observer>,
    closed: AtomicBool,
    /// Held for writing while a batch goes into sled, so that a read of
    /// several keys (an index, then its records) sees each batch whole or
    /// not at all.
    applying: RwLock<()>,
}

impl Committed {
    pub(super) fn new(last_seq: u64) -> Self {
        Self {
            last_seq: AtomicU64::new(last_seq),
            observer: OnceLock::new(),
            closed: AtomicBool::new(false),
            applying: RwLock::new(()),
        }
    }

    pub(super) fn observe(&self, observer: Observer) {
        let _ = self.observer.set(observer);
    }

    /// The highest event sequence number that is on disk.
    pub(super) fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::Acquire)
    }

    /// Keeps the writer from applying a batch while held.
    pub(super) fn whole_batches(&self) -> RwLockReadGuard<'_, ()> {
        self.applying.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// What the writer thread owns.
pub(super) struct Writer {
    pub(super) trees: Vec<sled::Tree>,
    pub(super) journal: Journal,
    pub(super) committed: Arc<Committed>,
    /// Empty between batches.
    pub(super) overlay: Overlay,
    /// The last event sequence number written: numbers are gap-free and in
    /// commit order (readers tail by `after=N`).
    pub(super) last_seq: u64,
}

impl Writer {
    /// Serves writes until every sender is gone.
    pub(super) fn run(mut self, queue: mpsc::Receiver<Msg>) {
        let mut batch: Vec<Box<dyn Job>> = Vec::new();
        while let Ok(first) = queue.recv() {
            let mut close = None;
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Write(job) => batch.push(job),
                    Msg::Close(done) => {
                        // Writes queued before the close still commit.
                        close = Some(done);
                        break;
                    }
                }
                if batch.len() < MAX_BATCH {
                    next = queue.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                let jobs = std::mem::take(&mut batch);
                // Bodies' panics are caught in `run`; one here is the
                // writer's own. A node that can no longer write, or whose
                // committed events would never be published, must not keep
                // serving: stop it, and a restart recovers from disk.
                if catch_unwind(AssertUnwindSafe(|| self.commit(jobs))).is_err() {
                    stop("the store's writer failed");
                }
            }
            if let Some(done) = close {
                self.committed.closed.store(true, Ordering::Release);
                let _ = done.send(self.journal.close());
            }
        }
    }

    fn commit(&mut self, mut jobs: Vec<Box<dyn Job>>) {
        if self.committed.is_closed() {
            // After close a write could never reach disk: refuse it (a 503).
            for job in jobs {
                job.finish(Err(StoreError::Flush("the node is shutting down".into())));
            }
            return;
        }
        // The last batch's maps, emptied: a batch's maps grown from
        // nothing rehashed a few times per batch (1 % of a BUY).
        let mut overlay = std::mem::take(&mut self.overlay);
        let mut events: Vec<Event> = Vec::new();
        let mut next_seq = self.last_seq + 1;
        for job in &mut jobs {
            let mut tx = Tx {
                trees: &self.trees,
                overlay: &mut overlay,
                next_seq,
                at: Timestamp::now(),
                emitted: Vec::new(),
                undo: Vec::new(),
            };
            let kept = job.run(&mut tx);
            let Tx {
                next_seq: after,
                emitted,
                undo,
                ..
            } = tx;
            if kept {
                next_seq = after;
                events.extend(emitted);
            } else {
                overlay.undo(undo);
            }
        }
        for run in events.chunks(EVENT_RUN) {
            events::log_run(&mut overlay, run);
        }
        if !overlay.is_empty() {
            let started = Instant::now();
            match self.journal.append(&overlay.changes()) {
                Ok(()) => {}
                Err(AppendError::NotWritten(e)) => {
                    let message = format!("writing the journal: {e}");
                    tracing::error!(error = %e, "writing the journal failed; the batch is refused");
                    for job in jobs {
                        job.finish(Err(StoreError::Flush(message.clone())));
                    }
                    return;
                }
                // A batch that may be on disk cannot be refused, nor
                // applied: a restart replays it if it is there.
                Err(AppendError::Unknown(e)) => {
                    tracing::error!(error = %e, "syncing the journal failed");
                    stop("the journal could not be synced");
                }
            }
            metrics::histogram!(m::FLUSH_SECONDS).record(started.elapsed().as_secs_f64());
            metrics::histogram!(m::COMMIT_BATCH).record(jobs.len() as f64);
            if let Err(e) = self.apply(&overlay) {
                // On disk in the journal but not in sled: a restart
                // finishes it; serving on would show sled without it.
                tracing::error!(error = %e, "applying a batch to sled failed");
                stop("the store could not apply a batch");
            }
        }
        self.last_seq = next_seq - 1;
        self.publish(&events);
        for job in jobs {
            job.finish(Ok(()));
        }
        overlay.clear();
        self.overlay = overlay;
        self.journal.roll_if_full();
    }

    /// Writes the batch's changes to sled, whole to a reader holding
    /// [`Committed::whole_batches`]. Trees go in [`TREE_NAMES`] order, where
    /// every index and idempotency key comes after the records it names, so
    /// even a reader of one key at a time finds a record whenever it has
    /// found an index entry for it.
    fn apply(&self, overlay: &Overlay) -> Result<(), StoreError> {
        let _whole = self
            .committed
            .applying
            .write()
            .unwrap_or_else(|p| p.into_inner());
        for (tree, changes) in self.trees.iter().zip(&overlay.trees) {
            for (key, value) in changes {
                match value {
                    Some(value) => tree.insert(key.as_slice(), value.clone())?,
                    None => tree.remove(key.as_slice())?,
                };
            }
        }
        Ok(())
    }

    /// Shows the batch's events (on disk now): to the local catalog first,
    /// then to the log's readers, so a 2xx never precedes the catalog.
    fn publish(&self, events: &[Event]) {
        if let Some(observe) = self.committed.observer.get() {
            events.iter().for_each(observe);
        }
        if let Some(last) = events.last() {
            self.committed.last_seq.store(last.seq, Ordering::Release);
        }
    }
}

fn stop(why: &str) -> ! {
    tracing::error!("{why}; stopping the process");
    std::process::abort();
}
