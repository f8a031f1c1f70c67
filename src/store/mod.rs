//! The only module that touches sled.
//!
//! One tree per record kind, plus indexes and the event log. Every change
//! goes through [`Store::write`]: one sled transaction over all trees, which
//! appends the change's events with gap-free sequence numbers, then a
//! [`Durability`] that resolves once a (shared) flush has put it on disk.

mod charges;
mod codec;
mod coupons;
mod events;
mod group_commit;
mod idempotency;
mod orders;
mod tickets;
mod users;

use std::{collections::HashMap, path::Path, sync::Mutex};

use sled::{
    transaction::{ConflictableTransactionError, TransactionError, TransactionalTree},
    Transactional,
};

pub(crate) use events::LogPage;
pub(crate) use group_commit::Durability;
pub(crate) use idempotency::{IdemKey, Scope};

use crate::{
    domain::{Event, EventKind, Timestamp, UserId},
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

/// What a transaction body returns: `?` on sled calls keeps conflicts retryable.
pub(crate) type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// Ends a transaction body with `err`, undoing everything it wrote.
pub(crate) fn abort<T>(err: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(err))
}

/// sled's page cache unless configured: sled's own default (1 GiB) is most
/// of a small machine's memory once a big onsale has filled it.
pub(crate) const DEFAULT_CACHE_BYTES: u64 = 256 * 1024 * 1024;

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
}

const TREE_NAMES: [&str; 12] = [
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
];

pub(crate) struct Store {
    db: sled::Db,
    trees: Vec<sled::Tree>,
    /// The write lock, holding the last event sequence number written:
    /// numbers are gap-free and in commit order (readers tail by `after=N`).
    last_seq: Mutex<u64>,
    group: group_commit::GroupCommit,
    /// Names this event log; a follower that sees another id re-reads it.
    log_id: u64,
    /// Pending holds on disk, in all and by buyer: counted once at open,
    /// then kept by the transactions that add and clear reminders.
    holds: orders::PendingHolds,
}

/// A transaction in progress: typed writers live in each record's module.
pub(crate) struct Tx<'a> {
    trees: &'a [TransactionalTree],
    next_seq: u64,
    at: Timestamp,
    emitted: Vec<Event>,
    /// Pending holds by buyer before this transaction (writes are serial).
    holds_before: &'a HashMap<UserId, u32>,
    /// Holds this transaction added (+1) and cleared (-1), by buyer.
    holds_delta: Vec<(UserId, i32)>,
}

impl Tx<'_> {
    fn tree(&self, t: T) -> &TransactionalTree {
        &self.trees[t as usize]
    }

    /// Appends an event to the log, in this transaction.
    pub(crate) fn emit(&mut self, kind: EventKind) -> TxResult<()> {
        let event = Event {
            seq: self.next_seq,
            at: self.at,
            kind,
        };
        self.next_seq += 1;
        self.tree(T::Events)
            .insert(&event.seq.to_be_bytes(), codec::encode(&event))?;
        self.emitted.push(event);
        Ok(())
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`. With `durable == false`,
    /// writes are acknowledged before reaching disk: for benchmarks only.
    /// Must be called inside a tokio runtime (it starts the flusher).
    pub(crate) fn open(dir: &Path, durable: bool) -> Result<Self, StoreError> {
        Self::open_with_cache(dir, durable, DEFAULT_CACHE_BYTES)
    }

    /// [`Store::open`] with sled's page cache capped at `cache_bytes`.
    pub(crate) fn open_with_cache(
        dir: &Path,
        durable: bool,
        cache_bytes: u64,
    ) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir.join("sled"))
            .cache_capacity(cache_bytes)
            .flush_every_ms(if durable { None } else { Some(500) })
            .open()?;
        let trees = TREE_NAMES
            .iter()
            .map(|name| db.open_tree(name))
            .collect::<Result<Vec<_>, _>>()?;
        orders::migrate_pending(&db, &trees[T::Reminders as usize])?;
        let last_seq = events::last_seq(&trees[T::Events as usize])?;
        let log_id = events::log_id(&trees[T::Meta as usize], durable)?;
        let group = group_commit::GroupCommit::start(db.clone(), durable, last_seq);
        let holds =
            orders::PendingHolds::count(&trees[T::Reminders as usize], &trees[T::Orders as usize])?;
        Ok(Self {
            holds,
            db,
            trees,
            last_seq: Mutex::new(last_seq),
            group,
            log_id,
        })
    }

    /// Registers the one observer of events, told of each once it is on disk.
    pub(crate) fn observe(&self, observer: impl Fn(&Event) + Send + Sync + 'static) {
        self.group.observe(Box::new(observer));
    }

    fn tree(&self, t: T) -> &sled::Tree {
        &self.trees[t as usize]
    }

    /// Runs `body` as one transaction over every tree. The body may run more
    /// than once, so it must only compute and write through `tx`.
    pub(crate) fn write<R>(
        &self,
        body: impl Fn(&mut Tx<'_>) -> TxResult<R>,
    ) -> Result<(R, Durability), StoreError> {
        let mut last_seq = self.last_seq.lock().unwrap_or_else(|p| p.into_inner());
        if self.group.is_closed() {
            // After close a write could never be flushed: refuse it (a 503).
            return Err(StoreError::Flush("the node is shutting down".into()));
        }
        let at = Timestamp::now();
        let trees: Vec<&sled::Tree> = self.trees.iter().collect();
        let begun = self.group.begin();
        let mut holds = self.holds.by_user();
        let result = trees.as_slice().transaction(|view| {
            let mut tx = Tx {
                trees: view,
                next_seq: *last_seq + 1,
                at,
                emitted: Vec::new(),
                holds_before: &holds,
                holds_delta: Vec::new(),
            };
            let out = body(&mut tx)?;
            Ok((out, tx.next_seq - 1, tx.emitted, tx.holds_delta))
        });
        match result {
            Ok((out, seq, emitted, holds_delta)) => {
                *last_seq = seq;
                self.holds.apply(&mut holds, &holds_delta);
                Ok((out, begun.end(emitted)))
            }
            Err(e) => {
                let _ = begun.end(Vec::new());
                match e {
                    TransactionError::Abort(e) => Err(e),
                    TransactionError::Storage(e) => Err(e.into()),
                }
            }
        }
    }

    /// Runs `read` and returns its answer once everything it could have
    /// seen is on disk: nothing is shown that a crash could still undo.
    pub(crate) async fn durable<R>(
        &self,
        read: impl FnOnce(&Self) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let answer = read(self)?;
        self.read_marker().wait().await?;
        Ok(answer)
    }

    /// Resolves once everything committed (or being committed) so far is on
    /// disk: a restarted actor says nothing about earlier writes before that.
    pub(crate) fn read_marker(&self) -> Durability {
        self.group.read_marker()
    }

    /// Holds waiting for payment (committed; for metrics).
    pub(crate) fn pending_holds(&self) -> i64 {
        self.holds.total()
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

    /// Refuses further writes, flushes everything committed and stops the
    /// background flusher (on shutdown).
    pub(crate) async fn close(&self) -> Result<(), StoreError> {
        {
            // Under the write lock: no transaction is between begin and end.
            let _writes = self.last_seq.lock().unwrap_or_else(|p| p.into_inner());
            self.group.close();
        }
        self.group.closed().await;
        self.db.flush_async().await?;
        Ok(())
    }
}

/// Every record in `tree`, in key order.
fn scan<V: Recorded>(tree: &sled::Tree) -> impl Iterator<Item = Result<V, StoreError>> + '_ {
    tree.iter().values().map(|v| codec::decode(&v?))
}

fn get<V: Recorded>(tree: &sled::Tree, key: &[u8]) -> Result<Option<V>, StoreError> {
    tree.get(key)?.map(|v| codec::decode(&v)).transpose()
}

fn tx_get<V: Recorded>(tree: &TransactionalTree, key: &[u8]) -> TxResult<Option<V>> {
    match tree.get(key)? {
        None => Ok(None),
        Some(v) => codec::decode(&v).map(Some).or_else(abort),
    }
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
}

#[cfg(test)]
mod tests {
    use super::{test_support::temp_store, *};
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
            let (_, d) = store
                .write(|tx| {
                    tx.put_ticket(&t)?;
                    tx.emit(EventKind::TicketCreated(TicketEvent::from(&t)))?;
                    tx.emit(EventKind::TicketUpdated(TicketEvent::from(&t)))
                })
                .unwrap();
            d.wait().await.unwrap();
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
        create(&first).unwrap().1.wait().await.unwrap();
        let second = user("a@example.com");
        assert!(matches!(create(&second), Err(StoreError::EmailTaken)));
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
        let refused = store.write(|tx| tx.create_user(&u));
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
            let (_, d) = store
                .write(|tx| {
                    tx.insert_user(&u)?;
                    tx.emit(EventKind::UserUpdated {
                        id: u.id,
                        version: 0,
                        status: crate::domain::AccountStatus::Active,
                        sessions_from: 0,
                    })
                })
                .unwrap();
            d.wait().await.unwrap();
            store.close().await.unwrap();
            store.log_id
        };
        // sled lets go of its file lock from a background thread after the
        // last handle drops; give it a moment on a busy machine.
        let mut attempts = 0;
        let store = loop {
            match Store::open(dir.path(), true) {
                Ok(s) => break s,
                Err(e) if attempts < 50 => {
                    attempts += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("reopening: {e}"),
            }
        };
        assert_eq!(store.user(u.id).unwrap(), Some(u.clone()));
        assert_eq!(store.log_id, log_id, "the same log after a restart");
        let (_, d) = store
            .write(|tx| {
                tx.emit(EventKind::UserUpdated {
                    id: u.id,
                    version: 1,
                    status: crate::domain::AccountStatus::Active,
                    sessions_from: 0,
                })
            })
            .unwrap();
        d.wait().await.unwrap();
        assert_eq!(store.last_event_seq(), 2, "numbering continues");
        let (_other_dir, other) = temp_store();
        assert_ne!(other.log_id, log_id, "another data dir, another log");
    }

    #[tokio::test]
    async fn reads_and_the_log_wait_for_the_flush() {
        let (_dir, store) = temp_store();
        let u = user("d@example.com");
        let (_, written) = store.write(|tx| tx.create_user(&u)).unwrap();
        // Whatever a read saw, its marker covers; the log shows only what
        // the flusher has confirmed.
        let seen = store.durable(|s| s.user(u.id)).await.unwrap();
        assert_eq!(seen, Some(u.clone()));
        assert!(written.is_done(), "the read waited for the write it saw");
        assert_eq!(store.events_after(0, 10).unwrap().events.len(), 1);
        assert_eq!(store.last_event_seq(), 1);
    }

    #[tokio::test]
    async fn pending_holds_are_counted_by_buyer_across_a_restart() {
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
        {
            let store = Store::open(dir.path(), true).unwrap();
            let (seen, d) = store
                .write(|tx| {
                    tx.put_order(&first)?;
                    let after_one = tx.pending_holds_of(buyer);
                    tx.put_order(&second)?;
                    Ok((after_one, tx.pending_holds_of(buyer)))
                })
                .unwrap();
            d.wait().await.unwrap();
            assert_eq!(seen, (1, 2), "a transaction sees its own holds");
            // A reminder as releases before buyers were named wrote it.
            store
                .tree(T::Reminders)
                .insert(orders::reminder_key(second.expires_at, second.id), &[])
                .unwrap();
            store.close().await.unwrap();
        }
        // sled lets go of its lock from a background thread: retry a while.
        let mut attempts = 0;
        let store = loop {
            match Store::open(dir.path(), true) {
                Ok(s) => break s,
                Err(e) if attempts < 50 => {
                    attempts += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("reopening: {e}"),
            }
        };
        assert_eq!(
            store.holds.by_user().get(&buyer),
            Some(&2),
            "counted at open"
        );
        assert_eq!(store.pending_holds(), 2);
        store
            .drop_stale_reminder(second.expires_at, second.id)
            .unwrap();
        assert_eq!(store.holds.by_user().get(&buyer), Some(&1));
        assert_eq!(store.pending_holds(), 1);
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
        assert!(!store
            .db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == b"pending_orders"));
    }
}
