//! Ban an account or lift the ban. Accounts live on the home of their
//! email, and an admin names them by id, so the request goes to every node
//! and the one that holds the account answers. A ban ends every session of
//! the account (its session epoch goes up) and sign-in then answers
//! "Account suspended"; its tickets and orders stay as they are.

use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{
    domain::{AccountStatus, User, UserId},
    error::{Error, Result},
};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SetStatus {
    pub(crate) id: UserId,
    pub(crate) status: AccountStatus,
}

impl Operation for SetStatus {
    const NAME: &'static str = "set_status";
    /// The account after the change, when it lives here.
    type Reply = Option<User>;

    async fn apply(self, home: &Home) -> Result<Option<User>> {
        let status = self.status;
        // Every node is asked; only the account's home writes anything.
        if home.store.user(self.id)?.is_none() {
            return Ok(None);
        }
        let id = self.id;
        let written = home
            .write(move |tx| {
                let Some(mut user) = tx.user(id)? else {
                    return Ok(None);
                };
                if user.set_status(status) {
                    tx.put_user(&user)?;
                    tx.emit(user.updated())?;
                }
                Ok(Some(user))
            })
            .await;
        Ok(written?)
    }
}

impl Ops {
    /// Bans `id` or lifts its ban, wherever the account lives; the account
    /// after the change. A node that does not answer leaves the outcome
    /// unknown only if no other node had the account (503). An admin may
    /// not change their own standing (a ban would lock them out).
    pub async fn set_status(&self, by: UserId, id: UserId, status: AccountStatus) -> Result<User> {
        if by == id {
            return Err(Error::bad_request(
                "You cannot change your own account's standing",
            ));
        }
        let members = self.placement.members().to_vec();
        let asks = members
            .iter()
            .map(|m| self.run(m, SetStatus { id, status }));
        let mut unreachable = None;
        for answer in futures::future::join_all(asks).await {
            match answer {
                Ok(Some(user)) => {
                    self.learn(&user);
                    return Ok(user);
                }
                Ok(None) => {}
                Err(e) => unreachable = Some(e),
            }
        }
        Err(unreachable.unwrap_or_else(|| Error::not_found("User")))
    }
}
