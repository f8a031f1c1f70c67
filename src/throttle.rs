//! Throttling of password guessing, kept on each account's home node so a
//! cluster counts an account's failures in one place. Failures are counted
//! with `governor` (GCRA, per minute): one account from one client address,
//! and one account from all addresses. The failure that uses up a quota
//! blocks further attempts for the quota's whole window (a minute), with
//! a `Retry-After`; only failures count, so a user who types the password
//! right is never slowed.
//!
//! No lockout an attacker can cause: the per-address limit blocks only that
//! address, and the account-wide limit spares the addresses the account
//! signed in from (in the last day, as this node remembers it), so the
//! owner still signs in while someone guesses from many addresses.

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    num::NonZeroU32,
    sync::Mutex,
    time::{Duration, Instant},
};

use governor::{middleware::StateInformationMiddleware, DefaultKeyedRateLimiter, Quota};

use crate::domain::Email;

/// Failures of one account from one address, per minute.
const PER_ADDRESS: NonZeroU32 = NonZeroU32::new(10).expect("not zero");
/// Failures of one account from all addresses, per minute.
const PER_ACCOUNT: NonZeroU32 = NonZeroU32::new(100).expect("not zero");
/// How long a successful sign-in vouches for its address.
const TRUSTED_FOR: Duration = Duration::from_secs(24 * 60 * 60);
/// Tables are swept of stale entries after this many recorded attempts.
const SWEEP_EVERY: u64 = 4096;

/// Where attempts come from, as a limit sees it: IPv6 clients by their
/// /64, which one subscriber usually holds whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub(crate) struct Client(IpAddr);

impl From<IpAddr> for Client {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Self(IpAddr::V6(prefix.into()))
                }
            },
            v4 => Self(v4),
        }
    }
}

type Limiter<K> = DefaultKeyedRateLimiter<K, StateInformationMiddleware>;

/// One failure budget: governor counts, `blocked` holds the keys whose
/// budget ran out, until when.
struct Budget<K: Hash + Eq + Clone> {
    limiter: Limiter<K>,
    window: Duration,
    blocked: HashMap<K, Instant>,
}

impl<K: Hash + Eq + Clone> Budget<K> {
    fn new(per_minute: NonZeroU32) -> Self {
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute))
                .with_middleware::<StateInformationMiddleware>(),
            window: Duration::from_secs(60),
            blocked: HashMap::new(),
        }
    }

    /// Until when `key` is refused, if it is.
    fn blocked_until(&self, key: &K, now: Instant) -> Option<Instant> {
        self.blocked.get(key).copied().filter(|&until| until > now)
    }

    /// Counts a failure; the one that uses up the budget starts a block.
    fn fail(&mut self, key: K, now: Instant) {
        let spent = match self.limiter.check_key(&key) {
            Ok(state) => state.remaining_burst_capacity() == 0,
            Err(_) => true,
        };
        if spent {
            self.blocked.insert(key, now + self.window);
        }
    }

    fn sweep(&mut self, now: Instant) {
        self.blocked.retain(|_, until| *until > now);
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// The attempt is refused: too many failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    /// Until an attempt may be made again.
    pub(crate) wait: Duration,
    /// Which limit: `address` (this account from this address) or
    /// `account` (this account from all addresses).
    pub(crate) limit: &'static str,
}

/// This node's failure budgets, for the accounts it is home to.
pub(crate) struct Throttle {
    inner: Mutex<Tables>,
}

struct Tables {
    by_address: Budget<(Email, Client)>,
    by_account: Budget<Email>,
    /// Addresses the account signed in from, until when they vouch.
    trusted: HashMap<(Email, Client), Instant>,
    attempts: u64,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Tables {
                by_address: Budget::new(PER_ADDRESS),
                by_account: Budget::new(PER_ACCOUNT),
                trusted: HashMap::new(),
                attempts: 0,
            }),
        }
    }
}

impl Throttle {
    /// Whether `client` may try `account` now.
    pub(crate) fn check(&self, account: &Email, client: Client) -> Result<(), Refused> {
        let now = Instant::now();
        let t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = (account.clone(), client);
        if let Some(until) = t.by_address.blocked_until(&key, now) {
            return Err(Refused {
                wait: until - now,
                limit: "address",
            });
        }
        let vouched = t.trusted.get(&key).is_some_and(|&u| u > now);
        match t.by_account.blocked_until(account, now) {
            Some(until) if !vouched => Err(Refused {
                wait: until - now,
                limit: "account",
            }),
            _ => Ok(()),
        }
    }

    /// Records the outcome of an attempt `check` let through.
    pub(crate) fn record(&self, account: &Email, client: Client, ok: bool) {
        let now = Instant::now();
        let mut t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = (account.clone(), client);
        t.attempts += 1;
        if t.attempts.is_multiple_of(SWEEP_EVERY) {
            t.by_address.sweep(now);
            t.by_account.sweep(now);
            t.trusted.retain(|_, until| *until > now);
        }
        if ok {
            t.trusted.insert(key, now + TRUSTED_FOR);
        } else {
            t.by_address.fail(key, now);
            t.by_account.fail(account.clone(), now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Client {
        s.parse::<IpAddr>().unwrap().into()
    }

    #[test]
    fn ten_failures_block_that_address_only() {
        let t = Throttle::default();
        let a = Email::parse("a@b.co").unwrap();
        for _ in 0..9 {
            assert!(t.check(&a, ip("10.0.0.1")).is_ok());
            t.record(&a, ip("10.0.0.1"), false);
        }
        assert!(t.check(&a, ip("10.0.0.1")).is_ok());
        t.record(&a, ip("10.0.0.1"), false);
        let Refused { wait, limit } = t.check(&a, ip("10.0.0.1")).unwrap_err();
        assert_eq!(limit, "address");
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        assert!(t.check(&a, ip("10.0.0.2")).is_ok(), "another address");
        let b = Email::parse("b@b.co").unwrap();
        assert!(t.check(&b, ip("10.0.0.1")).is_ok(), "another account");
    }

    #[test]
    fn the_account_limit_spares_addresses_it_signed_in_from() {
        let t = Throttle::default();
        let a = Email::parse("a@b.co").unwrap();
        t.record(&a, ip("192.168.1.1"), true);
        for i in 0..100u32 {
            t.record(&a, ip(&format!("10.0.{}.{}", i / 5, i % 5)), false);
        }
        assert!(t.check(&a, ip("10.9.9.9")).is_err(), "an unknown address");
        assert!(t.check(&a, ip("192.168.1.1")).is_ok(), "the owner's");
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        assert_eq!(ip("2001:db8::1"), ip("2001:db8::ffff:1"));
        assert_ne!(ip("2001:db8::1"), ip("2001:db8:0:1::1"));
        assert_eq!(ip("::ffff:10.0.0.1"), ip("10.0.0.1"));
    }
}
