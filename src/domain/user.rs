use super::{Email, Timestamp, UserId};

/// An account. `password_hash` is an argon2id PHC string, never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub password_hash: String,
    pub version: u64,
    pub created_at: Timestamp,
}

impl User {
    pub fn new(email: Email, password_hash: String) -> Self {
        Self {
            id: UserId::new(),
            email,
            password_hash,
            version: 0,
            created_at: Timestamp::now(),
        }
    }

    pub fn change_password(&mut self, password_hash: String) {
        self.password_hash = password_hash;
        self.version += 1;
    }
}
