//! Group commit: many writers, one fsync.
//!
//! Every committed transaction takes a ticket number; one flusher task
//! flushes sled and then publishes the highest number that flush covered.
//! A writer acknowledges once the published number reaches its own, so
//! concurrent writes share a flush instead of paying one each.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::sync::{watch, Notify};

use super::StoreError;

pub(super) struct GroupCommit {
    inner: Arc<Inner>,
    durable: bool,
    /// The flusher task, which holds a handle to the database until it ends.
    flusher: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

struct Inner {
    committed: AtomicU64,
    closed: AtomicBool,
    wake: Notify,
    flushed: watch::Sender<u64>,
}

/// Longest wait for a flush before a write's acknowledgement gives up.
pub const FLUSH_WAIT: Duration = Duration::from_secs(10);

/// Proof of a committed write; `.wait()` returns once it is on disk.
#[must_use = "a write is only durable once its Durability resolves"]
#[derive(Debug, Clone)]
pub struct Durability {
    ticket: u64,
    flushed: Option<watch::Receiver<u64>>,
}

impl Durability {
    /// Nothing to wait for (a write that changed nothing, or no-flush mode).
    pub fn none() -> Self {
        Self {
            ticket: 0,
            flushed: None,
        }
    }

    /// Already on disk (so an answer can go out without waiting).
    pub fn is_done(&self) -> bool {
        self.flushed
            .as_ref()
            .is_none_or(|rx| *rx.borrow() >= self.ticket)
    }

    /// Waits for the flush that covers this write. A disk that cannot flush
    /// within [`FLUSH_WAIT`] gives an error (a 503) rather than a hang.
    pub async fn wait(self) -> Result<(), StoreError> {
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
                "the disk did not confirm the write in time; retry with the same Idempotency-Key"
                    .into(),
            )),
        }
    }
}

impl GroupCommit {
    /// Starts the flusher task. With `durable == false` (a benchmark-only
    /// setting) writes are acknowledged without waiting for any flush.
    pub(super) fn start(db: sled::Db, durable: bool) -> Self {
        let (flushed, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            committed: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            wake: Notify::new(),
            flushed,
        });
        let mut flusher = None;
        if durable {
            let inner = inner.clone();
            flusher = Some(tokio::spawn(async move {
                loop {
                    inner.wake.notified().await;
                    if inner.closed.load(Ordering::Acquire) {
                        // One last flush so that nothing committed is left behind.
                        let _ = db.flush_async().await;
                        inner.flushed.send_replace(u64::MAX);
                        return;
                    }
                    let target = inner.committed.load(Ordering::Acquire);
                    // A failed fsync is retried: acknowledging it would break the promise.
                    while let Err(e) = db.flush_async().await {
                        tracing::error!(error = %e, "flushing sled failed; retrying");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    inner.flushed.send_replace(target);
                }
            }));
        }
        Self {
            inner,
            durable,
            flusher: std::sync::Mutex::new(flusher),
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// A marker that resolves once everything committed so far is on disk.
    pub(super) fn marker(&self) -> Durability {
        if !self.durable {
            return Durability::none();
        }
        Durability {
            ticket: self.inner.committed.load(Ordering::Acquire),
            flushed: Some(self.inner.flushed.subscribe()),
        }
    }

    /// Records that a transaction has just committed.
    pub(super) fn committed(&self) -> Durability {
        if !self.durable {
            return Durability::none();
        }
        let ticket = self.inner.committed.fetch_add(1, Ordering::AcqRel) + 1;
        let flushed = self.inner.flushed.subscribe();
        self.inner.wake.notify_one();
        Durability {
            ticket,
            flushed: Some(flushed),
        }
    }

    /// Waits until everything committed so far is on disk.
    pub(super) async fn sync(&self) -> Result<(), StoreError> {
        if !self.durable {
            return Ok(());
        }
        let ticket = self.inner.committed.fetch_add(1, Ordering::AcqRel) + 1;
        let d = Durability {
            ticket,
            flushed: Some(self.inner.flushed.subscribe()),
        };
        self.inner.wake.notify_one();
        d.wait().await
    }
}

impl GroupCommit {
    /// Flushes once more and waits for the flusher task to end.
    pub(super) async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.wake.notify_one();
        let task = self
            .flusher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}
