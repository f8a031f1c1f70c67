//! Orders by id, with two indexes kept in the same transaction: each
//! buyer's orders (oldest first), and the reminders: one per pending order,
//! keyed by its deadline (so what falls due next is the start of the tree),
//! holding its buyer's id. A hold costs these bytes, not an actor or a
//! timer in memory; the store also counts pending holds by buyer, so a cap
//! on them is checked inside the transaction that would add one.

use std::{
    collections::HashMap,
    ops::Bound,
    sync::{
        atomic::{AtomicI64, Ordering},
        Mutex, MutexGuard,
    },
};

use super::{codec, get, scan, tx_get, Store, StoreError, Tx, TxResult, T};
use crate::{
    domain::{Order, OrderId, Timestamp, UserId},
    records::HoldsImage,
};

/// The `meta` key of the pending holds a clean stop counted.
pub(super) const HOLDS_IMAGE: &str = "pending_holds_image";

fn user_key(user: UserId, order: OrderId) -> [u8; 32] {
    let mut key = [0; 32];
    key[..16].copy_from_slice(user.as_bytes());
    key[16..].copy_from_slice(order.as_bytes());
    key
}

impl Store {
    /// Every order (for offline resharding).
    pub(crate) fn orders(&self) -> impl Iterator<Item = Result<Order, StoreError>> + '_ {
        scan(self.tree(T::Orders))
    }

    pub(crate) fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        get(self.tree(T::Orders), id.as_bytes())
    }

    /// Up to `limit` of `user`'s orders after the order `after`, oldest first.
    pub(crate) fn orders_of(
        &self,
        user: UserId,
        after: Option<OrderId>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        let start = match after {
            Some(after) => Bound::Excluded(user_key(user, after).to_vec()),
            None => Bound::Included(user.as_bytes().to_vec()),
        };
        let mut end = user.as_bytes().to_vec();
        end.extend_from_slice(&[0xff; 16]);
        let _whole = self.committed.whole_batches();
        let mut out = Vec::new();
        for entry in self
            .tree(T::UserOrders)
            .range::<Vec<u8>, _>((start, Bound::Included(end)))
            .take(limit)
        {
            let (key, _) = entry?;
            let id: [u8; 16] = key[16..]
                .try_into()
                .map_err(|_| StoreError::Corrupt("user order index".into()))?;
            if let Some(order) = self.order(OrderId::from_bytes(id))? {
                out.push(order);
            }
        }
        Ok(out)
    }

    /// Up to `limit` reminders due at or before `now`, earliest first.
    pub(crate) fn due_reminders(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(Timestamp, OrderId)>, StoreError> {
        let end = (now.as_millis().saturating_add(1)).to_be_bytes();
        self.tree(T::Reminders)
            .range(..end)
            .take(limit)
            .map(|entry| parse_reminder(&entry?.0))
            .collect()
    }
}

impl Store {
    /// Removes a reminder whose order is gone or already decided (only a
    /// damaged store has one), so it is not tried again forever. Whether
    /// there was one: the order's own decision may just have cleared it.
    pub(crate) async fn drop_stale_reminder(
        &self,
        due: Timestamp,
        order: OrderId,
    ) -> Result<bool, StoreError> {
        if !self
            .tree(T::Reminders)
            .contains_key(reminder_key(due, order))?
        {
            return Ok(false);
        }
        self.write(move |tx| tx.drop_reminder(due, order)).await
    }
}

/// Pending holds, in all and by buyer.
pub(super) struct PendingHolds {
    total: AtomicI64,
    by_user: Mutex<HashMap<UserId, u32>>,
}

impl PendingHolds {
    /// The counts at open: those a clean stop left in `meta` when nothing
    /// was written since (batch numbers only grow, so an equal stamp
    /// means the same reminders), or else a count of the reminder index,
    /// which takes seconds at 1,000,000 holds. `last_batch` is `None`
    /// without fsync, when a crash could have taken back batches the stamp
    /// counts. The saved counts are used once: the next stop saves its own.
    pub(super) fn open(
        reminders: &sled::Tree,
        orders: &sled::Tree,
        meta: &sled::Tree,
        last_batch: Option<u64>,
    ) -> Result<Self, StoreError> {
        if let Some(bytes) = meta.remove(HOLDS_IMAGE)? {
            match codec::decode::<HoldsImage>(&bytes) {
                Ok(image) if Some(image.batch) == last_batch => {
                    return Ok(Self {
                        total: AtomicI64::new(image.total),
                        by_user: Mutex::new(image.by_user.into_iter().collect()),
                    })
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pending holds image unreadable; counting"),
            }
        }
        Self::count(reminders, orders)
    }

    /// Leaves the counts in `meta` for the next open, stamped with the last
    /// batch written (at a clean stop, before the final flush).
    pub(super) fn save(&self, meta: &sled::Tree, last_batch: u64) -> Result<(), StoreError> {
        let image = HoldsImage {
            batch: last_batch,
            total: self.total(),
            by_user: self.by_user().iter().map(|(u, n)| (*u, *n)).collect(),
        };
        meta.insert(HOLDS_IMAGE, codec::encode(&image))?;
        Ok(())
    }

    /// Counts the reminder index. A reminder written before reminders
    /// named their buyer costs a read of its order.
    fn count(reminders: &sled::Tree, orders: &sled::Tree) -> Result<Self, StoreError> {
        let mut total = 0;
        let mut by_user: HashMap<UserId, u32> = HashMap::new();
        for entry in reminders.iter() {
            let (key, value) = entry?;
            total += 1;
            let buyer = match UserId::try_from_slice(&value) {
                Some(buyer) => Some(buyer),
                None => {
                    let (_, order) = parse_reminder(&key)?;
                    get::<Order>(orders, order.as_bytes())?.map(|o| o.user_id)
                }
            };
            if let Some(buyer) = buyer {
                *by_user.entry(buyer).or_default() += 1;
            }
        }
        Ok(Self {
            total: AtomicI64::new(total),
            by_user: Mutex::new(by_user),
        })
    }

    pub(super) fn total(&self) -> i64 {
        self.total.load(Ordering::Relaxed)
    }

    /// The counts by buyer, locked: the writer holds it across a batch
    /// (bodies and commit); others only read it.
    pub(super) fn by_user(&self) -> MutexGuard<'_, HashMap<UserId, u32>> {
        self.by_user.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a committed batch's changes (a hold of no known buyer
    /// changes the total only).
    pub(super) fn apply(
        &self,
        by_user: &mut HashMap<UserId, u32>,
        delta: &[(Option<UserId>, i32)],
    ) {
        for &(buyer, d) in delta {
            self.total.fetch_add(i64::from(d), Ordering::Relaxed);
            let Some(buyer) = buyer else { continue };
            let n = by_user.entry(buyer).or_default();
            *n = n.saturating_add_signed(d);
            if *n == 0 {
                by_user.remove(&buyer);
            }
        }
    }
}

/// A reminder's key: deadline (big-endian millis, so it sorts), then order id.
pub(super) fn reminder_key(due: Timestamp, order: OrderId) -> [u8; 24] {
    let mut key = [0; 24];
    key[..8].copy_from_slice(&due.as_millis().to_be_bytes());
    key[8..].copy_from_slice(order.as_bytes());
    key
}

fn parse_reminder(key: &[u8]) -> Result<(Timestamp, OrderId), StoreError> {
    let corrupt = || StoreError::Corrupt("reminder index".into());
    let due: [u8; 8] = key
        .get(..8)
        .ok_or_else(corrupt)?
        .try_into()
        .map_err(|_| corrupt())?;
    let id: [u8; 16] = key
        .get(8..)
        .ok_or_else(corrupt)?
        .try_into()
        .map_err(|_| corrupt())?;
    Ok((
        Timestamp::from_millis(u64::from_be_bytes(due)),
        OrderId::from_bytes(id),
    ))
}

/// Data dirs written before reminders kept pending orders in a tree keyed
/// by order id (value: the deadline); moves them into the reminders once.
pub(super) fn migrate_pending(db: &sled::Db, reminders: &sled::Tree) -> Result<(), StoreError> {
    const OLD: &str = "pending_orders";
    if !db.tree_names().iter().any(|n| n.as_ref() == OLD.as_bytes()) {
        return Ok(());
    }
    let old = db.open_tree(OLD)?;
    let corrupt = || StoreError::Corrupt("pending index".into());
    for entry in old.iter() {
        let (id, due) = entry?;
        let mut key = Vec::with_capacity(24);
        key.extend_from_slice(due.as_ref().get(..8).ok_or_else(corrupt)?);
        key.extend_from_slice(&id);
        reminders.insert(key, &[])?;
    }
    reminders.flush()?;
    db.drop_tree(OLD)?;
    db.flush()?;
    Ok(())
}

impl Tx<'_> {
    /// `buyer`'s holds waiting for payment, this transaction's included.
    pub(crate) fn pending_holds_of(&self, buyer: UserId) -> u32 {
        let before = self.holds_before.get(&buyer).copied().unwrap_or(0);
        let earlier = self.holds_batch.get(&Some(buyer)).copied().unwrap_or(0);
        let delta: i32 = self
            .holds_delta
            .iter()
            .filter(|(b, _)| *b == Some(buyer))
            .map(|(_, d)| d)
            .sum();
        before.saturating_add_signed(earlier + delta)
    }

    pub(crate) fn order(&self, id: OrderId) -> TxResult<Option<Order>> {
        tx_get(self, T::Orders, id.as_bytes())
    }

    pub(crate) fn put_order(&mut self, order: &Order) -> TxResult<()> {
        self.put(T::Orders, order.id.as_bytes(), codec::encode(order));
        self.insert(T::UserOrders, &user_key(order.user_id, order.id), &[][..])?;
        // The deadline never changes, so the key is known when it is cleared.
        let reminder = reminder_key(order.expires_at, order.id);
        if order.is_pending() {
            if self
                .insert(T::Reminders, &reminder, order.user_id.as_bytes())?
                .is_none()
            {
                self.holds_delta.push((Some(order.user_id), 1));
            }
        } else if self.remove(T::Reminders, &reminder)?.is_some() {
            self.holds_delta.push((Some(order.user_id), -1));
        }
        Ok(())
    }

    /// Removes a reminder whose order is gone or already decided (only a
    /// damaged store has one), so it is not tried again forever.
    pub(crate) fn drop_reminder(&mut self, due: Timestamp, order: OrderId) -> TxResult<bool> {
        let Some(value) = self.remove(T::Reminders, &reminder_key(due, order))? else {
            return Ok(false);
        };
        let buyer = match UserId::try_from_slice(&value) {
            Some(buyer) => Some(buyer),
            None => self.order(order)?.map(|o| o.user_id),
        };
        // A reminder naming nobody whose order is gone counted in the
        // total only.
        self.holds_delta.push((buyer, -1));
        Ok(true)
    }
}
