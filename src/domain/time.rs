use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Wall-clock time in milliseconds since the Unix epoch. Stored, so that a
/// deadline outlives the process that set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The system clock; before 1970 it reads as the epoch.
    pub fn now() -> Self {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self(since.as_millis() as u64)
    }

    /// Milliseconds since the Unix epoch, as stored.
    pub fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the Unix epoch, as stored.
    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// Whole seconds since the epoch, rounded down (JWT `iat`/`exp`).
    pub fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// `d` later, to the millisecond; saturates rather than overflows.
    pub fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d.as_millis() as u64))
    }

    /// Time left until `self`, zero when it has passed.
    pub fn remaining_from(self, now: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(now.0))
    }

    /// RFC 3339 in UTC with milliseconds, e.g. `2026-11-21T10:00:00.000Z`.
    pub fn to_rfc3339(self) -> String {
        let t = UNIX_EPOCH + Duration::from_millis(self.0);
        humantime::format_rfc3339_millis(t).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rfc3339_utc() {
        assert_eq!(
            Timestamp::from_millis(1_700_000_000_123).to_rfc3339(),
            "2023-11-14T22:13:20.123Z"
        );
    }

    #[test]
    fn remaining_is_zero_when_overdue() {
        let t = Timestamp::from_millis(1000);
        assert_eq!(
            t.remaining_from(Timestamp::from_millis(5000)),
            Duration::ZERO
        );
        assert_eq!(
            t.remaining_from(Timestamp::from_millis(400)),
            Duration::from_millis(600)
        );
    }
}
