//! Record encoding: one format-version byte, then postcard. The byte lets a
//! later release read old records or refuse them clearly.

use serde::{de::DeserializeOwned, Serialize};

use super::StoreError;

const FORMAT_V1: u8 = 1;

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![FORMAT_V1];
    // Serializing our own plain structs into a Vec cannot fail.
    postcard::to_io(value, &mut out).expect("postcard encodes into a Vec");
    out
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&FORMAT_V1, body)) => {
            postcard::from_bytes(body).map_err(|e| StoreError::Corrupt(e.to_string()))
        }
        Some((v, _)) => Err(StoreError::Corrupt(format!("unknown record format {v}"))),
        None => Err(StoreError::Corrupt("empty record".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_unknown_formats() {
        let bytes = encode(&("a", 7u64));
        assert_eq!(bytes[0], FORMAT_V1);
        assert_eq!(decode::<(String, u64)>(&bytes).unwrap(), ("a".into(), 7));
        let mut future = bytes.clone();
        future[0] = 9;
        assert!(decode::<(String, u64)>(&future).is_err());
        assert!(decode::<(String, u64)>(&[]).is_err());
    }
}
