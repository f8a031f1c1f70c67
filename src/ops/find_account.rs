//! Find an account by email, on the home node of that email. Sign-up, sign-in
//! and password changes start here; sign-in and sign-up name the client, and
//! the home's [`Throttle`] may refuse it for too many failures, which the
//! entry node reports back once it has checked the password.
//!
//! [`Throttle`]: crate::throttle::Throttle

use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{
    domain::{Email, User},
    error::{Error, Result},
    throttle::{Client, Refused},
};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct FindAccount {
    pub(crate) email: Email,
    /// Who is trying a password (or an email) on this account, if anyone.
    pub(crate) client: Option<Client>,
}

impl Operation for FindAccount {
    const NAME: &'static str = "find_account";
    type Reply = Option<User>;

    async fn apply(self, home: &Home) -> Result<Option<User>> {
        if let Some(client) = self.client {
            if let Err(Refused { wait, limit }) = home.throttle.check(&self.email, client) {
                metrics::counter!(crate::metrics::THROTTLED, "limit" => limit).increment(1);
                let secs = u32::try_from(wait.as_secs() + 1).unwrap_or(u32::MAX);
                return Err(Error::Throttled {
                    message: format!("Too many failed attempts; try again in {secs} seconds"),
                    retry_after_secs: secs,
                });
            }
        }
        Ok(home.store.user_by_email(&self.email)?)
    }
}

/// How an attempt `FindAccount` let through went: the password right or
/// wrong, or no answer (an error on the way).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Attempted {
    pub(crate) email: Email,
    pub(crate) client: Client,
    pub(crate) outcome: Option<bool>,
}

impl Operation for Attempted {
    const NAME: &'static str = "attempted";
    type Reply = ();

    async fn apply(self, home: &Home) -> Result<()> {
        home.throttle.record(&self.email, self.client, self.outcome);
        Ok(())
    }
}

impl Ops {
    /// Checks `password` for `email`, tried from `client`, within the
    /// account's failure budget: the one way sign-in and password changes
    /// test a password. An unknown email and a wrong password fail alike,
    /// after the same amount of work. The account and whether it matched.
    pub(crate) async fn check_password(
        &self,
        email: &Email,
        password: &str,
        client: Client,
    ) -> Result<(Option<User>, bool)> {
        let user = self.find_account_for(email, Some(client)).await?;
        let verified = self
            .hasher
            .verify(password, user.as_ref().map(|u| u.password_hash.as_str()))
            .await;
        let outcome = verified.as_ref().ok().map(|&ok| ok && user.is_some());
        self.attempted(email, client, outcome).await;
        Ok((user, verified?))
    }

    /// The account, unless `client` has failed on it too often; the
    /// caller must then report how the attempt went with
    /// [`Ops::attempted`].
    pub(crate) async fn find_account_for(
        &self,
        email: &Email,
        client: Option<Client>,
    ) -> Result<Option<User>> {
        let home = self.placement.account_home(email);
        let email = email.clone();
        self.run(home, FindAccount { email, client }).await
    }

    /// The account for `email`, for an admin looking it up: no password is
    /// tried, so no failure budget is spent or checked.
    pub(crate) async fn account(&self, email: &Email) -> Result<Option<User>> {
        self.find_account_for(email, None).await
    }

    /// Tells the account's home how an attempt went. Best effort: a home
    /// that cannot be told now loses one count, never an answer.
    pub(crate) async fn attempted(&self, email: &Email, client: Client, outcome: Option<bool>) {
        let home = self.placement.account_home(email);
        let email = email.clone();
        if let Err(e) = self
            .run(
                home,
                Attempted {
                    email,
                    client,
                    outcome,
                },
            )
            .await
        {
            tracing::debug!(error = %e, "attempt not counted");
        }
    }
}
