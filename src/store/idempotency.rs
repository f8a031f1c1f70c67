//! Outcomes remembered by idempotency key, so a retried request returns the
//! first answer instead of acting twice.

use super::{codec, get, Store, StoreError, Tx, TxResult, T};
use crate::{domain::UserId, records::Recorded};

/// Which kind of request a key belongs to. Keys are scoped to the user and
/// to the subject (the ticket of a BUY, the order of a payment), so a key
/// reused on another ticket is a new request, not someone else's answer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope {
    Reserve,
    Pay,
}

/// A client's key, placed: who sent it, about what, for which kind of request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdemKey<'a> {
    pub scope: Scope,
    pub user: UserId,
    pub subject: &'a [u8; 16],
    pub key: &'a str,
}

impl IdemKey<'_> {
    fn bytes(&self) -> Vec<u8> {
        let mut k = vec![self.scope as u8];
        k.extend_from_slice(self.user.as_bytes());
        k.extend_from_slice(self.subject);
        k.extend_from_slice(self.key.as_bytes());
        k
    }
}

impl Store {
    pub(crate) fn remembered<V: Recorded>(
        &self,
        key: IdemKey<'_>,
    ) -> Result<Option<V>, StoreError> {
        get(self.tree(T::Idempotency), &key.bytes())
    }
}

impl Tx<'_> {
    /// Remembers the first outcome under `key`. Callers look for one first
    /// (in the actor that alone answers for the subject), so the write does
    /// not look again.
    pub(crate) fn remember<V: Recorded>(&mut self, key: IdemKey<'_>, outcome: &V) -> TxResult<()> {
        self.put(T::Idempotency, &key.bytes(), codec::encode(outcome));
        Ok(())
    }
}
