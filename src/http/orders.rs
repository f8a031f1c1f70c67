//! `/api/orders`: buy (hold), list, show, cancel.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::Response,
    Json,
};

use super::{
    error::{ApiError, ApiResult, ErrorBody},
    idempotency_key,
    json::{Fields, JsonObject},
    openapi::bodies,
    paging::{page_response, Params},
    session::SignedIn,
    views::OrderView,
    AppState, PathId,
};
use crate::domain::{OrderId, Price, TicketId};

/// An order id from the path; one that cannot exist is simply not found.
pub(crate) fn order_id(raw: &str) -> ApiResult<OrderId> {
    raw.parse().map_err(|_| ApiError::not_found("Order"))
}

/// A BUY's `ticketId` and the `price` the buyer saw, if given (the
/// ticket page's Purchase button too).
pub(crate) fn buy_fields(body: JsonObject) -> ApiResult<(TicketId, Option<Price>)> {
    let mut f = Fields::new(body);
    let ticket = f.parse("ticketId", |s| s.parse::<TicketId>());
    let seen = f.optional_price("price");
    f.done((ticket, seen))
}

/// BUY: holds a ticket for the caller.
///
/// The order holds the ticket until it expires (15 minutes by default), is
/// paid, or is cancelled.
#[utoipa::path(
    post,
    path = "/api/orders",
    operation_id = "buy",
    tag = "orders",
    request_body = bodies::Buy,
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 255,
            description = "A retry with the same key returns the first outcome, never a \
                second order"),
    ),
    security(("sessionCookie" = []), ("bearerJwt" = [])),
    responses(
        (status = 201, description = "The ticket is held by this order", body = OrderView),
        (status = 400, description = "A field is invalid, the ticket is already reserved or \
            sold, a bad `Idempotency-Key`, or the body is not a JSON object", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such ticket", body = ErrorBody),
        (status = 409, description = "`price` was given and the ticket's price is not that \
            any more (code `price_changed`; the message names the current price); nothing is \
            held", body = ErrorBody),
        (status = 503, description = "The ticket's home node is not reached", body = ErrorBody),
    ),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    headers: HeaderMap,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<OrderView>)> {
    let key = idempotency_key(&headers)?;
    let (ticket, seen) = buy_fields(body)?;
    let order = state.ops.buy(me.id, ticket, key, seen).await?;
    Ok((StatusCode::CREATED, Json(OrderView::from(&order))))
}

/// Header naming the nodes whose orders are missing from a list.
pub(super) const UNREACHABLE_HEADER: &str = "boxoffice-unreachable-nodes";

/// The caller's orders, oldest first.
#[utoipa::path(
    get,
    path = "/api/orders",
    operation_id = "listOrders",
    tag = "orders",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000,
            description = "Page size, 1 to 1000 (1000 when absent)"),
        ("after" = Option<uuid::Uuid>, Query,
            description = "The cursor from the previous page's `Link` header (an order id)"),
    ),
    security(("sessionCookie" = []), ("bearerJwt" = [])),
    responses(
        (status = 200, description = "The caller's orders from the reachable nodes",
            body = [OrderView],
            headers(
                ("link" = String,
                    description = "`</api/orders?limit=…&after=…>; rel=\"next\"` when there is more"),
                ("boxoffice-unreachable-nodes" = String,
                    description = "Comma-separated names of the nodes whose orders are missing"),
            )),
        (status = 400, description = "A bad `limit` or `after`, or an unreadable query string",
            body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 503, description = "The orders could not be read", body = ErrorBody),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    params: Params,
) -> ApiResult<Response> {
    let limit = params.limit()?;
    let after = params.after::<OrderId>()?;
    let list = state.ops.orders_of(me.id, after, limit).await?;
    let body: Vec<OrderView> = list.orders.iter().map(OrderView::from).collect();
    let next = list.next.map(|id| id.to_string());
    let pairs = vec![("limit", limit.to_string())];
    let mut res = page_response(&body, "/api/orders", next, pairs);
    if !list.unreachable.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&list.unreachable.join(",")) {
            res.headers_mut().insert(UNREACHABLE_HEADER, v);
        }
    }
    Ok(res)
}

/// One of the caller's orders.
#[utoipa::path(
    get,
    path = "/api/orders/{id}",
    operation_id = "showOrder",
    tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "The order's id")),
    security(("sessionCookie" = []), ("bearerJwt" = [])),
    responses(
        (status = 200, description = "The order", body = OrderView),
        (status = 401, description = "Not signed in, or not the buyer", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 503, description = "The order's home node is not reached", body = ErrorBody),
    ),
)]
pub(super) async fn show(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    PathId(id): PathId,
) -> ApiResult<Json<OrderView>> {
    let order = state.ops.order(me.id, order_id(&id)?).await?;
    Ok(Json(OrderView::from(&order)))
}

/// Cancels one of the caller's orders: the ticket is free again.
#[utoipa::path(
    delete,
    path = "/api/orders/{id}",
    operation_id = "cancelOrder",
    tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "The order's id")),
    security(("sessionCookie" = []), ("bearerJwt" = [])),
    responses(
        (status = 204, description = "Cancelled: the ticket is free again. The order stays \
            readable, with status `cancelled`"),
        (status = 400, description = "The order is paid", body = ErrorBody),
        (status = 401, description = "Not signed in, or not the buyer", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 503, description = "The order's home node is not reached", body = ErrorBody),
    ),
)]
pub(super) async fn cancel(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    state.ops.cancel(me.id, order_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
