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
