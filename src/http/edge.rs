//! What every request passes first, on its way in and out: its id and
//! span, a body announced too large, its caller's session, a handler's
//! panic, its count and time.
//!
//! One layer and one future per request: these were six layers (four of
//! them `from_fn`, each cloning and boxing per request, and tower-http's
//! trace and catch-panic layers); five of them cost a BUY about 14 µs of
//! CPU, an eighth of all it cost the server.

use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{Arc, RwLock},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request},
    http::{header, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};
use futures::FutureExt as _;
use tower::{Layer, Service};
use tracing::Instrument as _;

use super::{error::ApiError, is_page, session, AppState, BODY_LIMIT, REQUEST_ID};
use crate::trace;

/// Puts [`Edge`] around a service.
#[derive(Clone)]
pub(crate) struct EdgeLayer {
    state: AppState,
    series: Arc<Series>,
}

impl EdgeLayer {
    pub(crate) fn new(state: AppState) -> Self {
        Self {
            state,
            series: Arc::default(),
        }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            state: self.state.clone(),
            series: self.series.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Edge<S> {
    inner: S,
    state: AppState,
    series: Arc<Series>,
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
        let series = self.series.clone();
        Box::pin(async move { Ok(serve(&state, &series, inner, request).await) })
    }
}

/// One request through the edge, in and out.
async fn serve<S>(state: &AppState, series: &Series, mut inner: S, mut request: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let started = Instant::now();
    let id = request_id(&request);
    let method = method_label(request.method());
    // Plain text fields: the log format writes them without formatting.
    let span = tracing::info_span!(
        "request",
        request_id = &*id,
        method = request.method().as_str(),
        path = request.uri().path(),
    );
    let mut response = if announces_oversize(&request) {
        refuse_oversize(state, request)
    } else {
        tracing::debug!(parent: &span, "started processing request");
        // `call` inside the future: a panic while routing is caught too.
        let handled = async move {
            let renewal = session::resolve(state, &mut request);
            let Ok(mut response) = inner.call(request).await;
            renewal.apply(state, &mut response).await;
            response
        };
        trace::with_request_id(id.clone(), catching(handled))
            .instrument(span.clone())
            .await
    };
    let elapsed = started.elapsed();
    // At debug level whatever the status: 5xx are logged where they arise,
    // and 503s for an unreachable node are routine.
    tracing::debug!(
        parent: &span,
        status = response.status().as_u16(),
        latency_ms = elapsed.as_secs_f64() * 1e3,
        "finished processing request"
    );
    series.track(&response, method, elapsed);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// What `handled` answers, or a 500 in the uniform error body if it
/// panicked, so the connection survives.
async fn catching(handled: impl Future<Output = Response>) -> Response {
    AssertUnwindSafe(handled)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            ApiError::from(crate::error::Error::Internal(
                "a request handler panicked".into(),
            ))
            .into_response()
        })
}

/// The client's request id when it is a usable one, else a new one.
fn request_id(request: &Request) -> Arc<str> {
    request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| trace::is_valid_request_id(v))
        .map_or_else(
            || {
                let mut text = uuid::Uuid::encode_buffer();
                Arc::from(&*uuid::Uuid::now_v7().hyphenated().encode_lower(&mut text))
            },
            Arc::from,
        )
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

/// The request metrics' handles, by series: a series' labels are built
/// and looked up in the registry once, not per request (that was 2 % of
/// a rush's CPU).
#[derive(Default)]
pub(crate) struct Series(RwLock<HashMap<Box<str>, ByMethodAndStatus>>);

type ByMethodAndStatus = HashMap<(&'static str, u16), Handles>;
type Handles = (metrics::Counter, metrics::Histogram);

impl Series {
    /// Counts the request and times it, by route pattern (never the raw
    /// path: ids would make a series per ticket), method and status.
    fn track(&self, response: &Response, method: &'static str, elapsed: Duration) {
        let route = response
            .extensions()
            .get::<Route>()
            .map_or("unmatched", |r| r.0.as_str());
        let status = response.status().as_u16();
        let record = |(requests, duration): &Handles| {
            requests.increment(1);
            duration.record(elapsed.as_secs_f64());
        };
        let known = self.0.read().unwrap_or_else(|p| p.into_inner());
        if let Some(handles) = known.get(route).and_then(|m| m.get(&(method, status))) {
            return record(handles);
        }
        drop(known);
        let labels = [
            ("route", route.to_owned()),
            ("method", method.to_owned()),
            ("status", status.to_string()),
        ];
        let handles = (
            metrics::counter!(crate::metrics::HTTP_REQUESTS, &labels),
            metrics::histogram!(crate::metrics::HTTP_DURATION, &labels),
        );
        record(&handles);
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(route.into())
            .or_default()
            .insert((method, status), handles);
    }
}

/// Marks each route's responses with its pattern, for [`Series::track`]
/// (axum knows which route matched only inside the router).
#[derive(Clone, Copy)]
pub(crate) struct RouteLayer;

/// The route pattern that served a request, on its response.
#[derive(Clone)]
struct Route(MatchedPath);

impl<S> Layer<S> for RouteLayer {
    type Service = MarkRoute<S>;

    fn layer(&self, inner: S) -> MarkRoute<S> {
        MarkRoute(inner)
    }
}

#[derive(Clone)]
pub(crate) struct MarkRoute<S>(S);

impl<S> Service<Request> for MarkRoute<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Marked<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        Marked {
            inner: self.0.call(request),
            route,
        }
    }
}

/// A route's response, to be marked with its pattern.
pub(crate) struct Marked<F> {
    inner: F,
    route: Option<MatchedPath>,
}

impl<F> Future for Marked<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Ok(mut response) = std::task::ready!(Pin::new(&mut self.inner).poll(cx));
        if let Some(route) = self.route.take() {
            response.extensions_mut().insert(Route(route));
        }
        Poll::Ready(Ok(response))
    }
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

    async fn call<S>(mut service: S) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible>,
    {
        let Ok(response) = service.call(Request::new(axum::body::Body::empty())).await;
        response
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
            catching(call(in_handler)).await,
            catching(call(in_routing)).await,
        ] {
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
            let body = body_of(response).await;
            assert!(body["errors"][0]["message"].is_string(), "{body}");
        }
    }

    #[tokio::test]
    async fn a_handler_that_answers_is_passed_through() {
        let response = catching(async { (StatusCode::CREATED, "made").into_response() }).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
}
