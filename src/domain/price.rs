use std::fmt;

use serde::{Deserialize, Serialize};

use super::Invalid;

/// A positive price in integer cents, at most 1,000,000.00. Money is never a
/// float inside boxoffice; JSON shows it as a decimal number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct Price(u64);

impl Price {
    /// The highest price, 1,000,000.00, in cents.
    pub const MAX_CENTS: u64 = 100_000_000;

    /// Refuses 0 and anything above [`Price::MAX_CENTS`].
    pub fn from_cents(cents: u64) -> Result<Self, Invalid> {
        if cents == 0 || cents > Self::MAX_CENTS {
            return Err(Self::out_of_range());
        }
        Ok(Self(cents))
    }

    /// The amount in integer cents, as stored and charged.
    pub fn cents(self) -> u64 {
        self.0
    }

    /// Parses a decimal such as `"12"`, `"12.5"` or `"12.50"` (what a JSON
    /// number or numeric string holds). At most two decimals.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        let bad = || Invalid::new("Price must be a number with at most 2 decimals");
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        if whole.starts_with('-') {
            return Err(Self::out_of_range());
        }
        let digits = |p: &str| p.chars().all(|c| c.is_ascii_digit());
        if !digits(whole) || !digits(frac) || (s.contains('.') && frac.is_empty()) {
            return Err(bad());
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > 2 {
            return Err(bad());
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() > 7 {
            return Err(Self::out_of_range());
        }
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let frac_cents: u64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
        Self::from_cents(whole * 100 + frac_cents)
    }

    fn out_of_range() -> Invalid {
        Invalid::new("Price must be greater than 0 and at most 1000000")
    }
}

impl TryFrom<u64> for Price {
    type Error = Invalid;

    fn try_from(cents: u64) -> Result<Self, Invalid> {
        Self::from_cents(cents)
    }
}

impl From<Price> for u64 {
    fn from(p: Price) -> u64 {
        p.0
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl fmt::Debug for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Price({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimals_to_cents() {
        for (raw, cents) in [
            ("10", 1000),
            ("10.5", 1050),
            ("10.50", 1050),
            ("0.01", 1),
            (".99", 99),
            ("007.10", 710),
            ("1000000", 100_000_000),
            ("1000000.00", 100_000_000),
            ("19.990", 1999),
        ] {
            assert_eq!(Price::parse(raw).unwrap().cents(), cents, "{raw}");
        }
    }

    #[test]
    fn rejects_bad_prices() {
        for raw in [
            "",
            "0",
            "0.00",
            "-1",
            "-0.5",
            "1.234",
            "abc",
            "1e3",
            "1.",
            ".",
            "1,5",
            "1000000.01",
            "99999999999999999999",
        ] {
            assert!(Price::parse(raw).is_err(), "{raw:?}");
        }
    }
}
