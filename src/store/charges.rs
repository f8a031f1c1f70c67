//! Successful payments by id.

use super::{codec, get, scan, Store, StoreError, Tx, TxResult, T};
use crate::domain::{Charge, ChargeId};

impl Store {
    /// Every charge (for offline resharding).
    pub(crate) fn charges(&self) -> impl Iterator<Item = Result<Charge, StoreError>> + '_ {
        scan(self.tree(T::Charges))
    }

    pub(crate) fn charge(&self, id: ChargeId) -> Result<Option<Charge>, StoreError> {
        get(self.tree(T::Charges), id.as_bytes())
    }
}

impl Tx<'_> {
    pub(crate) fn put_charge(&mut self, charge: &Charge) -> TxResult<()> {
        self.insert(T::Charges, charge.id.as_bytes(), codec::encode(charge))?;
        Ok(())
    }
}
