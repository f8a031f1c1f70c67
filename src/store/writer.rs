//! The one writer: many writes, one sled transaction.
//!
//! sled rolls and writes out its log buffer around every transaction (on
//! its thread pool, waking every idle pool thread), so a transaction per
//! BUY cost about thirty context switches. Writes are therefore queued to
//! one thread, which takes whatever has queued up, runs each write's body
//! against an overlay of the batch's changes, and commits the batch in a
//! single sled transaction. A body that aborts has its changes undone in
//! the overlay; the others still commit. Being the only writer of every
//! key a body touches (only start-up writes `meta` outside it), the thread
//! takes no sled locks around a body: what it reads (the overlay over the
//! committed trees) is the whole truth.

use std::{
    collections::HashMap,
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{mpsc, Arc},
    time::Duration,
};

use sled::{transaction::TransactionError, IVec, Transactional};
use tokio::sync::oneshot;

use super::{orders::PendingHolds, Durability, StoreError, Tx, TxResult, T, TREE_NAMES};
use crate::domain::{Event, Timestamp, UserId};

/// Most writes committed in one transaction; more wait for the next.
const MAX_BATCH: usize = 1024;
/// Longest a write waits for a running flush before it commits anyway.
const GATHER: Duration = Duration::from_millis(5);

/// What the writer thread is sent.
pub(super) enum Msg {
    Write(Box<dyn Job>),
    /// Refuse every later write, then answer (the store is closing).
    Close(oneshot::Sender<()>),
}

/// A queued write: its body, and the caller waiting for its answer.
pub(super) trait Job: Send {
    /// Runs the body once against the batch so far; `false` if it aborted
    /// (its changes are then undone).
    fn run(&mut self, tx: &mut Tx<'_>) -> bool;
    /// Answers the caller once the batch committed (its body's outcome,
    /// kept or refused, with the batch's durability) or failed (for every
    /// body: a refusal may rest on a batch-mate's change that was never
    /// written).
    fn finish(self: Box<Self>, batch: Result<Durability, StoreError>);
}

/// A body with its reply port.
pub(super) struct Pending<F, R> {
    pub(super) body: Option<F>,
    pub(super) outcome: Option<Result<R, StoreError>>,
    pub(super) reply: oneshot::Sender<Result<(TxResult<R>, Durability), StoreError>>,
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

    fn finish(self: Box<Self>, batch: Result<Durability, StoreError>) {
        let answer = match (self.outcome, batch) {
            (Some(outcome), Ok(durable)) => Ok((outcome, durable)),
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
}

/// What the writer thread owns.
pub(super) struct Writer {
    pub(super) trees: Vec<sled::Tree>,
    pub(super) group: Arc<super::group_commit::GroupCommit>,
    pub(super) holds: Arc<PendingHolds>,
    /// The last event sequence number written: numbers are gap-free and in
    /// commit order (readers tail by `after=N`).
    pub(super) last_seq: u64,
}

impl Writer {
    /// Serves writes until every sender is gone.
    pub(super) fn run(mut self, queue: mpsc::Receiver<Msg>) {
        let mut batch: Vec<Box<dyn Job>> = Vec::new();
        while let Ok(first) = queue.recv() {
            self.group.await_flush(GATHER);
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
                    tracing::error!("the store's writer failed; stopping the process");
                    std::process::abort();
                }
            }
            if let Some(done) = close {
                self.group.close();
                let _ = done.send(());
            }
        }
    }

    fn commit(&mut self, mut jobs: Vec<Box<dyn Job>>) {
        if self.group.is_closed() {
            // After close a write could never be flushed: refuse it (a 503).
            for job in jobs {
                job.finish(Err(StoreError::Flush("the node is shutting down".into())));
            }
            return;
        }
        let begun = self.group.begin();
        let mut by_user = self.holds.by_user();
        let mut overlay = Overlay::default();
        let mut holds: HashMap<Option<UserId>, i32> = HashMap::new();
        let mut events: Vec<Event> = Vec::new();
        let mut next_seq = self.last_seq + 1;
        for job in &mut jobs {
            let mut tx = Tx {
                trees: &self.trees,
                overlay: &mut overlay,
                next_seq,
                at: Timestamp::now(),
                emitted: Vec::new(),
                holds_before: &by_user,
                holds_batch: &holds,
                holds_delta: Vec::new(),
                undo: Vec::new(),
            };
            let kept = job.run(&mut tx);
            let Tx {
                next_seq: after,
                emitted,
                holds_delta,
                undo,
                ..
            } = tx;
            if kept {
                next_seq = after;
                events.extend(emitted);
                for (buyer, d) in holds_delta {
                    *holds.entry(buyer).or_default() += d;
                }
            } else {
                overlay.undo(undo);
            }
        }
        let written = if overlay.is_empty() {
            Ok(())
        } else {
            self.apply(&overlay)
        };
        match written {
            Ok(()) => {
                self.last_seq = next_seq - 1;
                let delta: Vec<(Option<UserId>, i32)> = holds.into_iter().collect();
                self.holds.apply(&mut by_user, &delta);
                drop(by_user);
                let durable = begun.end(events);
                for job in jobs {
                    job.finish(Ok(durable.clone()));
                }
            }
            Err(e) => {
                drop(by_user);
                let _ = begun.end(Vec::new());
                let message = e.to_string();
                for job in jobs {
                    job.finish(Err(StoreError::Flush(message.clone())));
                }
            }
        }
    }

    /// Writes the batch's changes to sled in one transaction.
    fn apply(&self, overlay: &Overlay) -> Result<(), StoreError> {
        let trees: Vec<&sled::Tree> = self.trees.iter().collect();
        trees
            .as_slice()
            .transaction(|view| {
                for (tree, changes) in view.iter().zip(&overlay.trees) {
                    for (key, value) in changes {
                        match value {
                            Some(value) => tree.insert(key.as_slice(), value.clone())?,
                            None => tree.remove(key.as_slice())?,
                        };
                    }
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<StoreError>>(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => e.into(),
            })
    }
}
