//! Which sessions have ended, as every node learns it from the account
//! events it follows (`follow`): a sign-out ends one session, a password
//! change or a ban ends every session of the account before it (the
//! account's session epoch goes up). Checking a token is then a lookup in
//! memory, never a store read.
//!
//! The table forgets an entry once every token it covers has expired:
//! tokens live [`SESSION_TTL_SECS`], so it holds only the accounts that
//! changed in the last quarter of an hour, whatever the number of accounts.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use crate::{
    domain::{AccountStatus, Event, EventKind, SessionId, Timestamp, UserId, SESSION_TTL_SECS},
    follow::ReadModel,
};

/// Room for the clocks of two nodes to disagree: a token issued on one
/// node is judged against an event stamped by another.
const CLOCK_SLACK_SECS: u64 = 60;
/// Expired entries are swept after this many changes.
const SWEEP_EVERY: u64 = 1024;

/// The ended sessions this node knows of, shared by its request handlers.
#[derive(Clone, Default)]
pub(crate) struct Revocations {
    table: Arc<RwLock<Table>>,
}

#[derive(Default)]
struct Table {
    accounts: HashMap<UserId, Ended>,
    changes: u64,
}

/// What has ended for one account.
#[derive(Default)]
struct Ended {
    /// The account version the status below is from.
    version: u64,
    banned: bool,
    /// Sessions started at a lower epoch have ended.
    sessions_from: u64,
    /// Sessions signed out one by one, with when their tokens expire.
    signed_out: HashMap<SessionId, u64>,
    /// After this (seconds), no token this entry covers is still valid.
    keep_until: u64,
}

impl Revocations {
    /// Whether the session a token names is still live here.
    pub(crate) fn is_live(&self, user: UserId, session: SessionId, epoch: u64) -> bool {
        let table = self.table.read().unwrap_or_else(|p| p.into_inner());
        match table.accounts.get(&user) {
            None => true,
            Some(e) => {
                !e.banned && epoch >= e.sessions_from && !e.signed_out.contains_key(&session)
            }
        }
    }

    /// Applies an account change or a sign-out; anything else is ignored.
    pub(crate) fn apply_kind(&self, at: Timestamp, kind: &EventKind) {
        if !kind.touches_sessions() {
            return; // the common case: no clock read, no lock
        }
        let now = Timestamp::now().as_secs();
        let mut table = self.table.write().unwrap_or_else(|p| p.into_inner());
        match kind {
            EventKind::UserUpdated {
                id,
                version,
                status,
                sessions_from,
            } => {
                let keep_until = at.as_secs() + SESSION_TTL_SECS + CLOCK_SLACK_SECS;
                if keep_until < now {
                    return; // every token it ended has expired anyway
                }
                let e = table.accounts.entry(*id).or_default();
                e.sessions_from = e.sessions_from.max(*sessions_from);
                if *version > e.version {
                    e.version = *version;
                    e.banned = *status == AccountStatus::Banned;
                }
                e.keep_until = e.keep_until.max(keep_until);
            }
            EventKind::SessionEnded {
                user_id,
                session,
                until,
            } => {
                let until = until.as_secs();
                if until + CLOCK_SLACK_SECS < now {
                    return;
                }
                let e = table.accounts.entry(*user_id).or_default();
                e.signed_out.insert(*session, until);
                e.keep_until = e.keep_until.max(until + CLOCK_SLACK_SECS);
            }
            _ => return,
        }
        table.changes += 1;
        if table.changes.is_multiple_of(SWEEP_EVERY) {
            table.sweep(now);
        }
    }

    /// Accounts with something ended (for tests and metrics).
    pub(crate) fn len(&self) -> usize {
        let mut table = self.table.write().unwrap_or_else(|p| p.into_inner());
        table.sweep(Timestamp::now().as_secs());
        table.accounts.len()
    }
}

impl Table {
    fn sweep(&mut self, now: u64) {
        self.accounts.retain(|_, e| {
            e.signed_out
                .retain(|_, until| *until + CLOCK_SLACK_SECS >= now);
            e.keep_until >= now
        });
    }
}

impl ReadModel for Revocations {
    fn apply(&self, event: &Event) {
        self.apply_kind(event.at, &event.kind);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn updated(id: UserId, version: u64, status: AccountStatus, from: u64) -> EventKind {
        EventKind::UserUpdated {
            id,
            version,
            status,
            sessions_from: from,
        }
    }

    #[test]
    fn sign_outs_end_one_session_and_epochs_end_the_older_ones() {
        let r = Revocations::default();
        let (user, a, b) = (UserId::new(), SessionId::new(), SessionId::new());
        assert!(r.is_live(user, a, 0));
        let until = Timestamp::from_millis(Timestamp::now().as_millis() + 900_000);
        r.apply_kind(
            Timestamp::now(),
            &EventKind::SessionEnded {
                user_id: user,
                session: a,
                until,
            },
        );
        assert!(!r.is_live(user, a, 0));
        assert!(r.is_live(user, b, 0), "another session of the same user");
        r.apply_kind(
            Timestamp::now(),
            &updated(user, 1, AccountStatus::Active, 1),
        );
        assert!(!r.is_live(user, b, 0));
        assert!(r.is_live(user, b, 1), "a session started after the change");
    }

    #[test]
    fn a_stale_repeat_does_not_undo_a_ban_and_old_changes_are_forgotten() {
        let r = Revocations::default();
        let user = UserId::new();
        r.apply_kind(
            Timestamp::now(),
            &updated(user, 2, AccountStatus::Banned, 1),
        );
        r.apply_kind(
            Timestamp::now(),
            &updated(user, 1, AccountStatus::Active, 0),
        );
        assert!(!r.is_live(user, SessionId::new(), 1), "still banned");
        r.apply_kind(
            Timestamp::now(),
            &updated(user, 3, AccountStatus::Active, 1),
        );
        assert!(r.is_live(user, SessionId::new(), 1), "ban lifted");

        let long_ago = Timestamp::from_millis(0);
        let other = UserId::new();
        r.apply_kind(long_ago, &updated(other, 1, AccountStatus::Active, 1));
        assert!(
            r.is_live(other, SessionId::new(), 0),
            "its tokens expired long ago"
        );
        assert_eq!(r.len(), 1);
    }
}
