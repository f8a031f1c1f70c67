use super::{Email, Timestamp, UserId};

/// An account. `password_hash` is an argon2id PHC string, never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable for the account's life; sessions name it.
    pub id: UserId,
    /// Normalized; one account per address, and it picks the account's home node.
    pub email: Email,
    /// The argon2id PHC string (algorithm, parameters, salt and hash).
    pub password_hash: String,
    /// Starts at 0 and grows by one on every change.
    pub version: u64,
    /// When the account was signed up.
    pub created_at: Timestamp,
}

impl User {
    /// A fresh account, at version 0; `password_hash` is already hashed.
    pub fn new(email: Email, password_hash: String) -> Self {
        Self {
            id: UserId::new(),
            email,
            password_hash,
            version: 0,
            created_at: Timestamp::now(),
        }
    }

    /// Replaces the hash (the caller has hashed the new password).
    pub fn change_password(&mut self, password_hash: String) {
        self.password_hash = password_hash;
        self.version += 1;
    }
}
