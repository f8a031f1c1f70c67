//! Record encoding, in the versioned form of [`crate::records`]; a record
//! that cannot be read back is a corrupt store.

use super::StoreError;
use crate::records::{self, Recorded};

pub(super) fn encode<T: Recorded>(value: &T) -> Vec<u8> {
    records::encode(value)
}

pub(super) fn decode<T: Recorded>(bytes: &[u8]) -> Result<T, StoreError> {
    records::decode(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}
