//! Throttling of password guessing, kept on each account's home node so a
//! cluster counts an account's failures in one place. Failures are counted
//! with `governor` (GCRA, per minute): one account from one client address,
//! and one account from all addresses. The failure that uses up a quota
//! blocks further attempts for the quota's whole window (a minute), with
//! a `Retry-After`; only failures count, so a user who types the password
//! right is never slowed.
//!
//! Guesses sent together are not all let through before their failures
//! are counted: attempts in flight never outnumber the failures left.
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
/// An attempt whose outcome never came back (its node died) stops counting
/// as in flight after this long.
const IN_FLIGHT_FOR: Duration = Duration::from_secs(30);
/// What a refusal for an attempt in flight asks the client to wait.
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(1);

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

/// One failure budget. governor counts the failures; `blocked` holds the
/// keys whose budget ran out, until when; `in_flight` the attempts let
/// through whose outcome is not known yet. An attempt is let through only
/// while those in flight are fewer than the failures left, so however many
/// arrive together, no more can fail than the budget allows.
struct Budget<K: Hash + Eq + Clone> {
    limiter: Limiter<K>,
    burst: u32,
    window: Duration,
    blocked: HashMap<K, Instant>,
    /// Failures left after the last one counted, and when: older than the
    /// window, the budget is whole again. (Between failures governor
    /// refills it; this lags behind, on the strict side.)
    left: HashMap<K, (u32, Instant)>,
    in_flight: HashMap<K, Vec<Instant>>,
}

impl<K: Hash + Eq + Clone> Budget<K> {
    fn new(per_minute: NonZeroU32) -> Self {
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute))
                .with_middleware::<StateInformationMiddleware>(),
            burst: per_minute.get(),
            window: Duration::from_secs(60),
            blocked: HashMap::new(),
            left: HashMap::new(),
            in_flight: HashMap::new(),
        }
    }

    /// Until when an attempt on `key` would be refused, if it would.
    fn refused_until(&mut self, key: &K, now: Instant) -> Option<Instant> {
        if let Some(until) = self.blocked.get(key).copied().filter(|&u| u > now) {
            return Some(until);
        }
        let left = match self.left.get(key) {
            Some(&(left, at)) if at + self.window > now => left,
            _ => self.burst,
        };
        let flying = self.in_flight.get_mut(key).map_or(0, |f| {
            f.retain(|&since| since + IN_FLIGHT_FOR > now);
            f.len()
        });
        (flying >= left as usize).then_some(now + IN_FLIGHT_WAIT)
    }

    fn enter(&mut self, key: K, now: Instant) {
        self.in_flight.entry(key).or_default().push(now);
    }

    /// An attempt's outcome is in; a failure is counted, and the one that
    /// uses up the budget starts a block.
    fn settle(&mut self, key: K, failed: bool, now: Instant) {
        if let Some(flying) = self.in_flight.get_mut(&key) {
            flying.pop();
            if flying.is_empty() {
                self.in_flight.remove(&key);
            }
        }
        if !failed {
            return;
        }
        let left = match self.limiter.check_key(&key) {
            Ok(state) => state.remaining_burst_capacity(),
            Err(_) => 0,
        };
        if left == 0 {
            self.blocked.insert(key.clone(), now + self.window);
        }
        self.left.insert(key, (left, now));
    }

    fn sweep(&mut self, now: Instant) {
        self.blocked.retain(|_, until| *until > now);
        self.left.retain(|_, (_, at)| *at + self.window > now);
        self.in_flight.retain(|_, flying| {
            flying.retain(|&since| since + IN_FLIGHT_FOR > now);
            !flying.is_empty()
        });
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

impl Tables {
    /// Whether the account-wide budget applies: not to the addresses the
    /// account signed in from.
    fn vouched(&self, key: &(Email, Client), now: Instant) -> bool {
        self.trusted.get(key).is_some_and(|&until| until > now)
    }
}

impl Throttle {
    /// Whether `client` may try `account` now; if so, the attempt is in
    /// flight until [`Throttle::record`] hears how it went.
    pub(crate) fn check(&self, account: &Email, client: Client) -> Result<(), Refused> {
        let now = Instant::now();
        let mut t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = (account.clone(), client);
        let refused = |until: Instant, limit| {
            Err(Refused {
                wait: until - now,
                limit,
            })
        };
        if let Some(until) = t.by_address.refused_until(&key, now) {
            return refused(until, "address");
        }
        let vouched = t.vouched(&key, now);
        if !vouched {
            if let Some(until) = t.by_account.refused_until(account, now) {
                return refused(until, "account");
            }
            t.by_account.enter(account.clone(), now);
        }
        t.by_address.enter(key, now);
        Ok(())
    }

    /// Records how an attempt `check` let through went: `Some(true)` the
    /// password was right, `Some(false)` it was not, `None` no answer
    /// (an error on the way): it no longer counts as in flight.
    pub(crate) fn record(&self, account: &Email, client: Client, outcome: Option<bool>) {
        let now = Instant::now();
        let mut t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = (account.clone(), client);
        let failed = outcome == Some(false);
        // Settled against the account-wide budget only if it was entered
        // there: a vouched address never was.
        if !t.vouched(&key, now) {
            t.by_account.settle(account.clone(), failed, now);
        }
        t.by_address.settle(key.clone(), failed, now);
        if outcome == Some(true) {
            t.trusted.insert(key, now + TRUSTED_FOR);
        }
        t.attempts += 1;
        if t.attempts.is_multiple_of(SWEEP_EVERY) {
            t.by_address.sweep(now);
            t.by_account.sweep(now);
            t.trusted.retain(|_, until| *until > now);
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
            t.record(&a, ip("10.0.0.1"), Some(false));
        }
        assert!(t.check(&a, ip("10.0.0.1")).is_ok());
        t.record(&a, ip("10.0.0.1"), Some(false));
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
        t.check(&a, ip("192.168.1.1")).unwrap();
        t.record(&a, ip("192.168.1.1"), Some(true));
        for i in 0..100u32 {
            let from = ip(&format!("10.0.{}.{}", i / 5, i % 5));
            t.check(&a, from).unwrap();
            t.record(&a, from, Some(false));
        }
        assert!(t.check(&a, ip("10.9.9.9")).is_err(), "an unknown address");
        assert!(t.check(&a, ip("192.168.1.1")).is_ok(), "the owner's");
    }

    #[test]
    fn guesses_sent_together_never_outnumber_the_failures_left() {
        let t = Throttle::default();
        let a = Email::parse("a@b.co").unwrap();
        let from = ip("10.0.0.1");
        for _ in 0..4 {
            t.check(&a, from).unwrap();
            t.record(&a, from, Some(false));
        }
        // Six failures left: six attempts at once, not a seventh.
        for _ in 0..6 {
            t.check(&a, from).unwrap();
        }
        let refused = t.check(&a, from).unwrap_err();
        assert_eq!((refused.limit, refused.wait), ("address", IN_FLIGHT_WAIT));
        // One comes back without an answer: room for one more.
        t.record(&a, from, None);
        t.check(&a, from).unwrap();
        for _ in 0..6 {
            t.record(&a, from, Some(false));
        }
        assert!(t.check(&a, from).unwrap_err().wait > Duration::from_secs(50));
        assert!(t.check(&a, ip("10.0.0.2")).is_ok(), "another address");
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        assert_eq!(ip("2001:db8::1"), ip("2001:db8::ffff:1"));
        assert_ne!(ip("2001:db8::1"), ip("2001:db8:0:1::1"));
        assert_eq!(ip("::ffff:10.0.0.1"), ip("10.0.0.1"));
    }
}
