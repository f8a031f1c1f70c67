//! `/api/orders`: buy (hold), list, show, cancel.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};

use super::{
    error::{ApiError, ApiResult},
    idempotency_key,
    json::{Fields, JsonObject},
    paging::{link_next, Params},
    session::SignedIn,
    views::OrderView,
    AppState, PathId,
};
use crate::domain::{OrderId, TicketId};

fn order_id(raw: &str) -> ApiResult<OrderId> {
    raw.parse().map_err(|_| ApiError::not_found("Order"))
}

pub(super) async fn create(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    headers: HeaderMap,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<OrderView>)> {
    let key = idempotency_key(&headers)?;
    let mut f = Fields::new(body);
    let ticket = f.parse("ticketId", |s| s.parse::<TicketId>());
    let seen = f.optional_price("price");
    let (ticket, seen) = f.done((ticket, seen))?;
    let order = state.ops.buy(me.id, ticket, key, seen).await?;
    Ok((StatusCode::CREATED, Json(OrderView::from(&order))))
}

/// Header naming the nodes whose orders are missing from a list.
pub(super) const UNREACHABLE_HEADER: &str = "boxoffice-unreachable-nodes";

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
    let mut res = link_next(Json(body).into_response(), "/api/orders", next, pairs);
    if !list.unreachable.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&list.unreachable.join(",")) {
            res.headers_mut().insert(UNREACHABLE_HEADER, v);
        }
    }
    Ok(res)
}

pub(super) async fn show(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    PathId(id): PathId,
) -> ApiResult<Json<OrderView>> {
    let order = state.ops.order(me.id, order_id(&id)?).await?;
    Ok(Json(OrderView::from(&order)))
}

pub(super) async fn cancel(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    state.ops.cancel(me.id, order_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
