//! What crosses between nodes. Every message starts with a version byte: a
//! peer built with another protocol is refused with a clear error rather
//! than misread. Version 2: a postcard [`Envelope`] one way, a postcard
//! `Result<Vec<u8>, Error>` back; the inner bytes are the operation's own
//! postcard-encoded request and reply. (Version 1 carried an idempotency
//! key in every BUY and payment; now only one the client sent.)

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::{Error, Result};

const VERSION: u8 = 2;

/// One forwarded request.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Envelope {
    /// The operation's name; the home node dispatches on it.
    pub(crate) op: String,
    /// The request id of the HTTP request that caused it, for the logs.
    pub(crate) request_id: Option<String>,
    /// The operation's encoded request.
    pub(crate) body: Vec<u8>,
}

/// The operation a membership ping sends; the gateway answers it itself.
pub(crate) const PING: &str = "ping";

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut out = vec![VERSION];
    postcard::to_io(value, &mut out)
        .map_err(|e| Error::Internal(format!("encoding a cluster message: {e}")))?;
    Ok(out)
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    match bytes.split_first() {
        Some((&VERSION, body)) => postcard::from_bytes(body)
            .map_err(|e| Error::Internal(format!("undecodable cluster message: {e}"))),
        Some((v, _)) => Err(Error::Internal(format!(
            "a peer speaks cluster protocol {v}, this node {VERSION}: run one release across the cluster"
        ))),
        None => Err(Error::Internal("empty cluster message".into())),
    }
}

/// Encodes an answer for the wire; an answer that cannot be encoded
/// becomes an error the caller can still read.
pub(crate) fn encode_answer(answer: &Result<Vec<u8>>) -> Vec<u8> {
    encode(answer).unwrap_or_else(|e| {
        let e: Result<Vec<u8>> = Err(e);
        encode(&e).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_versions() {
        let env = Envelope {
            op: "buy".into(),
            request_id: Some("r".into()),
            body: vec![1, 2, 3],
        };
        let bytes = encode(&env).unwrap();
        let back: Envelope = decode(&bytes).unwrap();
        assert_eq!((back.op.as_str(), back.body), ("buy", vec![1, 2, 3]));
        let mut other = bytes.clone();
        other[0] = 1;
        let err = decode::<Envelope>(&other).unwrap_err();
        assert!(err.to_string().contains("protocol 1"), "{err}");
    }
}
