//! `/api/payments`: pay for a held order.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    Json,
};
use serde_json::{json, Value};

use super::{
    error::ApiResult,
    idempotency_key,
    json::{Fields, JsonObject},
    session::SignedIn,
    AppState,
};
use crate::domain::{Invalid, OrderId};

pub(super) async fn create(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    headers: HeaderMap,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let key = idempotency_key(&headers)?;
    let mut f = Fields::new(body);
    let order = f.parse("orderId", |s| s.parse::<OrderId>());
    let token = f.parse("token", |s| {
        let t = s.trim();
        if t.is_empty() {
            Err(Invalid::new("token is required"))
        } else {
            Ok(t.to_owned())
        }
    });
    let (order, token) = f.done((order, token))?;
    let charge = state.ops.pay(me.id, order, token, key).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": charge.id }))))
}
