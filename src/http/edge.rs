//! What every request passes first, on its way in and out: its id and
//! span, a body announced too large, a handler's panic, its count and time.
//!
//! One layer and one future per request: these were five layers (three of
//! them `from_fn`, each cloning and boxing per request, and tower-http's
//! trace and catch-panic layers), which cost a BUY about 14 µs of CPU,
//! an eighth of all it cost the server.

use std::{
    convert::Infallible,
    future::Future,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use axum::{
    extract::Request,
    http::{header, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};
use futures::FutureExt as _;
use tower::{Layer, Service};
use tracing::Instrument as _;

use super::{error::ApiError, is_page, AppState, BODY_LIMIT, REQUEST_ID};
use crate::trace;

/// Puts [`Edge`] around a service.
#[derive(Clone)]
pub(crate) struct EdgeLayer {
    state: AppState,
}

impl EdgeLayer {
    pub(crate) fn new(state: AppState) -> Self {
        Self { state }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            state: self.state.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Edge<S> {
    inner: S,
    state: AppState,
}

impl<S> Service<Request> for Edge<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The service that was made ready serves; a clone waits for the next.
        let ready = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, ready);
        let state = self.state.clone();
        Box::pin(async move { Ok(serve(&state, inner, request).await) })
    }
}

async fn serve<S>(state: &AppState, inner: S, request: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let started = Instant::now();
    let id = request_id(&request);
    let method = method_label(request.method());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let mut response = if announces_oversize(&request) {
        refuse_oversize(state, request)
    } else {
        tracing::debug!(parent: &span, "started processing request");
        trace::with_request_id(id.clone(), call_catching(inner, request))
            .instrument(span.clone())
            .await
    };
    let elapsed = started.elapsed();
    // 5xx are logged where they arise; 503s for an unreachable node are routine.
    tracing::debug!(
        parent: &span,
        status = response.status().as_u16(),
        latency_ms = elapsed.as_secs_f64() * 1e3,
        "finished processing request"
    );
    track(&response, method, elapsed);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// The inner service's response, or a 500 in the uniform error body if it
/// panicked (while routing or while handling), so the connection survives.
async fn call_catching<S>(mut inner: S, request: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    // `call` inside the future: a panic while routing is caught too.
    match AssertUnwindSafe(async move { inner.call(request).await })
        .catch_unwind()
        .await
    {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) => ApiError::from(crate::error::Error::Internal(
            "a request handler panicked".into(),
        ))
        .into_response(),
    }
}

/// The client's request id when it is a usable one, else a new one.
fn request_id(request: &Request) -> Arc<str> {
    request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| trace::is_valid_request_id(v))
        .map_or_else(|| uuid::Uuid::now_v7().to_string().into(), Arc::from)
}

/// Whether the request announces a body larger than the limit: it is
/// refused before a byte of it is read (or waited for).
fn announces_oversize(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > BODY_LIMIT as u64)
}

/// The 413 for [`announces_oversize`]; the connection is not kept, as the
/// body it announced is never read.
fn refuse_oversize(state: &AppState, request: Request) -> Response {
    let message = format!("Request body must be at most {} KiB", BODY_LIMIT / 1024);
    let mut refused = if is_page(request.uri().path()) {
        let (parts, _) = request.into_parts();
        (state.error_page)(state, &parts, StatusCode::PAYLOAD_TOO_LARGE, &message)
    } else {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message).into_response()
    };
    refused
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    refused
}

/// Known methods only: a label from arbitrary client input would make a
/// new series per made-up method.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Counts the request and times it, by route pattern (never the raw path:
/// ids would make a series per ticket), method and status.
fn track(response: &Response, method: &'static str, elapsed: std::time::Duration) {
    let route = response
        .extensions()
        .get::<super::Route>()
        .map_or_else(|| "unmatched".to_owned(), |r| r.0.clone());
    let labels = [
        ("route", route),
        ("method", method.to_owned()),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!(crate::metrics::HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(crate::metrics::HTTP_DURATION, &labels).record(elapsed.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_panic_while_handling_or_routing_is_a_500_in_the_uniform_body() {
        let in_handler = tower::service_fn(|_: Request| async {
            if true {
                panic!("handler");
            }
            Ok::<Response, Infallible>(StatusCode::OK.into_response())
        });
        let in_routing = tower::service_fn(
            |_: Request| -> std::future::Ready<Result<Response, Infallible>> { panic!("routing") },
        );
        for response in [
            call_catching(in_handler, Request::new(axum::body::Body::empty())).await,
            call_catching(in_routing, Request::new(axum::body::Body::empty())).await,
        ] {
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
            let body = body_of(response).await;
            assert!(body["errors"][0]["message"].is_string(), "{body}");
        }
    }

    #[tokio::test]
    async fn a_handler_that_answers_is_passed_through() {
        let ok = tower::service_fn(|_: Request| async {
            Ok::<Response, Infallible>((StatusCode::CREATED, "made").into_response())
        });
        let response = call_catching(ok, Request::new(axum::body::Body::empty())).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
}
