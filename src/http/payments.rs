//! `/api/payments`: pay for a held order.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    Json,
};

use super::{
    error::{ApiResult, ErrorBody},
    idempotency_key,
    json::{Fields, JsonObject},
    openapi::bodies,
    session::SignedIn,
    views::ChargeView,
    AppState,
};
use crate::domain::{Invalid, OrderId};

/// Pays for one of the caller's held orders.
///
/// The order is then complete and the ticket sold.
#[utoipa::path(
    post,
    path = "/api/payments",
    operation_id = "pay",
    tag = "payments",
    request_body = bodies::Payment,
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 255,
            description = "A retry with the same key returns the first outcome, never a \
                second charge"),
    ),
    security(("sessionCookie" = []), ("bearerJwt" = [])),
    responses(
        (status = 201, description = "Charged: the order is complete", body = ChargeView),
        (status = 400, description = "A field is invalid, the card is declined (code \
            `card_declined`), the order is cancelled, expired or already paid, a bad \
            `Idempotency-Key`, or the body is not a JSON object", body = ErrorBody),
        (status = 401, description = "Not signed in, or not the buyer", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 503, description = "The order's home node is not reached, or the payment \
            provider did not answer in time (the order stays payable; retry)", body = ErrorBody),
    ),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    headers: HeaderMap,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<ChargeView>)> {
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
    Ok((StatusCode::CREATED, Json(ChargeView { id: charge.id })))
}
