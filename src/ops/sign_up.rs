//! Sign up: a new account, unique by email. The password is hashed on the
//! node that took the request; the email's home node claims the email.

use serde::{Deserialize, Serialize};

use std::net::IpAddr;

use super::{Home, Operation, Ops};
use crate::{
    domain::{Email, Password, User},
    error::Result,
    records::{Recorded, UserRecord},
    store::StoreError,
    throttle::Client,
};

/// Creates the account on the email's home node; the transaction decides races.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CreateAccount {
    pub(crate) user: UserRecord,
}

impl Operation for CreateAccount {
    const NAME: &'static str = "create_account";
    type Reply = ();

    async fn apply(self, home: &Home) -> Result<()> {
        let user = User::from_record(self.user)?;
        Ok(home.write(move |tx| tx.create_user(&user)).await?)
    }
}

impl Ops {
    /// A new account, unless the email is taken. The password is hashed
    /// here; only the hash travels to the account's home node. "Email in
    /// use" counts as a failure for `client` (probing which emails have
    /// accounts is throttled like guessing passwords).
    pub async fn sign_up(&self, email: Email, password: Password, client: IpAddr) -> Result<User> {
        let client = Client::from(client);
        // Cheap early answer, before the slow hash.
        let taken = self.find_account_for(&email, Some(client)).await?.is_some();
        if taken {
            self.attempted(&email, client, Some(false)).await;
            return Err(StoreError::EmailTaken.into());
        }
        let created = self.create_account(email.clone(), password).await;
        // A sign-up that lost a race for the email is not counted: only
        // probing for taken emails is.
        let outcome = created.as_ref().ok().map(|_| true);
        self.attempted(&email, client, outcome).await;
        created
    }

    async fn create_account(&self, email: Email, password: Password) -> Result<User> {
        let hash = self.hasher.hash(&password).await?;
        let user = User::new(email, hash);
        let home = self.placement.account_home(&user.email);
        let user_record = user.to_record();
        self.run(home, CreateAccount { user: user_record }).await?;
        Ok(user)
    }
}
