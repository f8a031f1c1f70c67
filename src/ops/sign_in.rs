//! Sign in: the account for an email and password. An unknown email and a
//! wrong password give the same error after the same amount of work.

use super::Ops;
use crate::{
    domain::{AccountStatus, Email, RuleError, User},
    error::{Error, Result},
};

impl Ops {
    /// The account for `email` and `password`. An unknown email and a wrong
    /// password fail alike, after the same amount of work.
    pub async fn sign_in(&self, email: &Email, password: &str) -> Result<User> {
        let user = self.find_account(email).await?;
        let ok = self
            .hasher
            .verify(password, user.as_ref().map(|u| u.password_hash.as_str()))
            .await?;
        match user {
            // Said only to whoever knows the password.
            Some(user) if ok && user.status == AccountStatus::Banned => {
                Err(RuleError::AccountSuspended.into())
            }
            Some(user) if ok => Ok(user),
            _ => Err(Error::bad_request("Invalid credentials")),
        }
    }
}
