//! Sign in: the account for an email and password. An unknown email and a
//! wrong password give the same error after the same amount of work.

use std::net::IpAddr;

use super::Ops;
use crate::{
    domain::{AccountStatus, Email, RuleError, User},
    error::{Error, Result},
};

impl Ops {
    /// The account for `email` and `password`, tried from `client`. An
    /// unknown email and a wrong password fail alike, after the same amount
    /// of work, and count alike against the client's failure budget.
    pub async fn sign_in(&self, email: &Email, password: &str, client: IpAddr) -> Result<User> {
        let (user, ok) = self.check_password(email, password, client.into()).await?;
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
