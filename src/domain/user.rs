use super::{Email, Timestamp, UserId};

/// How long a session token is good for; a live session is renewed before
/// it runs out, an ended one is not.
pub const SESSION_TTL_SECS: u64 = 15 * 60;

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
    /// Whether the account may sign in.
    pub status: AccountStatus,
    /// The session epoch: a session started at a lower epoch has ended.
    /// Raising it ends every session of the account at once, on every node,
    /// without a list of the sessions.
    pub sessions_from: u64,
}

/// Whether an account may sign in. Only an admin bans or lifts a ban.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum AccountStatus {
    /// Signs in and acts as usual.
    #[default]
    Active,
    /// Suspended by an admin: cannot sign in, and no session is renewed.
    Banned,
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
            status: AccountStatus::Active,
            sessions_from: 0,
        }
    }

    /// Replaces the hash (the caller has hashed the new password) and ends
    /// every session: whoever knew the old password is signed out.
    pub fn change_password(&mut self, password_hash: String) {
        self.password_hash = password_hash;
        self.end_sessions();
    }

    /// Bans or lifts the ban; a ban ends every session. Returns whether
    /// anything changed (a repeat is not a change, and writes nothing).
    pub fn set_status(&mut self, status: AccountStatus) -> bool {
        if self.status == status {
            return false;
        }
        self.status = status;
        if status == AccountStatus::Banned {
            self.end_sessions();
        } else {
            self.version += 1;
        }
        true
    }

    /// Whether a session started at `epoch` is still one of this account's.
    pub fn session_live(&self, epoch: u64) -> bool {
        self.status == AccountStatus::Active && epoch >= self.sessions_from
    }

    /// The event that tells every node of a change to this account.
    pub fn updated(&self) -> super::EventKind {
        super::EventKind::UserUpdated {
            id: self.id,
            version: self.version,
            status: self.status,
            sessions_from: self.sessions_from,
        }
    }

    fn end_sessions(&mut self) {
        self.sessions_from += 1;
        self.version += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User::new(Email::parse("a@b.co").unwrap(), "$argon2id$x".into())
    }

    #[test]
    fn a_password_change_ends_every_earlier_session() {
        let mut u = user();
        assert!(u.session_live(0));
        u.change_password("$argon2id$y".into());
        assert!(!u.session_live(0));
        assert!(u.session_live(u.sessions_from));
        assert_eq!(u.version, 1);
    }

    #[test]
    fn a_ban_ends_sessions_and_lifting_it_does_not_revive_them() {
        let mut u = user();
        assert!(u.set_status(AccountStatus::Banned));
        assert!(
            !u.set_status(AccountStatus::Banned),
            "a repeat changes nothing"
        );
        assert!(!u.session_live(u.sessions_from), "banned");
        assert!(u.set_status(AccountStatus::Active));
        assert!(!u.session_live(0), "the sessions the ban ended stay ended");
        assert!(u.session_live(u.sessions_from));
        assert_eq!(u.version, 2);
    }
}
