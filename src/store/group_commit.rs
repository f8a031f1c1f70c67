//! Group commit: many writers, one fsync; and nothing shown before it is on disk.
//!
//! Every transaction takes a ticket number before it applies (`started`)
//! and is marked `applied` once it has. One flusher task flushes sled and
//! then publishes the highest applied number that flush covered. A writer
//! acknowledges once the published number reaches its own ticket; a reader
//! waits for the number `started` had *after* its read, which covers every
//! transaction whose effects the read could have seen. Events are handed to
//! the observer, and served to peers, only once flushed.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Condvar, Mutex,
    },
    time::{Duration, Instant},
};

use tokio::sync::{watch, Notify};

use super::StoreError;
use crate::domain::Event;
use crate::metrics as m;

/// Told of every event once it is on disk (the local catalog uses this).
pub(crate) type Observer = Box<dyn Fn(&Event) + Send + Sync>;

pub(super) struct GroupCommit {
    inner: Arc<Inner>,
    /// The flusher task, which holds a handle to the database until it ends.
    flusher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

struct Inner {
    durable: bool,
    /// Tickets handed out (a transaction takes one before it applies).
    started: AtomicU64,
    /// Tickets whose transaction has applied (or aborted).
    applied: AtomicU64,
    closed: AtomicBool,
    wake: Notify,
    flushed: watch::Sender<u64>,
    /// The highest event sequence number known to be on disk.
    flushed_seq: AtomicU64,
    /// Events committed but not yet flushed, with the ticket of their write.
    unflushed: Mutex<VecDeque<(u64, Vec<Event>)>>,
    observer: std::sync::OnceLock<Observer>,
    /// Whether a flush is running, and its end announced.
    flushing: Mutex<bool>,
    flush_ended: Condvar,
}

/// Longest wait for a flush before a write's acknowledgement gives up.
pub(crate) const FLUSH_WAIT: Duration = Duration::from_secs(10);

/// Proof of a committed write (or a read); `.wait()` returns once what it
/// covers is on disk.
#[must_use = "a write is only durable once its Durability resolves"]
#[derive(Debug, Clone)]
pub(crate) struct Durability {
    ticket: u64,
    flushed: Option<watch::Receiver<u64>>,
}

impl Durability {
    /// Already on disk (so an answer can go out without waiting).
    pub(crate) fn is_done(&self) -> bool {
        self.flushed
            .as_ref()
            .is_none_or(|rx| *rx.borrow() >= self.ticket)
    }

    /// Waits for the flush that covers this write. A disk that cannot flush
    /// within [`FLUSH_WAIT`] gives an error (a 503) rather than a hang.
    pub(crate) async fn wait(self) -> Result<(), StoreError> {
        let Some(mut rx) = self.flushed else {
            return Ok(());
        };
        let ticket = self.ticket;
        let outcome = tokio::time::timeout(FLUSH_WAIT, rx.wait_for(|n| *n >= ticket))
            .await
            .map(|seen| seen.map(drop));
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(StoreError::Flush(
                "the store shut down before the write reached disk".into(),
            )),
            Err(_) => Err(StoreError::Flush(
                "the disk did not confirm in time; try again (a retried BUY or payment with the same Idempotency-Key is safe)"
                    .into(),
            )),
        }
    }
}

impl GroupCommit {
    /// Starts the flusher task. With `durable == false` (a benchmark-only
    /// setting) writes are acknowledged and shown without waiting for any flush.
    pub(super) fn start(db: sled::Db, durable: bool, last_seq: u64) -> Self {
        let (flushed, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            durable,
            started: AtomicU64::new(0),
            applied: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            wake: Notify::new(),
            flushed,
            // What sled recovered at open is what is on disk.
            flushed_seq: AtomicU64::new(last_seq),
            unflushed: Mutex::new(VecDeque::new()),
            observer: std::sync::OnceLock::new(),
            flushing: Mutex::new(false),
            flush_ended: Condvar::new(),
        });
        let flusher = durable.then(|| tokio::spawn(flush_loop(inner.clone(), db)));
        Self {
            inner,
            flusher: Mutex::new(flusher),
        }
    }

    pub(super) fn observe(&self, observer: Observer) {
        let _ = self.inner.observer.set(observer);
    }

    pub(super) fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Takes the ticket of a transaction about to apply. Callers serialize
    /// `begin`/`end` pairs (one writer thread), so tickets apply in order.
    /// A transaction that never ends (the writer panicked; the process then
    /// stops) is ended as aborted when the [`Begun`] drops, so readers are
    /// not left waiting for it meanwhile.
    pub(super) fn begin(&self) -> Begun<'_> {
        let ticket = self.inner.started.fetch_add(1, Ordering::SeqCst) + 1;
        Begun {
            group: self,
            ticket: Some(ticket),
        }
    }

    /// Records that transaction `ticket` has applied (with `events`) or
    /// aborted (none), and returns what its writer must wait for.
    fn end(&self, ticket: u64, events: Vec<Event>) -> Durability {
        let inner = &self.inner;
        if !inner.durable {
            if let Some(last) = events.last() {
                inner.flushed_seq.store(last.seq, Ordering::Release);
            }
            if let Some(observe) = inner.observer.get() {
                events.iter().for_each(observe);
            }
            inner.applied.store(ticket, Ordering::SeqCst);
            return Durability {
                ticket,
                flushed: None,
            };
        }
        if !events.is_empty() {
            lock(&inner.unflushed).push_back((ticket, events));
        }
        inner.applied.store(ticket, Ordering::SeqCst);
        inner.wake.notify_one();
        Durability {
            ticket,
            flushed: Some(inner.flushed.subscribe()),
        }
    }

    /// What a read taken just now must wait for before it is shown: every
    /// transaction that had started, whose effects the read may have seen.
    pub(super) fn read_marker(&self) -> Durability {
        if !self.inner.durable {
            return Durability {
                ticket: 0,
                flushed: None,
            };
        }
        let ticket = self.inner.started.load(Ordering::SeqCst);
        let flushed = self.inner.flushed.subscribe();
        if *flushed.borrow() < ticket {
            self.inner.wake.notify_one();
        }
        Durability {
            ticket,
            flushed: Some(flushed),
        }
    }

    /// Waits (at most `limit`) while a flush is running. Writes committed
    /// during a flush wait for the next one anyway, so the writer loses no
    /// time by gathering them meanwhile, and commits them as one batch.
    pub(super) fn await_flush(&self, limit: Duration) {
        let until = Instant::now() + limit;
        let mut flushing = lock(&self.inner.flushing);
        while *flushing {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            flushing = self
                .inner
                .flush_ended
                .wait_timeout(flushing, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// The highest event sequence number that is on disk.
    pub(super) fn flushed_seq(&self) -> u64 {
        self.inner.flushed_seq.load(Ordering::Acquire)
    }

    /// Refuses further writes and asks the flusher for a last flush. The
    /// caller is the writer thread, so no transaction is half-way through.
    pub(super) fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.wake.notify_one();
    }

    /// Waits for the flusher's last flush (after [`Self::close`]).
    pub(super) async fn closed(&self) {
        let task = lock(&self.flusher).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// A transaction between [`GroupCommit::begin`] and its end.
pub(super) struct Begun<'a> {
    group: &'a GroupCommit,
    ticket: Option<u64>,
}

impl Begun<'_> {
    /// The transaction applied with `events` (or aborted, with none).
    pub(super) fn end(mut self, events: Vec<Event>) -> Durability {
        let ticket = self.ticket.take().expect("ended once");
        self.group.end(ticket, events)
    }
}

impl Drop for Begun<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            let _ = self.group.end(ticket, Vec::new());
        }
    }
}

impl Drop for GroupCommit {
    /// A store dropped without `close` (a start-up that failed half-way)
    /// must not leave its flusher holding the database open.
    fn drop(&mut self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.wake.notify_one();
    }
}

async fn flush_loop(inner: Arc<Inner>, db: sled::Db) {
    let mut published = 0;
    loop {
        inner.wake.notified().await;
        let closing = inner.closed.load(Ordering::Acquire);
        let target = inner.applied.load(Ordering::SeqCst);
        let started = Instant::now();
        *lock(&inner.flushing) = true;
        // A failed fsync is retried: acknowledging it would break the promise.
        while let Err(e) = db.flush_async().await {
            tracing::error!(error = %e, "flushing sled failed; retrying");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        *lock(&inner.flushing) = false;
        inner.flush_ended.notify_all();
        metrics::histogram!(m::FLUSH_SECONDS).record(started.elapsed().as_secs_f64());
        if target > published {
            metrics::histogram!(m::COMMIT_BATCH).record((target - published) as f64);
            published = target;
        }
        inner.publish(target);
        if closing {
            // Nothing can commit after close; wake anyone still waiting.
            inner.flushed.send_replace(u64::MAX);
            return;
        }
    }
}

impl Inner {
    /// Everything up to `target` is on disk: show its events, then release
    /// the writers waiting for it (so a 2xx never precedes the catalog).
    fn publish(&self, target: u64) {
        let flushed: Vec<(u64, Vec<Event>)> = {
            let mut queue = lock(&self.unflushed);
            let n = queue.iter().take_while(|(t, _)| *t <= target).count();
            queue.drain(..n).collect()
        };
        if let Some(last) = flushed.last().and_then(|(_, events)| events.last()) {
            self.flushed_seq.store(last.seq, Ordering::Release);
        }
        if let Some(observe) = self.observer.get() {
            flushed.iter().flat_map(|(_, e)| e).for_each(observe);
        }
        self.flushed.send_replace(target);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
