//! Coupons: a code that takes something off a ticket's price, a bounded
//! number of times, until it expires.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Invalid, Price, RuleError, Timestamp};

/// A coupon's code: 3 to 32 ASCII letters, digits, `-` or `_`, trimmed
/// and upper-cased, so `summer-10` and `SUMMER-10` are one coupon. Kept in
/// a fixed array so it is `Copy`, like the other ids actors are named by.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CouponCode {
    len: u8,
    bytes: [u8; CouponCode::MAX_LEN],
}

impl CouponCode {
    /// The longest code.
    pub const MAX_LEN: usize = 32;
    /// The shortest code.
    pub const MIN_LEN: usize = 3;

    /// Trims, checks the characters and the length, upper-cases.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let code = raw.trim();
        let ok_chars = code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok_chars || !(Self::MIN_LEN..=Self::MAX_LEN).contains(&code.len()) {
            return Err(Invalid::new(
                "Code must be 3 to 32 letters, digits, '-' or '_'",
            ));
        }
        let mut bytes = [0u8; Self::MAX_LEN];
        for (to, from) in bytes.iter_mut().zip(code.bytes()) {
            *to = from.to_ascii_uppercase();
        }
        Ok(Self {
            // At most MAX_LEN (32), checked above.
            len: code.len() as u8,
            bytes,
        })
    }

    /// The canonical (upper-case) code.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (see `parse`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

/// By the code's text, as the store keeps them (a derived order would put
/// the length first, and pages of coupons would skip some).
impl Ord for CouponCode {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for CouponCode {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::str::FromStr for CouponCode {
    type Err = Invalid;

    fn from_str(raw: &str) -> Result<Self, Invalid> {
        Self::parse(raw)
    }
}

impl TryFrom<String> for CouponCode {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<CouponCode> for String {
    fn from(c: CouponCode) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for CouponCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CouponCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CouponCode({})", self.as_str())
    }
}

/// A sum of money that may be zero: what a buyer is charged once a coupon
/// has taken its part off ([`Price`] is never zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(u64);

impl Amount {
    /// Nothing to pay.
    pub const ZERO: Self = Self(0);

    /// Any number of cents up to [`Price::MAX_CENTS`].
    pub fn from_cents(cents: u64) -> Result<Self, Invalid> {
        if cents > Price::MAX_CENTS {
            return Err(Invalid::new("Amount must be at most 1000000"));
        }
        Ok(Self(cents))
    }

    /// Integer cents, as stored.
    pub fn cents(self) -> u64 {
        self.0
    }

    /// The amount as a price to charge; `None` when there is nothing to
    /// charge (a payment provider is never asked for zero).
    pub fn to_price(self) -> Option<Price> {
        Price::from_cents(self.0).ok()
    }
}

impl From<Price> for Amount {
    fn from(p: Price) -> Self {
        Self(p.cents())
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// What a coupon takes off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    /// A whole percentage, 1 to 100.
    Percent(u8),
    /// A fixed sum, in the same money as prices.
    Amount(Price),
}

impl Discount {
    /// Refuses anything outside 1 to 100.
    pub fn percent(p: u64) -> Result<Self, Invalid> {
        match u8::try_from(p) {
            Ok(p @ 1..=100) => Ok(Self::Percent(p)),
            _ => Err(Invalid::new(
                "percentOff must be a whole number from 1 to 100",
            )),
        }
    }

    /// What is left to pay of `price`, never below zero. A percentage is
    /// taken off rounded *up* to the cent (so the charge rounds down): the
    /// buyer never pays a fraction of a cent more than the coupon promised.
    pub fn apply(self, price: Price) -> Amount {
        let cents = price.cents();
        let off = match self {
            Self::Percent(p) => (cents * u64::from(p)).div_ceil(100),
            Self::Amount(a) => a.cents(),
        };
        Amount(cents.saturating_sub(off))
    }
}

/// A coupon: its rule and how often it has been used. The orders holding
/// a use are kept beside it in the store, one key each, so its size does
/// not grow with its redemptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coupon {
    /// Canonical, unique; picks the coupon's home node.
    pub code: CouponCode,
    /// What it takes off.
    pub discount: Discount,
    /// At least 1.
    pub max_redemptions: u32,
    /// Uses held now by orders (given-back ones not counted).
    pub redemptions: u32,
    /// After this it is refused; `None`: never expires.
    pub expires_at: Option<Timestamp>,
    /// When an admin created it.
    pub created_at: Timestamp,
    /// 0 when created, one more per redemption or give-back.
    pub version: u64,
}

impl Coupon {
    /// A new coupon; `expires_at` must be after `now`.
    pub fn new(
        code: CouponCode,
        discount: Discount,
        max_redemptions: u32,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Self, (&'static str, Invalid)> {
        if max_redemptions == 0 {
            return Err((
                "maxRedemptions",
                Invalid::new("maxRedemptions must be at least 1"),
            ));
        }
        if expires_at.is_some_and(|at| at <= now) {
            return Err(("expiresAt", Invalid::new("expiresAt must be in the future")));
        }
        Ok(Self {
            code,
            discount,
            max_redemptions,
            redemptions: 0,
            expires_at,
            created_at: now,
            version: 0,
        })
    }

    /// Past its expiry.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }

    /// Every use is held.
    pub fn is_used_up(&self) -> bool {
        self.redemptions >= self.max_redemptions
    }

    /// Takes a use for an order. `already_held` says whether that order
    /// holds one already (its actor keeps that, keyed by order id, in the
    /// store): then this is a retry, and nothing changes, even if the coupon
    /// has expired or been used up since. Returns whether a use was taken.
    pub fn redeem(&mut self, already_held: bool, now: Timestamp) -> Result<bool, RuleError> {
        if already_held {
            return Ok(false);
        }
        if self.is_expired(now) {
            return Err(RuleError::CouponExpired);
        }
        if self.is_used_up() {
            return Err(RuleError::CouponUsedUp);
        }
        self.redemptions += 1;
        self.version += 1;
        Ok(true)
    }

    /// Gives an order's use back, once: an order holding none changes
    /// nothing. Returns whether a use was given back.
    pub fn give_back(&mut self, held: bool) -> bool {
        if !held || self.redemptions == 0 {
            return false;
        }
        self.redemptions -= 1;
        self.version += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_order_by_their_text_as_the_store_does() {
        let code = |s| CouponCode::parse(s).unwrap();
        assert!(code("AAAA") < code("ZZZ"));
        assert!(code("ab-1") < code("AB-2"));
        assert_eq!(code("abc").cmp(&code("ABC")), std::cmp::Ordering::Equal);
    }

    fn price(cents: u64) -> Price {
        Price::from_cents(cents).unwrap()
    }

    #[test]
    fn codes_are_checked_and_upper_cased() {
        assert_eq!(
            CouponCode::parse(" summer-10_x ").unwrap().as_str(),
            "SUMMER-10_X"
        );
        assert_eq!(
            CouponCode::parse("abc").unwrap(),
            CouponCode::parse("ABC").unwrap()
        );
        for bad in ["", "ab", "a b c", "ümlaut", "x!y", &"a".repeat(33)] {
            assert!(CouponCode::parse(bad).is_err(), "{bad:?}");
        }
        assert!(CouponCode::parse(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn percentages_round_in_the_buyers_favour() {
        // 10% of 0.99 is 0.099: 0.10 comes off, 0.89 is charged.
        assert_eq!(Discount::Percent(10).apply(price(99)).cents(), 89);
        assert_eq!(Discount::Percent(50).apply(price(1)).cents(), 0);
        assert_eq!(Discount::Percent(1).apply(price(1)).cents(), 0);
        assert_eq!(Discount::Percent(25).apply(price(4000)).cents(), 3000);
        assert_eq!(Discount::Percent(100).apply(price(4250)), Amount::ZERO);
        assert!(Discount::percent(0).is_err() && Discount::percent(101).is_err());
    }

    #[test]
    fn amounts_never_go_below_zero() {
        assert_eq!(
            Discount::Amount(price(500)).apply(price(4250)).cents(),
            3750
        );
        assert_eq!(
            Discount::Amount(price(5000)).apply(price(4250)),
            Amount::ZERO
        );
        assert_eq!(Amount::ZERO.to_price(), None);
        assert_eq!(Amount::from(price(7)).to_price(), Some(price(7)));
    }

    #[test]
    fn redemptions_are_counted_once_per_order_and_given_back_once() {
        let now = Timestamp::from_millis(1_000);
        let later = Timestamp::from_millis(2_000);
        let code = CouponCode::parse("ONCE").unwrap();
        let mut c = Coupon::new(code, Discount::Percent(10), 1, Some(later), now).unwrap();
        assert_eq!(c.redeem(false, now), Ok(true));
        assert_eq!(c.redeem(true, now), Ok(false), "a retry");
        assert_eq!(c.redeem(false, now), Err(RuleError::CouponUsedUp));
        assert!(c.give_back(true));
        assert!(!c.give_back(false), "given back once");
        assert_eq!((c.redemptions, c.version), (0, 2));
        assert_eq!(c.redeem(false, later), Err(RuleError::CouponExpired));
        assert!(Coupon::new(code, Discount::Percent(1), 0, None, now).is_err());
        assert!(Coupon::new(code, Discount::Percent(1), 1, Some(now), now).is_err());
    }
}
