//! Find an account by email, on the home node of that email. Sign-up, sign-in
//! and password changes start here.

use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{
    domain::{Email, User},
    error::Result,
};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct FindAccount {
    pub(crate) email: Email,
}

impl Operation for FindAccount {
    const NAME: &'static str = "find_account";
    type Reply = Option<User>;

    async fn apply(self, home: &Home) -> Result<Option<User>> {
        Ok(home.store.durable(|s| s.user_by_email(&self.email)).await?)
    }
}

impl Ops {
    pub(crate) async fn find_account(&self, email: &Email) -> Result<Option<User>> {
        let home = self.placement.account_home(email);
        let email = email.clone();
        self.run(home, FindAccount { email }).await
    }
}
