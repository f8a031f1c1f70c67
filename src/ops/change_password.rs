//! Change a password: checked against the current one on the node that took
//! the request (within the account's failure budget, as sign-in), stored on
//! the account's home node.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{
    domain::{Email, Password, User, UserId},
    error::{Error, Result},
    store::{abort, StoreError},
};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SetPassword {
    pub(crate) id: UserId,
    pub(crate) hash: String,
    /// The account's version when the current password was checked: a
    /// change made from an older version loses (compare-and-set).
    pub(crate) version: u64,
}

impl Operation for SetPassword {
    const NAME: &'static str = "set_password";
    /// The account after the change: its new session epoch.
    type Reply = User;

    async fn apply(self, home: &Home) -> Result<User> {
        let (id, version, hash) = (self.id, self.version, self.hash.clone());
        let written = home
            .write(move |tx| {
                let Some(mut user) = tx.user(id)? else {
                    return abort(StoreError::Corrupt(format!("no user {id}")));
                };
                if user.version != version {
                    return abort(StoreError::Stale("the account changed".into()));
                }
                user.change_password(hash);
                tx.put_user(&user)?;
                tx.emit(user.updated())?;
                Ok(user)
            })
            .await;
        match written {
            Ok(user) => Ok(user),
            Err(StoreError::Stale(_)) => Err(Error::invalid(
                "currentPassword",
                "The password was changed by another request meanwhile; sign in again",
            )),
            Err(e) => Err(e.into()),
        }
    }
}

impl Ops {
    /// Needs the current password. `email` is the signed-in account's, as
    /// accounts are found by email; any other is refused. Every session of
    /// the account ends (here at once); the account after the change is
    /// returned, for the caller's fresh session.
    pub async fn change_password(
        &self,
        id: UserId,
        email: &str,
        current: &str,
        new: Password,
        client: IpAddr,
    ) -> Result<User> {
        let not_you = || Error::Unauthorized("Not authorized".into());
        let email = Email::parse(email).map_err(|_| not_you())?;
        // Throttled like sign-in: a stolen session must not become a way to
        // guess the password it would then change.
        let (user, ok) = self.check_password(&email, current, client.into()).await?;
        let user = user.filter(|u| u.id == id).ok_or_else(not_you)?;
        if !ok {
            return Err(Error::invalid(
                "currentPassword",
                "Current password is incorrect",
            ));
        }
        let hash = self.hasher.hash(&new).await?;
        let home = self.placement.account_home(&email);
        let version = user.version;
        let user = self.run(home, SetPassword { id, hash, version }).await?;
        self.learn(&user);
        Ok(user)
    }
}
