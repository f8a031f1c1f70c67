//! Orders by id, with two indexes kept in the same transaction: each
//! buyer's orders (oldest first) and the pending ones (to re-arm their
//! timers after a restart).

use super::{codec, get, scan, tx_get, Store, StoreError, Tx, TxResult, T};
use crate::domain::{Order, OrderId, Timestamp, UserId};

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

    /// `user`'s orders, oldest first.
    pub(crate) fn orders_of(&self, user: UserId) -> Result<Vec<Order>, StoreError> {
        let mut out = Vec::new();
        for entry in self.tree(T::UserOrders).scan_prefix(user.as_bytes()) {
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

    /// Orders still waiting for payment, with their deadlines.
    pub(crate) fn pending_orders(&self) -> Result<Vec<(OrderId, Timestamp)>, StoreError> {
        let corrupt = || StoreError::Corrupt("pending index".into());
        self.tree(T::Pending)
            .iter()
            .map(|entry| {
                let (k, v) = entry?;
                let id: [u8; 16] = k.as_ref().try_into().map_err(|_| corrupt())?;
                let deadline: [u8; 8] = v.as_ref().try_into().map_err(|_| corrupt())?;
                Ok((
                    OrderId::from_bytes(id),
                    Timestamp::from_millis(u64::from_be_bytes(deadline)),
                ))
            })
            .collect()
    }
}

impl Tx<'_> {
    pub(crate) fn order(&self, id: OrderId) -> TxResult<Option<Order>> {
        tx_get(self.tree(T::Orders), id.as_bytes())
    }

    pub(crate) fn put_order(&mut self, order: &Order) -> TxResult<()> {
        self.tree(T::Orders)
            .insert(order.id.as_bytes(), codec::encode(order))?;
        self.tree(T::UserOrders)
            .insert(&user_key(order.user_id, order.id), &[])?;
        let pending = self.tree(T::Pending);
        if order.is_pending() {
            pending.insert(
                order.id.as_bytes(),
                &order.expires_at.as_millis().to_be_bytes(),
            )?;
        } else {
            pending.remove(order.id.as_bytes())?;
        }
        Ok(())
    }
}
