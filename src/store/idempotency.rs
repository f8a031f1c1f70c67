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
    scope: Scope,
    user: UserId,
    subject: &'a [u8; 16],
    key: &'a str,
}

impl<'a> IdemKey<'a> {
    /// The client's `key` placed, if it sent one: without one nothing is
    /// looked up or remembered.
    pub(crate) fn given(
        scope: Scope,
        user: UserId,
        subject: &'a [u8; 16],
        key: Option<&'a str>,
    ) -> Option<Self> {
        key.map(|key| Self {
            scope,
            user,
            subject,
            key,
        })
    }

    fn bytes(&self) -> Vec<u8> {
        let mut k = vec![self.scope as u8];
        k.extend_from_slice(self.user.as_bytes());
        k.extend_from_slice(self.subject);
        k.extend_from_slice(self.key.as_bytes());
        k
    }
}

impl Store {
    /// The first outcome under `key`; none without a key.
    pub(crate) fn remembered<V: Recorded>(
        &self,
        key: Option<IdemKey<'_>>,
    ) -> Result<Option<V>, StoreError> {
        match key {
            Some(key) => get(self.tree(T::Idempotency), &key.bytes()),
            None => Ok(None),
        }
    }
}

impl Tx<'_> {
    /// Remembers the first outcome under `key` (nothing without one).
    /// Callers look for one first (in the actor that alone answers for the
    /// subject), so the write does not look again.
    pub(crate) fn remember<V: Recorded>(
        &mut self,
        key: Option<IdemKey<'_>>,
        outcome: &V,
    ) -> TxResult<()> {
        if let Some(key) = key {
            self.put(T::Idempotency, &key.bytes(), codec::encode(outcome));
        }
        Ok(())
    }
}
