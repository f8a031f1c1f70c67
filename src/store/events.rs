//! The event log: sequence number (big-endian, so it sorts) → event.

use super::{codec, Store, StoreError, T};
use crate::domain::Event;

pub(super) fn last_seq(tree: &sled::Tree) -> Result<u64, StoreError> {
    match tree.last()? {
        None => Ok(0),
        Some((k, _)) => Ok(u64::from_be_bytes(
            k.as_ref()
                .try_into()
                .map_err(|_| StoreError::Corrupt("event key".into()))?,
        )),
    }
}

impl Store {
    /// Up to `limit` events with a sequence number above `after`, in order.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        let start = after.saturating_add(1).to_be_bytes();
        self.tree(T::Events)
            .range(start..)
            .take(limit)
            .map(|entry| codec::decode(&entry?.1))
            .collect()
    }

    pub fn last_event_seq(&self) -> Result<u64, StoreError> {
        last_seq(self.tree(T::Events))
    }
}
