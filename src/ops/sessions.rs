//! Sessions on the account's home node: renewing one (only while the
//! account says it is live), ending one (sign-out), and the check every
//! request makes, which reads only this node's [`Revocations`].
//!
//! [`Revocations`]: crate::revocations::Revocations

use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{
    domain::{Email, EventKind, SessionId, Timestamp, User, UserId, SESSION_TTL_SECS},
    error::Result,
};

/// A session as a token names it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// The account.
    pub user: UserId,
    /// Accounts are found by email.
    pub email: Email,
    /// Which sign-in.
    pub id: SessionId,
    /// The account's session epoch when it began.
    pub epoch: u64,
    /// When its current token expires.
    pub expires: Timestamp,
}

/// Asks the account whether a session may go on.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RenewSession {
    pub(crate) session: Session,
}

impl Operation for RenewSession {
    const NAME: &'static str = "renew_session";
    /// The account, when the session may go on.
    type Reply = Option<User>;

    async fn apply(self, home: &Home) -> Result<Option<User>> {
        let s = self.session;
        let user = home.store.user_by_email(&s.email)?;
        Ok(user.filter(|u| {
            u.id == s.user
                && u.session_live(s.epoch)
                && home.revocations.is_live(s.user, s.id, s.epoch)
        }))
    }
}

/// Ends one session everywhere: the event every node follows says so.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct EndSession {
    pub(crate) session: Session,
}

impl Operation for EndSession {
    const NAME: &'static str = "end_session";
    type Reply = ();

    async fn apply(self, home: &Home) -> Result<()> {
        let event = ended(&self.session);
        Ok(home.write(move |tx| tx.emit(event)).await?)
    }
}

/// The session's end. It is remembered until every token of the session
/// has expired: the one shown, and any renewal granted before the end
/// landed (a renewal is at most one token life from now).
fn ended(s: &Session) -> EventKind {
    let renewed = Timestamp::now().as_millis() + SESSION_TTL_SECS * 1000;
    EventKind::SessionEnded {
        user_id: s.user,
        session: s.id,
        until: Timestamp::from_millis(s.expires.as_millis().max(renewed)),
    }
}

impl Ops {
    /// Whether a token's session is live on this node: no store read.
    pub fn session_live(&self, user: UserId, session: SessionId, epoch: u64) -> bool {
        self.home.revocations.is_live(user, session, epoch)
    }

    /// The account, if `session` may be renewed: it has not ended and the
    /// account is not banned (asked of the account's home, not a cache).
    pub async fn renew_session(&self, session: Session) -> Result<Option<User>> {
        let home = self.placement.account_home(&session.email);
        self.run(home, RenewSession { session }).await
    }

    /// Signs `session` out: on disk on the account's home, then at once
    /// here, and on every other node when it next reads that home's log.
    pub async fn end_session(&self, session: Session) -> Result<()> {
        let home = self.placement.account_home(&session.email);
        let event = ended(&session);
        self.run(home, EndSession { session }).await?;
        self.home.revocations.apply_kind(Timestamp::now(), &event);
        Ok(())
    }

    /// Accounts in this node's revocation table.
    pub(crate) fn revoked_accounts(&self) -> usize {
        self.home.revocations.len()
    }

    /// Tells this node's revocations of an account change the account's
    /// home has made durable, without waiting for the follower.
    pub(crate) fn learn(&self, user: &User) {
        self.home
            .revocations
            .apply_kind(Timestamp::now(), &user.updated());
    }
}
