//! Outcomes remembered by idempotency key, so a retried request returns the
//! first answer instead of acting twice.

use serde::{de::DeserializeOwned, Serialize};

use super::{codec, get, tx_get, Store, StoreError, Tx, TxResult, T};
use crate::domain::UserId;

/// Which kind of request a key belongs to; keys are scoped per user too.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    Reserve,
    Pay,
}

fn key(scope: Scope, user: UserId, client_key: &str) -> Vec<u8> {
    let mut k = vec![scope as u8];
    k.extend_from_slice(user.as_bytes());
    k.extend_from_slice(client_key.as_bytes());
    k
}

impl Store {
    pub fn remembered<V: DeserializeOwned>(
        &self,
        scope: Scope,
        user: UserId,
        client_key: &str,
    ) -> Result<Option<V>, StoreError> {
        get(self.tree(T::Idempotency), &key(scope, user, client_key))
    }
}

impl Tx<'_> {
    pub fn remembered<V: DeserializeOwned>(
        &self,
        scope: Scope,
        user: UserId,
        client_key: &str,
    ) -> TxResult<Option<V>> {
        tx_get(self.tree(T::Idempotency), &key(scope, user, client_key))
    }

    pub fn remember<V: Serialize>(
        &mut self,
        scope: Scope,
        user: UserId,
        client_key: &str,
        outcome: &V,
    ) -> TxResult<()> {
        self.tree(T::Idempotency)
            .insert(key(scope, user, client_key), codec::encode(outcome))?;
        Ok(())
    }
}
