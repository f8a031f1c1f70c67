//! `/api/orders`: buy (hold), list, show, cancel.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    Json,
};
use serde_json::Value;

use super::{
    error::{ApiError, ApiResult},
    idempotency_key,
    json::{Fields, JsonObject},
    session::SignedIn,
    AppState, PathId,
};
use crate::domain::{OrderId, TicketId};

fn order_id(raw: &str) -> ApiResult<OrderId> {
    raw.parse().map_err(|_| ApiError::not_found("Order"))
}

pub async fn create(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    headers: HeaderMap,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let key = idempotency_key(&headers)?;
    let mut f = Fields::new(body);
    let ticket = f.parse("ticketId", |s| s.parse::<TicketId>());
    let ticket = f.done((ticket,))?;
    let order = state.service.reserve(me.id, ticket, key).await?;
    Ok((StatusCode::CREATED, Json(order.to_json())))
}

pub async fn list(State(state): State<AppState>, SignedIn(me): SignedIn) -> ApiResult<Json<Value>> {
    let orders = state.service.orders_of(me.id)?;
    Ok(Json(Value::Array(
        orders.iter().map(|o| o.to_json()).collect(),
    )))
}

pub async fn show(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    Ok(Json(state.service.order(me.id, order_id(&id)?)?.to_json()))
}

pub async fn cancel(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    state.service.cancel(me.id, order_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
