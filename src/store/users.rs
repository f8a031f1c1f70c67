//! Accounts, and the email → id index that makes emails unique.

use super::{abort, codec, get, scan, tx_get, Store, StoreError, Tx, TxResult, T};
use crate::domain::{Email, EventKind, User, UserId};

impl Store {
    /// Every account (for offline resharding).
    pub(crate) fn users(&self) -> impl Iterator<Item = Result<User, StoreError>> + '_ {
        scan(self.tree(T::Users))
    }

    pub(crate) fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        get(self.tree(T::Users), id.as_bytes())
    }

    pub(crate) fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let _whole = self.committed.whole_batches();
        match self.tree(T::Emails).get(email.as_str())? {
            None => Ok(None),
            Some(id) => {
                let id = UserId::from_bytes(
                    id.as_ref()
                        .try_into()
                        .map_err(|_| StoreError::Corrupt("email index".into()))?,
                );
                self.user(id)
            }
        }
    }
}

impl Tx<'_> {
    /// Adds a new account; aborts with [`StoreError::EmailTaken`] when the
    /// email already belongs to someone (the check and the claim are atomic).
    pub(crate) fn insert_user(&mut self, user: &User) -> TxResult<()> {
        let email = user.email.as_str().as_bytes();
        if self.get(T::Emails, email)?.is_some() {
            return abort(StoreError::EmailTaken);
        }
        self.insert(T::Emails, email, user.id.as_bytes())?;
        self.put_user(user)
    }

    /// A new account and its UserCreated event.
    pub(crate) fn create_user(&mut self, user: &User) -> TxResult<()> {
        self.insert_user(user)?;
        self.emit(EventKind::UserCreated {
            id: user.id,
            email: user.email.clone(),
            version: user.version,
        })
    }

    pub(crate) fn user(&self, id: UserId) -> TxResult<Option<User>> {
        tx_get(self, T::Users, id.as_bytes())
    }

    pub(crate) fn put_user(&mut self, user: &User) -> TxResult<()> {
        self.insert(T::Users, user.id.as_bytes(), codec::encode(user))?;
        Ok(())
    }
}
