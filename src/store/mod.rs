//! The only module that touches sled.
//!
//! One tree per record kind, plus indexes and the event log. Every change
//! goes through [`Store::write`]: a body run by the one writer thread,
//! which commits many bodies as one batch over all trees, appends their
//! events with gap-free sequence numbers, and answers once the batch is
//! on disk (in the journal, synced) and in sled. So whatever a read finds
//! is on disk already.

mod charges;
mod codec;
mod coupons;
mod databases;
mod events;
mod idempotency;
mod journal;
mod orders;
mod tickets;
mod users;
mod writer;

use std::{path::Path, sync::Arc};

use sled::IVec;
use tokio::sync::oneshot;

pub(crate) use events::LogPage;
pub(crate) use idempotency::{IdemKey, Scope};

use crate::{
    domain::{Event, EventKind, Timestamp},
    records::Recorded,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("Email in use")]
    EmailTaken,
    #[error("Coupon code in use")]
    CouponCodeTaken,
    /// A conditional write found the record changed underneath it.
    #[error("{0}")]
    Stale(String),
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Flush(String),
    /// A business rule that needs the stored state (a buyer's count of
    /// pending holds) refused the change.
    #[error(transparent)]
    Rule(#[from] crate::domain::RuleError),
    #[error("this data dir was created with {recorded} shards but {configured} are configured; resizing is an offline step (see README)")]
    ShardMismatch { recorded: u16, configured: u16 },
}

/// What a write's body returns; an error undoes everything it wrote.
pub(crate) type TxResult<T> = Result<T, StoreError>;

/// Ends a write's body with `err`, undoing everything it wrote.
pub(crate) fn abort<T>(err: StoreError) -> TxResult<T> {
    Err(err)
}

/// sled's page cache unless configured, in MiB. sled's own default (1 GiB)
/// is most of a small machine's memory once a big onsale has filled it, and
/// sled's accounting undercounts: 256 MiB cost ≈ 420 MB of RSS at 1,000,000
/// holds, while 64 MiB gave the same wins/s at 200,000 (docs/BENCHMARKS.md).
pub(crate) const DEFAULT_CACHE_MB: u64 = 128;

/// Tree indexes inside [`Store::trees`] and a transaction's view.
#[derive(Clone, Copy)]
enum T {
    Users,
    Emails,
    Tickets,
    Orders,
    UserOrders,
    Reminders,
    Charges,
    Idempotency,
    Events,
    Meta,
    Coupons,
    CouponHolds,
    SessionEvents,
    HoldCounts,
}

const TREE_NAMES: [&str; 14] = [
    "users",
    "emails",
    "tickets",
    "orders",
    "user_orders",
    "reminders",
    "charges",
    "idempotency",
    "events",
    "meta",
    "coupons",
    "coupon_holds",
    "session_events",
    "hold_counts",
];

pub(crate) struct Store {
    trees: Vec<sled::Tree>,
    /// The writer thread's queue.
    writes: std::sync::Mutex<Option<std::sync::mpsc::Sender<writer::Msg>>>,
    /// The writer thread, joined at close: it holds sled's trees too.
    writer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    committed: Arc<writer::Committed>,
    /// Names this event log; a follower that sees another id re-reads it.
    log_id: u64,
}

/// One write's view while its body runs on the writer thread: the
/// committed trees under the batch's changes so far, its own included.
pub(crate) struct Tx<'a> {
    trees: &'a [sled::Tree],
    overlay: &'a mut writer::Overlay,
    next_seq: u64,
    at: Timestamp,
    emitted: Vec<Event>,
    /// How to take this write's changes back out of the overlay.
    undo: Vec<writer::Undo>,
}

impl Tx<'_> {
    fn get(&self, t: T, key: &[u8]) -> TxResult<Option<IVec>> {
        match self.overlay.get(t, key) {
            Some(value) => Ok(value),
            None => Ok(self.trees[t as usize].get(key)?),
        }
    }

    /// Sets `key` (or removes it, with `None`); returns what was there. A
    /// write that would change nothing is left out of the batch: sled
    /// would log it all the same.
    fn set(&mut self, t: T, key: &[u8], value: Option<IVec>) -> TxResult<Option<IVec>> {
        let before = self.get(t, key)?;
        if before == value {
            return Ok(before);
        }
        let undo = self.overlay.set(t, key, value);
        self.undo.push(undo);
        Ok(before)
    }

    /// Sets `key` without looking at what was there first: for whole
    /// records rewritten on every change and for keys known to be new
    /// (a new order's, a session event's), where that look is a walk down
    /// sled's tree for nothing.
    fn put(&mut self, t: T, key: &[u8], value: impl Into<IVec>) {
        let undo = self.overlay.set(t, key, Some(value.into()));
        self.undo.push(undo);
    }

    fn insert(&mut self, t: T, key: &[u8], value: impl Into<IVec>) -> TxResult<Option<IVec>> {
        self.set(t, key, Some(value.into()))
    }

    fn remove(&mut self, t: T, key: &[u8]) -> TxResult<Option<IVec>> {
        self.set(t, key, None)
    }

    /// Appends an event to the log, in this write. The writer stores the
    /// batch's events in runs once every body has run.
    pub(crate) fn emit(&mut self, kind: EventKind) -> TxResult<()> {
        let event = Event {
            seq: self.next_seq,
            at: self.at,
            kind,
        };
        self.next_seq += 1;
        if event.kind.touches_sessions() {
            let (key, value) = events::session_entry(&event);
            self.put(T::SessionEvents, &key, value);
        }
        self.emitted.push(event);
        Ok(())
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`, first finishing whatever
    /// batches an unclean stop left in the journal. With `durable ==
    /// false`, writes are acknowledged before reaching disk: for
    /// benchmarks only.
    pub(crate) fn open(dir: &Path, durable: bool) -> Result<Self, StoreError> {
        Self::open_with_cache(dir, durable, DEFAULT_CACHE_MB * 1024 * 1024)
    }

    /// [`Store::open`] with sled's page cache capped at `cache_bytes`.
    pub(crate) fn open_with_cache(
        dir: &Path,
        durable: bool,
        cache_bytes: u64,
    ) -> Result<Self, StoreError> {
        let dbs = databases::Databases::open(dir, cache_bytes)?;
        // Before anything reads a tree: sled may hold part of a batch.
        let replaying = std::time::Instant::now();
        let (journal, replayed) = journal::Journal::open(dir, &dbs, durable)?;
        if replayed > 0 {
            tracing::info!(
                batches = replayed,
                elapsed_ms = replaying.elapsed().as_millis() as u64,
                "finished batches from the journal"
            );
        }
        let trees = TREE_NAMES
            .iter()
            .map(|name| dbs.open_tree(name))
            .collect::<Result<Vec<_>, _>>()?;
        orders::migrate_pending(dbs.main(), &trees[T::Reminders as usize])?;
        orders::count_holds_once(
            &trees[T::Reminders as usize],
            &trees[T::Orders as usize],
            &trees[T::HoldCounts as usize],
            &trees[T::Meta as usize],
        )?;
        events::keep_recent_session_events(
            &trees[T::Events as usize],
            &trees[T::SessionEvents as usize],
            &trees[T::Meta as usize],
        )?;
        let last_seq = events::last_seq(&trees[T::Events as usize])?;
        let log_id = events::log_id(&trees[T::Meta as usize], durable)?;
        let committed = Arc::new(writer::Committed::new(last_seq));
        let (queue, writes) = std::sync::mpsc::channel();
        let writer = writer::Writer {
            trees: trees.clone(),
            journal,
            committed: committed.clone(),
            overlay: writer::Overlay::default(),
            last_seq,
        };
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(writes))
            .map_err(|e| StoreError::Flush(format!("starting the writer thread: {e}")))?;
        Ok(Self {
            trees,
            writes: std::sync::Mutex::new(Some(queue)),
            writer: std::sync::Mutex::new(Some(writer)),
            committed,
            log_id,
        })
    }

    /// Registers the one observer of events, told of each once it is on disk.
    pub(crate) fn observe(&self, observer: impl Fn(&Event) + Send + Sync + 'static) {
        self.committed.observe(Box::new(observer));
    }

    fn tree(&self, t: T) -> &sled::Tree {
        &self.trees[t as usize]
    }

    /// Sends the writer thread `msg`; `false` once the store is closed.
    fn send(&self, msg: writer::Msg) -> bool {
        let queue = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        queue.as_ref().is_some_and(|q| q.send(msg).is_ok())
    }

    /// Runs `body` on the writer thread, in one batch with whatever other
    /// writes are queued, and answers once the batch is on disk. The body
    /// runs once; an error it returns undoes everything it wrote and is
    /// this write's answer.
    pub(crate) async fn write<R, F>(&self, body: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Tx<'_>) -> TxResult<R> + Send + 'static,
        R: Send + 'static,
    {
        self.submit(body).await
    }

    /// [`Store::write`], queued now; the answer comes from the returned
    /// future, which does not borrow the store (so a bulk loader can keep
    /// many writes in flight and let the writer batch them).
    pub(crate) fn submit<R, F>(
        &self,
        body: F,
    ) -> impl std::future::Future<Output = Result<R, StoreError>> + Send + 'static
    where
        F: FnOnce(&mut Tx<'_>) -> TxResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = writer::Pending {
            body: Some(body),
            outcome: None,
            reply,
        };
        let sent = self.send(writer::Msg::Write(Box::new(job)));
        let closed = || StoreError::Flush("the node is shutting down".into());
        async move {
            if !sent {
                return Err(closed());
            }
            // The batch's failure, or else the body's own outcome.
            let batch = answer.await.unwrap_or_else(|_| Err(closed()));
            batch?
        }
    }

    /// Holds waiting for payment (on disk; for metrics).
    pub(crate) fn pending_holds(&self) -> Result<i64, StoreError> {
        orders::pending_total(self.tree(T::Meta))
    }

    /// Records the cluster's shard count on first start and refuses any
    /// other value later: entities were placed by it.
    pub(crate) fn ensure_shards(&self, shards: u16) -> Result<(), StoreError> {
        let meta = self.tree(T::Meta);
        let recorded = meta.compare_and_swap(
            "shards",
            None as Option<&[u8]>,
            Some(&shards.to_be_bytes()[..]),
        )?;
        match recorded {
            Ok(()) => {
                meta.flush()?;
                Ok(())
            }
            Err(current) => {
                let current = current
                    .current
                    .and_then(|v| <[u8; 2]>::try_from(v.as_ref()).ok())
                    .map(u16::from_be_bytes);
                match current {
                    Some(n) if n == shards => Ok(()),
                    Some(n) => Err(StoreError::ShardMismatch {
                        recorded: n,
                        configured: shards,
                    }),
                    None => Err(StoreError::Corrupt("shard count".into())),
                }
            }
        }
    }

    /// Refuses further writes, puts everything committed into sled's own
    /// files (so the next open replays nothing) and stops the writer
    /// thread (on shutdown).
    pub(crate) async fn close(&self) -> Result<(), StoreError> {
        let (done, closed) = oneshot::channel();
        // Writes queued before this commit first; later ones are refused.
        let emptied = if self.send(writer::Msg::Close(done)) {
            closed.await.unwrap_or(Ok(()))
        } else {
            Ok(())
        };
        // The writer ends once its queue is gone; it has nothing left to
        // do, so joining it is immediate.
        self.writes.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(writer) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = writer.join();
        }
        emptied
    }

    /// Opens sled's files once more and closes them: for a clean stop,
    /// once every handle on the store is gone. sled 0.34 writes its
    /// snapshot only when it opens, so an open reads back all of its log
    /// written since the previous one: seconds after a large onsale. Doing
    /// that here, as a database's shutdown checkpoint does, lets the next
    /// start skip it. A stop cut short here loses nothing: sled writes its
    /// snapshot to a temporary file and renames it.
    pub(crate) fn checkpoint(dir: &Path, cache_bytes: u64) -> Result<(), StoreError> {
        databases::Databases::checkpoint(dir, cache_bytes)
    }
}

/// Every record in `tree`, in key order.
fn scan<V: Recorded>(tree: &sled::Tree) -> impl Iterator<Item = Result<V, StoreError>> + '_ {
    tree.iter().values().map(|v| codec::decode(&v?))
}

fn get<V: Recorded>(tree: &sled::Tree, key: &[u8]) -> Result<Option<V>, StoreError> {
    tree.get(key)?.map(|v| codec::decode(&v)).transpose()
}

fn tx_get<V: Recorded>(tx: &Tx<'_>, t: T, key: &[u8]) -> TxResult<Option<V>> {
    tx.get(t, key)?.map(|v| codec::decode(&v)).transpose()
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// A durable store in a fresh temporary directory.
    pub(crate) fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), true).unwrap();
        (dir, store)
    }

    /// Opens `dir` again after a store there was closed.
    impl Store {
        /// `buyer`'s pending holds as on disk.
        pub(crate) fn holds_of(&self, buyer: crate::domain::UserId) -> u32 {
            self.tree(T::HoldCounts)
                .get(buyer.as_bytes())
                .unwrap()
                .map_or(0, |v| u32::from_be_bytes(v.as_ref().try_into().unwrap()))
        }
    }

    pub(crate) async fn reopen(dir: &Path) -> Store {
        once_free(|| Store::open(dir, true)).await
    }

    /// Runs `open` until it succeeds: sled lets go of its file lock from a
    /// background thread after the last handle drops, so give it a moment
    /// on a busy machine.
    pub(crate) async fn once_free<R, E: std::fmt::Display>(
        mut open: impl FnMut() -> Result<R, E>,
    ) -> R {
        for _ in 0..50 {
            if let Ok(opened) = open() {
                return opened;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        open().unwrap_or_else(|e| panic!("reopening: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::{
        test_support::{once_free, reopen, temp_store},
        *,
    };
    use crate::domain::{Email, Price, Ticket, TicketEvent, Title, User, UserId};

    fn user(email: &str) -> User {
        User::new(Email::parse(email).unwrap(), "hash".into())
    }

    #[tokio::test]
    async fn events_get_gap_free_sequence_numbers_in_commit_order() {
        let (_dir, store) = temp_store();
        for i in 0..5 {
            let t = Ticket::new(
                Title::parse("t").unwrap(),
                Price::from_cents(i + 1).unwrap(),
                UserId::new(),
            );
            store
                .write(move |tx| {
                    tx.put_ticket(&t)?;
                    tx.emit(EventKind::TicketCreated(TicketEvent::from(&t)))?;
                    tx.emit(EventKind::TicketUpdated(TicketEvent::from(&t)))
                })
                .await
                .unwrap();
        }
        let seqs: Vec<u64> = store
            .events_after(0, 100)
            .unwrap()
            .events
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
        assert_eq!(
            store
                .events_after(7, 2)
                .unwrap()
                .events
                .iter()
                .map(|e| e.seq)
                .collect::<Vec<_>>(),
            [8, 9]
        );
        assert_eq!(store.last_event_seq(), 10);
    }

    #[tokio::test]
    async fn a_log_of_single_events_reads_on_into_the_runs_written_after_it() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path(), true)
            .unwrap()
            .close()
            .await
            .unwrap();
        // Three entries of one event each, as logs before runs hold them.
        let ticket = |cents| {
            Ticket::new(
                Title::parse("t").unwrap(),
                Price::from_cents(cents).unwrap(),
                UserId::new(),
            )
        };
        {
            let log = once_free(|| sled::open(dir.path().join("sled-log"))).await;
            let events = log.open_tree("events").unwrap();
            for seq in 1..=3u64 {
                let old = Event {
                    seq,
                    at: Timestamp::now(),
                    kind: EventKind::TicketCreated(TicketEvent::from(&ticket(seq))),
                };
                events
                    .insert(seq.to_be_bytes(), codec::encode(&old))
                    .unwrap();
            }
            log.flush().unwrap();
        }
        let store = reopen(dir.path()).await;
        assert_eq!(store.last_event_seq(), 3);
        // One write of 40 events: more than one run.
        store
            .write(move |tx| {
                (4..=43).try_for_each(|cents| {
                    tx.emit(EventKind::TicketCreated(TicketEvent::from(&ticket(cents))))
                })
            })
            .await
            .unwrap();
        assert_eq!(seqs(&store, 0, 100), (1..=43).collect::<Vec<_>>());
        assert_eq!(
            seqs(&store, 2, 5),
            [3, 4, 5, 6, 7],
            "across the old and the new"
        );
        assert_eq!(seqs(&store, 34, 3), [35, 36, 37], "across two runs");
        assert_eq!(seqs(&store, 43, 10), Vec::<u64>::new());
        assert_eq!(store.last_event_seq(), 43);
        assert_eq!(
            store.tree(T::Events).len(),
            5,
            "three single events, then two runs"
        );
        let prices: Vec<u64> = store
            .events_after(40, 10)
            .unwrap()
            .events
            .iter()
            .map(|e| match &e.kind {
                EventKind::TicketCreated(t) => t.price.cents(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(prices, [41, 42, 43], "each event is the one emitted");
        store.close().await.unwrap();
        drop(store);
        let store = reopen(dir.path()).await;
        assert_eq!(store.last_event_seq(), 43, "a run's key is its last event");
        assert_eq!(seqs(&store, 41, 100), [42, 43]);
    }

    fn seqs(store: &Store, after: u64, limit: usize) -> Vec<u64> {
        let page = store.events_after(after, limit).unwrap();
        page.events.iter().map(|e| e.seq).collect()
    }

    #[tokio::test]
    async fn an_aborted_transaction_writes_nothing() {
        let (_dir, store) = temp_store();
        let first = user("a@example.com");
        let create = |u: &User| {
            let u = u.clone();
            store.write(move |tx| {
                tx.insert_user(&u)?;
                tx.emit(EventKind::UserCreated {
                    id: u.id,
                    email: u.email.clone(),
                    version: 0,
                })
            })
        };
        create(&first).await.unwrap();
        let second = user("a@example.com");
        assert!(matches!(create(&second).await, Err(StoreError::EmailTaken)));
        assert!(
            store.user(second.id).unwrap().is_none(),
            "no half-written user"
        );
        assert_eq!(store.last_event_seq(), 1, "no event for the refused write");
        assert_eq!(
            store.user_by_email(&first.email).unwrap().unwrap().id,
            first.id
        );
    }

    #[tokio::test]
    async fn a_closed_store_refuses_writes_instead_of_acknowledging_them() {
        let (_dir, store) = temp_store();
        let u = user("c@example.com");
        store.close().await.unwrap();
        let stored = u.clone();
        let refused = store.write(move |tx| tx.create_user(&stored)).await;
        assert!(
            matches!(refused, Err(StoreError::Flush(_))),
            "no durability after close"
        );
        assert!(store.user(u.id).unwrap().is_none(), "nothing written");
    }

    #[tokio::test]
    async fn data_and_sequence_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let u = user("b@example.com");
        let log_id = {
            let store = Store::open(dir.path(), true).unwrap();
            let stored = u.clone();
            store
                .write(move |tx| {
                    tx.insert_user(&stored)?;
                    tx.emit(EventKind::UserUpdated {
                        id: stored.id,
                        version: 0,
                        status: crate::domain::AccountStatus::Active,
                        sessions_from: 0,
                    })
                })
                .await
                .unwrap();
            store.close().await.unwrap();
            store.log_id
        };
        let store = reopen(dir.path()).await;
        assert_eq!(store.user(u.id).unwrap(), Some(u.clone()));
        assert_eq!(store.log_id, log_id, "the same log after a restart");
        let id = u.id;
        store
            .write(move |tx| {
                tx.emit(EventKind::UserUpdated {
                    id,
                    version: 1,
                    status: crate::domain::AccountStatus::Active,
                    sessions_from: 0,
                })
            })
            .await
            .unwrap();
        assert_eq!(store.last_event_seq(), 2, "numbering continues");
        let (_other_dir, other) = temp_store();
        assert_ne!(other.log_id, log_id, "another data dir, another log");
    }

    #[tokio::test]
    async fn a_restart_finds_recent_session_events_without_reading_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let user = UserId::new();
        let ended = |until: Timestamp| EventKind::SessionEnded {
            user_id: user,
            session: crate::domain::SessionId::new(),
            until,
        };
        {
            let store = Store::open(dir.path(), true).unwrap();
            let kind = ended(Timestamp::now());
            store
                .write(move |tx| {
                    tx.emit(kind)?;
                    let t = Ticket::new(
                        Title::parse("Not a session event").unwrap(),
                        Price::from_cents(100).unwrap(),
                        user,
                    );
                    tx.create_ticket(&t)
                })
                .await
                .unwrap();
            // One from long ago, as an index kept across a long downtime
            // would hold it.
            let old = Event {
                seq: 99,
                at: Timestamp::from_millis(0),
                kind: ended(Timestamp::from_millis(0)),
            };
            store
                .tree(T::SessionEvents)
                .insert(old.seq.to_be_bytes(), codec::encode(&old))
                .unwrap();
            store.close().await.unwrap();
        }
        let store = reopen(dir.path()).await;
        let kept = store.recent_session_events().unwrap();
        assert_eq!(
            kept.len(),
            1,
            "the recent sign-out, not the ticket nor the old one"
        );
        assert_eq!(kept[0].seq, 1);
        assert!(kept[0].kind.touches_sessions());
        store.close().await.unwrap();
        drop(store);

        // A data dir from before the index: its log is indexed once, at open.
        {
            let log = once_free(|| sled::open(dir.path().join("sled-log"))).await;
            log.drop_tree("session_events").unwrap();
            log.flush().unwrap();
            let db = once_free(|| sled::open(dir.path().join("sled"))).await;
            db.open_tree("meta")
                .unwrap()
                .remove(events::SESSION_EVENTS_INDEXED)
                .unwrap();
            db.flush().unwrap();
        }
        let store = reopen(dir.path()).await;
        let kept = store.recent_session_events().unwrap();
        assert_eq!(kept.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
    }

    /// Holds the writer thread for a moment, so the writes sent meanwhile
    /// queue up and commit together as the next batch.
    async fn hold_the_writer(store: &Store) {
        store
            .write(|_| {
                std::thread::sleep(std::time::Duration::from_millis(100));
                Ok(())
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn writes_committed_together_keep_their_own_outcomes() {
        let (_dir, store) = temp_store();
        let blocker = hold_the_writer(&store);
        let writes = (0..40).map(|i| {
            let u = user(&format!("u{}@example.com", i / 2));
            store.write(move |tx| tx.create_user(&u).map(|()| u))
        });
        let (_, results) = tokio::join!(blocker, futures::future::join_all(writes));
        let (made, refused): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
        assert_eq!(made.len(), 20, "one account per email");
        assert!(refused
            .iter()
            .all(|r| matches!(r, Err(StoreError::EmailTaken))));
        for user in made.into_iter().map(Result::unwrap) {
            assert_eq!(store.user_by_email(&user.email).unwrap(), Some(user));
        }
        let seqs: Vec<u64> = store
            .events_after(0, 100)
            .unwrap()
            .events
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(
            seqs,
            (1..=20).collect::<Vec<_>>(),
            "refused writes took no numbers"
        );
        assert_eq!(store.users().count(), 20, "no half-written account");
    }

    #[tokio::test]
    async fn a_batch_counts_its_earlier_holds_but_not_refused_ones() {
        use crate::domain::{Order, OrderId, Ticket};
        let (_dir, store) = temp_store();
        let buyer = UserId::new();
        let place = || {
            let ticket = Ticket::new(
                Title::parse("t").unwrap(),
                Price::from_cents(100).unwrap(),
                UserId::new(),
            );
            Order::place(
                OrderId::for_ticket(ticket.id),
                buyer,
                &ticket,
                Timestamp::now(),
                std::time::Duration::from_secs(900),
            )
        };
        let hold = |refuse: bool| {
            let order = place();
            store.write(move |tx| {
                tx.put_order(&order)?;
                if refuse {
                    return abort(StoreError::Stale("refused after holding".into()));
                }
                tx.pending_holds_of(buyer)
            })
        };
        let blocker = hold_the_writer(&store);
        let (_, first, refused, second) =
            tokio::join!(blocker, hold(false), hold(true), hold(false));
        assert_eq!(first.unwrap(), 1);
        assert!(refused.is_err());
        assert_eq!(second.unwrap(), 2, "the refused hold is not counted");
        assert_eq!(store.holds_of(buyer), 2);
        assert_eq!(store.pending_holds().unwrap(), 2);
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }

    #[tokio::test]
    async fn an_answered_write_survives_sled_losing_it() {
        let (dir, lost) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        Store::open(dir.path(), true)
            .unwrap()
            .close()
            .await
            .unwrap();
        // sled's files as they were before the write...
        copy_dir(&dir.path().join("sled"), &lost.path().join("sled"));
        let store = reopen(dir.path()).await;
        let u = user("d@example.com");
        let stored = u.clone();
        store
            .write(move |tx| tx.create_user(&stored))
            .await
            .unwrap();
        assert_eq!(store.events_after(0, 10).unwrap().events.len(), 1);
        // ...with the journal as the answer left it: a crash in which sled
        // kept none of the write.
        copy_dir(&dir.path().join("journal"), &lost.path().join("journal"));
        let restored = reopen(lost.path()).await;
        assert_eq!(restored.user_by_email(&u.email).unwrap(), Some(u));
        assert_eq!(restored.last_event_seq(), 1, "its event too");
        assert_eq!(
            std::fs::read_dir(lost.path().join("journal"))
                .unwrap()
                .filter_map(Result::ok)
                .map(|e| e.metadata().unwrap().len())
                .sum::<u64>(),
            0,
            "replayed once: the journal starts empty"
        );
    }

    #[tokio::test]
    async fn a_data_dir_without_hold_counts_is_counted_once_by_buyer() {
        use crate::domain::{Order, OrderId, Price, Ticket, Title, UserId};
        let dir = tempfile::tempdir().unwrap();
        let buyer = UserId::new();
        let ticket = Ticket::new(
            Title::parse("t").unwrap(),
            Price::from_cents(100).unwrap(),
            UserId::new(),
        );
        let place = || {
            Order::place(
                OrderId::for_ticket(ticket.id),
                buyer,
                &ticket,
                Timestamp::now(),
                std::time::Duration::from_secs(900),
            )
        };
        let (first, second) = (place(), place());
        let orphan = OrderId::new();
        {
            let store = Store::open(dir.path(), true).unwrap();
            let (one, two) = (first.clone(), second.clone());
            let seen = store
                .write(move |tx| {
                    tx.put_order(&one)?;
                    let after_one = tx.pending_holds_of(buyer)?;
                    tx.put_order(&two)?;
                    Ok((after_one, tx.pending_holds_of(buyer)?))
                })
                .await
                .unwrap();
            assert_eq!(seen, (1, 2), "a transaction sees its own holds");
            // A reminder as releases before buyers were named wrote it.
            store
                .tree(T::Reminders)
                .insert(orders::reminder_key(second.expires_at, second.id), &[])
                .unwrap();
            // One naming nobody, whose order is gone (a damaged store).
            store
                .tree(T::Reminders)
                .insert(orders::reminder_key(second.expires_at, orphan), &[])
                .unwrap();
            store.close().await.unwrap();
            // As a data dir from before the counts were kept left it.
            store.tree(T::Meta).remove(orders::HOLDS_TOTAL).unwrap();
            store.tree(T::Meta).flush().unwrap();
            store.tree(T::HoldCounts).clear().unwrap();
            store.tree(T::HoldCounts).flush().unwrap();
        }
        let store = reopen(dir.path()).await;
        assert_eq!(store.holds_of(buyer), 2, "counted at open");
        assert_eq!(
            store.pending_holds().unwrap(),
            3,
            "the orphan counts in the total"
        );
        assert!(store
            .drop_stale_reminder(second.expires_at, orphan)
            .await
            .unwrap());
        assert_eq!(
            store.pending_holds().unwrap(),
            2,
            "and leaves it when dropped"
        );
        assert!(
            !store
                .drop_stale_reminder(second.expires_at, orphan)
                .await
                .unwrap(),
            "once"
        );
        assert_eq!(store.pending_holds().unwrap(), 2);
        store
            .drop_stale_reminder(second.expires_at, second.id)
            .await
            .unwrap();
        assert_eq!(store.holds_of(buyer), 1);
        assert_eq!(store.pending_holds().unwrap(), 1);
        drop(store);
        // Counted once: the counts are on disk now, found as they are.
        let store = reopen(dir.path()).await;
        assert_eq!(
            (store.holds_of(buyer), store.pending_holds().unwrap()),
            (1, 1)
        );
    }

    #[tokio::test]
    async fn hold_counts_are_written_with_their_batch_and_never_counted_again() {
        use crate::domain::{Order, OrderId, Price, Ticket, Title, UserId};
        let dir = tempfile::tempdir().unwrap();
        let buyer = UserId::new();
        let hold = |store: &Store| {
            let ticket = Ticket::new(
                Title::parse("t").unwrap(),
                Price::from_cents(100).unwrap(),
                UserId::new(),
            );
            let order = Order::place(
                OrderId::for_ticket(ticket.id),
                buyer,
                &ticket,
                Timestamp::now(),
                std::time::Duration::from_secs(900),
            );
            store.submit(move |tx| tx.put_order(&order))
        };
        // A reminder the counts do not know of: only a count would find it.
        let unknown = orders::reminder_key(Timestamp::now(), OrderId::new());
        {
            let store = Store::open(dir.path(), true).unwrap();
            hold(&store).await.unwrap();
            hold(&store).await.unwrap();
            store.tree(T::Reminders).insert(unknown, &[]).unwrap();
            // No close: the start after a crash replays the journal.
        }
        {
            let store = reopen(dir.path()).await;
            assert_eq!(store.pending_holds().unwrap(), 2, "not a count");
            assert_eq!(store.holds_of(buyer), 2);
            hold(&store).await.unwrap();
            store.close().await.unwrap();
        }
        let store = reopen(dir.path()).await;
        assert_eq!(store.pending_holds().unwrap(), 3);
        assert_eq!(store.holds_of(buyer), 3);
    }

    #[tokio::test]
    async fn pending_orders_of_an_older_data_dir_become_reminders() {
        use crate::domain::OrderId;
        let dir = tempfile::tempdir().unwrap();
        let id = OrderId::new();
        let due = Timestamp::from_millis(1_000);
        {
            // The layout before reminders: order id -> deadline.
            let db = sled::open(dir.path().join("sled")).unwrap();
            let old = db.open_tree("pending_orders").unwrap();
            old.insert(id.as_bytes(), &due.as_millis().to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        let store = Store::open(dir.path(), true).unwrap();
        assert_eq!(
            store
                .due_reminders(Timestamp::from_millis(999), 10)
                .unwrap(),
            [],
            "not due before its deadline"
        );
        assert_eq!(
            store.due_reminders(Timestamp::now(), 10).unwrap(),
            [(due, id)]
        );
        store.close().await.unwrap();
        drop(store);
        let db = once_free(|| sled::open(dir.path().join("sled"))).await;
        assert!(!db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == b"pending_orders"));
    }
}
