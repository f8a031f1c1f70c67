//! Orders by id, with two indexes kept in the same transaction: each
//! buyer's orders (oldest first), and the reminders: one per pending order,
//! keyed by its deadline (so what falls due next is the start of the tree),
//! holding its buyer's id. A hold costs these bytes, not an actor or a
//! timer in memory. The pending holds are also counted, by buyer and in
//! all, by the same transactions: a cap on them is checked inside the
//! transaction that would add one, and no start counts them again.

use std::{collections::HashMap, ops::Bound};

use super::{codec, get, scan, tx_get, Store, StoreError, Tx, TxResult, T};
use crate::domain::{Order, OrderId, Timestamp, UserId};

/// The `meta` key of the number of pending holds (big-endian `i64`). The
/// counts by buyer are in their own tree; both are there once this key is.
pub(super) const HOLDS_TOTAL: &str = "pending_holds";

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

/// Pending holds waiting for payment, from what is on disk (for metrics).
pub(super) fn pending_total(meta: &sled::Tree) -> Result<i64, StoreError> {
    Ok(meta.get(HOLDS_TOTAL)?.map_or(0, |v| decode_count(&v)))
}

fn decode_count(bytes: &[u8]) -> i64 {
    <[u8; 8]>::try_from(bytes).map_or(0, i64::from_be_bytes)
}

/// Data dirs written before the counts were kept on disk: counts the
/// reminder index once (seconds at 1,000,000 holds) and writes the counts,
/// the total last, so a stop cut short here counts again at the next open.
/// A reminder written before reminders named their buyer costs a read of
/// its order.
pub(super) fn count_holds_once(
    reminders: &sled::Tree,
    orders: &sled::Tree,
    counts: &sled::Tree,
    meta: &sled::Tree,
) -> Result<(), StoreError> {
    if meta.contains_key(HOLDS_TOTAL)? {
        return Ok(());
    }
    let mut total = 0i64;
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
    counts.clear()?;
    for (buyer, n) in by_user {
        counts.insert(buyer.as_bytes(), &n.to_be_bytes())?;
    }
    counts.flush()?;
    meta.insert(HOLDS_TOTAL, &total.to_be_bytes())?;
    meta.flush()?;
    Ok(())
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
    pub(crate) fn pending_holds_of(&self, buyer: UserId) -> TxResult<u32> {
        Ok(self
            .get(T::HoldCounts, buyer.as_bytes())?
            .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
            .map_or(0, u32::from_be_bytes))
    }

    /// Counts a hold added (`+1`) or cleared (`-1`), in all and by its
    /// buyer (`None`: unknown, in the total only), in this write.
    fn count_hold(&mut self, buyer: Option<UserId>, d: i32) -> TxResult<()> {
        if let Some(buyer) = buyer {
            let n = self.pending_holds_of(buyer)?.saturating_add_signed(d);
            if n == 0 {
                self.remove(T::HoldCounts, buyer.as_bytes())?;
            } else {
                self.put(T::HoldCounts, buyer.as_bytes(), &n.to_be_bytes()[..]);
            }
        }
        let total = self
            .get(T::Meta, HOLDS_TOTAL.as_bytes())?
            .map_or(0, |v| decode_count(&v));
        self.put(
            T::Meta,
            HOLDS_TOTAL.as_bytes(),
            &(total + i64::from(d)).to_be_bytes()[..],
        );
        Ok(())
    }

    pub(crate) fn order(&self, id: OrderId) -> TxResult<Option<Order>> {
        tx_get(self, T::Orders, id.as_bytes())
    }

    /// A new order (its id is fresh): its record, its buyer's index entry
    /// and, while pending, its reminder, put without looking for what was
    /// there, since nothing was (three lookups fewer per BUY on the writer).
    pub(crate) fn place_order(&mut self, order: &Order) -> TxResult<()> {
        self.put(T::Orders, order.id.as_bytes(), codec::encode(order));
        self.put(T::UserOrders, &user_key(order.user_id, order.id), &[][..]);
        if order.is_pending() {
            let reminder = reminder_key(order.expires_at, order.id);
            self.put(T::Reminders, &reminder, order.user_id.as_bytes());
            self.count_hold(Some(order.user_id), 1)?;
        }
        Ok(())
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
                self.count_hold(Some(order.user_id), 1)?;
            }
        } else if self.remove(T::Reminders, &reminder)?.is_some() {
            self.count_hold(Some(order.user_id), -1)?;
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
        self.count_hold(buyer, -1)?;
        Ok(true)
    }
}
