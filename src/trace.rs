//! The request id: taken from `x-request-id` (or made) at the HTTP edge,
//! named on every log line of the request's span, and sent along when the
//! request is forwarded, so the home node's log lines name it too.

use std::{future::Future, sync::Arc};

tokio::task_local! {
    static REQUEST_ID: Arc<str>;
}

/// The id of the request this task is serving, if any.
pub(crate) fn request_id() -> Option<Arc<str>> {
    REQUEST_ID.try_with(Arc::clone).ok()
}

/// Runs `fut` as part of the request `id`.
pub(crate) async fn with_request_id<F: Future>(id: Arc<str>, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// Whether `id` may be used as a request id: short, and only characters
/// that cannot forge or break a field of a log line.
pub(crate) fn is_valid_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_short_and_plain() {
        assert!(super::is_valid_request_id("0193a1b2-c3d4.e5_f6:7"));
        for bad in ["", "a b", "x=\"y\"", "{}", &"a".repeat(65), "é"] {
            assert!(!super::is_valid_request_id(bad), "{bad:?}");
        }
    }
}
