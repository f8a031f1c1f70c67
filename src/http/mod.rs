//! The HTTP API (axum). Handlers parse and check input, find the caller,
//! and pass one call to the [`Ops`]; no business rule lives here.

mod admin;
pub(crate) mod client;
pub(crate) mod coupons;
mod edge;
pub(crate) mod error;
pub(crate) mod json;
mod openapi;
pub(crate) mod orders;
pub(crate) mod paging;
pub(crate) mod payments;
pub(crate) mod server;
pub(crate) mod session;
pub(crate) mod stream;
pub(crate) mod tickets;
pub(crate) mod users;
pub(crate) mod views;

use std::sync::Arc;

use axum::{
    extract::DefaultBodyLimit,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Json, Router,
};

use self::{
    error::{ApiError, ApiResult},
    session::Sessions,
};
use crate::ops::Ops;

pub(crate) use json::BODY_LIMIT;

/// What every handler is given: one pointer, so the per-request clones
/// axum makes (one per extractor and layer) cost one count each, not one
/// per field.
#[derive(Clone)]
pub(crate) struct AppState(Arc<NodeState>);

impl AppState {
    pub(crate) fn new(state: NodeState) -> Self {
        Self(Arc::new(state))
    }
}

impl std::ops::Deref for AppState {
    type Target = NodeState;

    fn deref(&self) -> &NodeState {
        &self.0
    }
}

/// The node's parts that requests use.
pub(crate) struct NodeState {
    pub ops: Ops,
    pub sessions: Sessions,
    pub admin_token: Option<Arc<str>>,
    /// A request body must arrive in full within this (else 408).
    pub body_timeout: std::time::Duration,
    /// Whether `X-Forwarded-For` names the client (behind a proxy that
    /// sets it), rather than the socket's peer.
    pub trust_proxy: bool,
    /// Renders an HTML error page for a page path the router itself
    /// refused (the pages' own renderer, given by whoever starts the node).
    pub error_page: ErrorPage,
    /// The event logs this node has not yet read to their end since it
    /// started: not ready until none is left.
    pub logs_unread: crate::follow::Progress,
    /// True once the node starts shutting down: live streams end then, so
    /// the graceful drain need not wait for them.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// The live streams open on this node, within their limits.
    pub streams: Arc<stream::Streams>,
}

/// An HTML error page: status and message, for the request's viewer.
pub(crate) type ErrorPage =
    fn(&AppState, &axum::http::request::Parts, StatusCode, &str) -> Response;

/// The API's routes and `pages` (given by whoever starts the node, so this
/// layer never names the one above it), under the layers every request
/// passes.
pub(crate) fn router(state: AppState, pages: Router<AppState>) -> Router {
    Router::new()
        .route("/api/users/signup", post(users::sign_up))
        .route("/api/users/signin", post(users::sign_in))
        .route("/api/users/signout", post(users::sign_out))
        .route("/api/users/currentuser", get(users::current_user))
        .route("/api/users/password", put(users::change_password))
        .route("/api/users/{id}/ban", put(users::ban).delete(users::unban))
        .route("/api/tickets", get(tickets::list).post(tickets::create))
        .route("/api/tickets/stream", get(stream::tickets))
        .route("/api/tickets/{id}", get(tickets::show).put(tickets::update))
        .route("/api/orders", get(orders::list).post(orders::create))
        .route("/api/orders/{id}", get(orders::show).delete(orders::cancel))
        .route("/api/payments", post(payments::create))
        .route("/api/coupons", get(coupons::list).post(coupons::create))
        .route("/api/coupons/{code}", get(coupons::show))
        .route("/api/admin/events", get(admin::events))
        .route("/api/admin/stats", get(admin::stats))
        .route("/api/admin/placement", get(admin::placement))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/openapi.json", get(openapi::serve))
        // The pages: not API routes, so not in the OpenAPI document.
        .merge(pages)
        .route_layer(edge::RouteLayer)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(edge::EdgeLayer::new(state.clone()))
        .with_state(state)
}

/// Prometheus metrics.
///
/// For whoever can reach the node: the Kubernetes Ingress routes only `/api`.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "health",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4 \
            (`text/plain; version=0.0.4; charset=utf-8`)",
            content_type = "text/plain", body = String),
    ),
)]
async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    use crate::metrics as m;
    let (tickets, orders) = state.ops.live_actors_by_kind();
    metrics::gauge!(m::LIVE_ACTORS, "kind" => "ticket").set(tickets as f64);
    metrics::gauge!(m::LIVE_ACTORS, "kind" => "order").set(orders as f64);
    if let Ok(holds) = state.ops.pending_holds() {
        metrics::gauge!(m::HOLDS_PENDING).set(holds as f64);
    }
    metrics::gauge!(m::REVOKED_ACCOUNTS).set(state.ops.revoked_accounts() as f64);
    for peer in state.ops.cluster().map(|c| c.peers()).unwrap_or_default() {
        metrics::gauge!(m::PEER_UP, "peer" => peer.name.clone()).set(f64::from(u8::from(peer.up)));
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(),
    )
        .into_response()
}

/// Header carrying the request id, in and out.
const REQUEST_ID: &str = "x-request-id";

/// The client's `Idempotency-Key`, if it sent one. Only then is the outcome
/// remembered: nobody could retry with a key made up here.
fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => match v.to_str() {
            Ok(k) if !k.trim().is_empty() && k.len() <= 255 => Ok(Some(k.trim().to_owned())),
            _ => Err(ApiError::bad_request(
                "Idempotency-Key must be 1 to 255 visible characters",
            )),
        },
    }
}

/// The `{id}` segment of a path, as text. Any rejection (for instance an
/// id that is not valid UTF-8 once percent-decoded) means "no such thing".
pub(crate) struct PathId(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> ApiResult<Self> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(id)| Self(id))
            .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "Not found"))
    }
}

/// Liveness: 200 while the process serves.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "health",
    responses((status = 200, description = "The process serves", body = openapi::bodies::Health)),
)]
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: 200 when every peer answers and this node has read every
/// peer's event log to its end since it started.
///
/// Until then its view of ended sessions (and of the catalog) may be
/// behind what the other nodes say. A node alone is ready once its own
/// store has filled its read models, which comes before it serves.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "health",
    responses(
        (status = 200, description = "Every peer answers", body = openapi::bodies::Ready),
        (status = 503, description = "Some peers are not reached, or some nodes' event logs \
            are not read yet; the message names them", body = error::ErrorBody),
    ),
)]
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let peers = state.ops.cluster().map(|c| c.peers()).unwrap_or_default();
    let down: Vec<&str> = peers
        .iter()
        .filter(|p| !p.up)
        .map(|p| p.name.as_str())
        .collect();
    let unread = state.logs_unread.unread();
    let refusal = if !down.is_empty() {
        Some((
            "peers_unreachable",
            format!("Peers not reached: {}", down.join(", ")),
        ))
    } else if !unread.is_empty() {
        Some((
            "catching_up",
            format!("Event logs not read yet: {}", unread.join(", ")),
        ))
    } else {
        None
    };
    if let Some((code, message)) = refusal {
        let mut err = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message).into_response();
        err.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(1),
        );
        err
    } else {
        Json(serde_json::json!({ "status": "ready", "peers": peers })).into_response()
    }
}

/// Whether `path` is a page's, whose errors are HTML pages, rather than
/// the API's or an operator's, whose errors are the JSON body.
fn is_page(path: &str) -> bool {
    let api = path == "/api" || path.starts_with("/api/");
    !api && !matches!(path, "/metrics" | "/healthz" | "/readyz")
}

/// An unknown path: the uniform JSON error under `/api`, an HTML page
/// (the pages' 404) elsewhere.
async fn not_found(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
) -> Response {
    if !is_page(request.uri().path()) {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", "Route not found")
            .into_response();
    }
    let (parts, _) = request.into_parts();
    (state.error_page)(
        &state,
        &parts,
        StatusCode::NOT_FOUND,
        "There is no page here.",
    )
}

async fn method_not_allowed(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
) -> Response {
    if !is_page(request.uri().path()) {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
        )
        .into_response();
    }
    let (parts, _) = request.into_parts();
    (state.error_page)(
        &state,
        &parts,
        StatusCode::METHOD_NOT_ALLOWED,
        "This page cannot be reached that way.",
    )
}
