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

    /// Parses RFC 3339 (`2026-11-21T10:00:00Z`, fractions of a second and
    /// `+hh:mm` / `-hh:mm` offsets allowed); refuses times before 1970.
    pub fn parse_rfc3339(raw: &str) -> Result<Self, super::Invalid> {
        let bad =
            || super::Invalid::new("Must be an RFC 3339 date-time, e.g. 2030-01-31T18:00:00Z");
        let s = raw.trim();
        let (base, offset_secs) = match s.as_bytes() {
            [.., b'Z' | b'z'] => (&s[..s.len() - 1], 0i64),
            [.., sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] if s.len() > 6 => {
                let digits = [*h1, *h2, *m1, *m2];
                if !digits.iter().all(u8::is_ascii_digit) {
                    return Err(bad());
                }
                let d = |i: usize| i64::from(digits[i] - b'0');
                let (hours, minutes) = (d(0) * 10 + d(1), d(2) * 10 + d(3));
                if hours > 23 || minutes > 59 {
                    return Err(bad());
                }
                let secs = hours * 3600 + minutes * 60;
                let secs = if *sign == b'-' { -secs } else { secs };
                (&s[..s.len() - 6], secs)
            }
            _ => return Err(bad()),
        };
        let local = humantime::parse_rfc3339(&format!("{base}Z")).map_err(|_| bad())?;
        let millis = local
            .duration_since(UNIX_EPOCH)
            .map_err(|_| bad())?
            .as_millis() as i64;
        let utc = millis - offset_secs * 1000;
        u64::try_from(utc).map(Self).map_err(|_| bad())
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
    fn parses_rfc3339_with_offsets() {
        let at = |s: &str| Timestamp::parse_rfc3339(s).map(Timestamp::as_millis);
        assert_eq!(at("2023-11-14T22:13:20.123Z"), Ok(1_700_000_000_123));
        assert_eq!(at("2023-11-14T23:13:20.123+01:00"), Ok(1_700_000_000_123));
        assert_eq!(at("2023-11-14T21:13:20.123-01:00"), Ok(1_700_000_000_123));
        for bad in [
            "",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "tomorrow",
            "1969-12-31T23:59:59Z",
        ] {
            assert!(at(bad).is_err(), "{bad:?}");
        }
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
