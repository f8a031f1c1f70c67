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
use crate::domain::{CouponCode, Invalid, OrderId, RuleError};

/// A payment's `orderId`, `coupon` and card `token`, checked (the order
/// page's pay form too).
pub(crate) fn payment_fields(
    body: JsonObject,
) -> ApiResult<(OrderId, Option<CouponCode>, Option<String>)> {
    let mut f = Fields::new(body);
    let order = f.parse("orderId", |s| s.parse::<OrderId>());
    // Any text: a code that cannot be valid names no coupon (404 below).
    let coupon = f.optional("coupon", |s| Ok(s.to_owned()));
    let token = f.optional("token", |s| {
        let t = s.trim();
        if t.is_empty() {
            Err(Invalid::new("token is required"))
        } else {
            Ok(t.to_owned())
        }
    });
    let (order, coupon, token) = f.done((order, coupon, token))?;
    // Whether a token is needed is the order actor's to say: only when the
    // coupon (if any) leaves something to charge.
    let coupon = coupon
        .map(|raw| CouponCode::parse(&raw).map_err(|_| RuleError::UnknownCoupon))
        .transpose()
        .map_err(crate::error::Error::from)?;
    Ok((order, coupon, token))
}

/// Pays for one of the caller's held orders, with a coupon if given.
///
/// The charge is the ticket's price less the coupon's discount, never below
/// 0; a coupon that leaves nothing to charge needs no `token`. The order is
/// then complete and the ticket sold. A payment that fails gives the
/// coupon's use back.
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
        (status = 201, description = "Charged (`amount`, 0 when a coupon paid it all): the \
            order is complete", body = ChargeView),
        (status = 400, description = "A field is invalid, the card is declined (code \
            `card_declined`), the order is cancelled, expired or already paid, the coupon \
            has expired or is used up (field `coupon`), a bad `Idempotency-Key`, or the body \
            is not a JSON object", body = ErrorBody),
        (status = 401, description = "Not signed in, or not the buyer", body = ErrorBody),
        (status = 404, description = "No such order, or no such coupon (field `coupon`)",
            body = ErrorBody),
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
    let (order, coupon, token) = payment_fields(body)?;
    let charge = state.ops.pay_with(me.id, order, token, coupon, key).await?;
    Ok((StatusCode::CREATED, Json(ChargeView::from(&charge))))
}
