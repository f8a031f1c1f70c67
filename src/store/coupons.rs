//! Coupons by code, and the uses orders hold: one key per (coupon, order),
//! so a coupon's record stays small however often it is used, and a
//! redemption is found by its order id (retries count once).

use std::ops::Bound;

use super::{abort, codec, get, scan, Store, StoreError, Tx, TxResult, T};
use crate::domain::{Coupon, CouponCode, EventKind, OrderId};

/// `len(code) ++ code ++ order id`: the length keeps one code's keys from
/// running into a longer code's.
fn hold_key(code: CouponCode, order: OrderId) -> Vec<u8> {
    let code = code.as_str().as_bytes();
    let mut key = Vec::with_capacity(1 + code.len() + 16);
    // Codes are at most 32 bytes long.
    key.push(code.len() as u8);
    key.extend_from_slice(code);
    key.extend_from_slice(order.as_bytes());
    key
}

/// The inverse of [`hold_key`].
fn parse_hold_key(key: &[u8]) -> Result<(CouponCode, OrderId), StoreError> {
    let corrupt = || StoreError::Corrupt("coupon redemption key".into());
    let (&len, rest) = key.split_first().ok_or_else(corrupt)?;
    let len = usize::from(len);
    if rest.len() != len + 16 {
        return Err(corrupt());
    }
    let code = std::str::from_utf8(&rest[..len]).map_err(|_| corrupt())?;
    let code = CouponCode::parse(code).map_err(|_| corrupt())?;
    let order: [u8; 16] = rest[len..].try_into().map_err(|_| corrupt())?;
    Ok((code, OrderId::from_bytes(order)))
}

impl Store {
    pub(crate) fn coupon(&self, code: CouponCode) -> Result<Option<Coupon>, StoreError> {
        get(self.tree(T::Coupons), code.as_str().as_bytes())
    }

    /// Up to `limit` coupons after `after`, by code.
    pub(crate) fn coupons_after(
        &self,
        after: Option<CouponCode>,
        limit: usize,
    ) -> Result<Vec<Coupon>, StoreError> {
        let start = match after {
            Some(code) => Bound::Excluded(code.as_str().as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        self.tree(T::Coupons)
            .range::<Vec<u8>, _>((start, Bound::Unbounded))
            .take(limit)
            .map(|entry| codec::decode(&entry?.1))
            .collect()
    }

    /// Every coupon (for offline resharding).
    pub(crate) fn coupons(&self) -> impl Iterator<Item = Result<Coupon, StoreError>> + '_ {
        scan(self.tree(T::Coupons))
    }

    /// Whether `order` holds a use of `code`.
    pub(crate) fn coupon_held_by(
        &self,
        code: CouponCode,
        order: OrderId,
    ) -> Result<bool, StoreError> {
        Ok(self
            .tree(T::CouponHolds)
            .contains_key(hold_key(code, order))?)
    }

    /// Every use held, as (coupon, order) (for offline resharding).
    pub(crate) fn coupon_holds(
        &self,
    ) -> impl Iterator<Item = Result<(CouponCode, OrderId), StoreError>> + '_ {
        self.tree(T::CouponHolds)
            .iter()
            .keys()
            .map(|key| parse_hold_key(&key?))
    }
}

impl Tx<'_> {
    /// A new coupon and its CouponCreated event; aborts with
    /// [`StoreError::CouponCodeTaken`] when the code exists (the check and
    /// the claim are atomic).
    pub(crate) fn create_coupon(&mut self, coupon: &Coupon) -> TxResult<()> {
        let key = coupon.code.as_str().as_bytes();
        if self.get(T::Coupons, key)?.is_some() {
            return abort(StoreError::CouponCodeTaken);
        }
        self.put_coupon(coupon)?;
        self.emit(EventKind::CouponCreated {
            code: coupon.code,
            discount: coupon.discount,
            max_redemptions: coupon.max_redemptions,
            expires_at: coupon.expires_at,
            version: coupon.version,
        })
    }

    pub(crate) fn put_coupon(&mut self, coupon: &Coupon) -> TxResult<()> {
        self.insert(
            T::Coupons,
            coupon.code.as_str().as_bytes(),
            codec::encode(coupon),
        )?;
        Ok(())
    }

    /// Marks (or clears) `order`'s use of `code`.
    pub(crate) fn set_coupon_hold(
        &mut self,
        code: CouponCode,
        order: OrderId,
        held: bool,
    ) -> TxResult<()> {
        let key = hold_key(code, order);
        if held {
            self.insert(T::CouponHolds, &key, &[][..])?;
        } else {
            self.remove(T::CouponHolds, &key)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_keys_round_trip() {
        let code = CouponCode::parse("ABC-1").unwrap();
        let order = OrderId::new();
        assert_eq!(
            parse_hold_key(&hold_key(code, order)).unwrap(),
            (code, order)
        );
        assert!(parse_hold_key(&[3, b'A']).is_err());
    }
}
