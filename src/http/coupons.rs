//! `/api/coupons`: admins create and list coupons; anyone signed in may
//! look one up by code.

use axum::{extract::State, http::StatusCode, response::Response, Json};

use super::{
    error::{ApiResult, ErrorBody},
    json::{Fields, JsonObject},
    openapi::bodies,
    paging::{page_response, Params},
    session::{Admin, SignedIn},
    views::CouponView,
    AppState, PathId,
};
use crate::{
    domain::{Coupon, CouponCode, Discount, Invalid, RuleError, Timestamp},
    error::Error,
};

/// A new coupon from its fields, checked (the admin's coupon page too).
pub(crate) fn coupon_fields(body: JsonObject) -> ApiResult<Coupon> {
    let mut f = Fields::new(body);
    let code = f.parse("code", CouponCode::parse);
    let percent = f.optional_whole("percentOff", 1, 100);
    let amount = f.optional_price("amountOff");
    let max = f.whole("maxRedemptions", 1, u64::from(u32::MAX));
    let expires = f.optional("expiresAt", Timestamp::parse_rfc3339);
    let discount = match (percent, amount) {
        (Some(Some(_)), Some(Some(_))) => {
            f.refuse("amountOff", "Give percentOff or amountOff, not both");
            None
        }
        (Some(None), Some(None)) => {
            f.refuse("percentOff", "percentOff or amountOff is required");
            None
        }
        (Some(Some(p)), Some(None)) => Discount::percent(p).ok(),
        (Some(None), Some(Some(a))) => Some(Discount::Amount(a)),
        // A field error is already noted.
        _ => None,
    };
    let (code, discount, max, expires) = f.done((code, discount, max, expires))?;
    let max = u32::try_from(max).map_err(|_| Error::invalid("maxRedemptions", "Too large"))?;
    Coupon::new(code, discount, max, expires, Timestamp::now())
        .map_err(|(field, Invalid(message))| Error::invalid(field, message).into())
}

/// Creates a coupon (admins).
///
/// Codes are case-insensitive: they are kept, shown and matched upper-case.
#[utoipa::path(
    post,
    path = "/api/coupons",
    operation_id = "createCoupon",
    tag = "coupons",
    request_body = bodies::CouponInput,
    security(("sessionCookie" = []), ("bearerJwt" = [])),
    responses(
        (status = 201, description = "Created", body = CouponView),
        (status = 400, description = "A field is invalid (`code`, `percentOff`, `amountOff`, \
            `maxRedemptions`, `expiresAt`), the code is in use (\"Coupon code in use\", field \
            `code`), or the body is not a JSON object", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 503, description = "The code's home node is not reached", body = ErrorBody),
    ),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    Admin(admin): Admin,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<CouponView>)> {
    let coupon = coupon_fields(body)?;
    let coupon = state.ops.create_coupon(coupon).await?;
    tracing::info!(admin = %admin.email, code = %coupon.code, "coupon created");
    Ok((StatusCode::CREATED, Json(CouponView::from(&coupon))))
}

/// Every coupon, by code (admins).
#[utoipa::path(
    get,
    path = "/api/coupons",
    operation_id = "listCoupons",
    tag = "coupons",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000,
            description = "Page size, 1 to 1000 (1000 when absent)"),
        ("after" = Option<String>, Query,
            description = "The cursor from the previous page's `Link` header (a code)"),
    ),
    security(("sessionCookie" = []), ("bearerJwt" = [])),
    responses(
        (status = 200, description = "Coupons by code", body = [CouponView],
            headers(
                ("link" = String,
                    description = "`</api/coupons?limit=…&after=…>; rel=\"next\"` when there is more"),
            )),
        (status = 400, description = "A bad `limit` or `after`, or an unreadable query string",
            body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 503, description = "Some node's coupons could not be read", body = ErrorBody),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    Admin(_): Admin,
    params: Params,
) -> ApiResult<Response> {
    let limit = params.limit()?;
    let after = params.after::<CouponCode>()?;
    let list = state.ops.coupons(after, limit).await?;
    let body: Vec<CouponView> = list.coupons.iter().map(CouponView::from).collect();
    let next = list.next.map(|c| c.to_string());
    let pairs = vec![("limit", limit.to_string())];
    Ok(page_response(&body, "/api/coupons", next, pairs))
}

/// One coupon: what it takes off, and whether uses are left.
#[utoipa::path(
    get,
    path = "/api/coupons/{code}",
    operation_id = "showCoupon",
    tag = "coupons",
    params(("code" = String, Path, description = "The code, in any case")),
    security(("sessionCookie" = []), ("bearerJwt" = [])),
    responses(
        (status = 200, description = "The coupon", body = CouponView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such coupon (field `coupon`)", body = ErrorBody),
        (status = 503, description = "The code's home node is not reached", body = ErrorBody),
    ),
)]
pub(super) async fn show(
    State(state): State<AppState>,
    SignedIn(_): SignedIn,
    PathId(code): PathId,
) -> ApiResult<Json<CouponView>> {
    // A code that cannot exist is simply not found.
    let code = CouponCode::parse(&code).map_err(|_| Error::Rule(RuleError::UnknownCoupon))?;
    let coupon = state.ops.coupon(code).await?;
    Ok(Json(CouponView::from(&coupon)))
}
