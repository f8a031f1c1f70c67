//! Every failure leaves as `{"errors":[{"message":..,"field":..,"code":..}]}`
//! with a fitting 4xx (or 503/500): framework rejections included.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;

use crate::{domain::RuleError, error::Error};

/// One thing wrong with a request (or with serving it).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct FieldError {
    /// For people: what went wrong, in words.
    #[schema(example = "Price must be a number with at most 2 decimals")]
    pub message: String,
    /// The request field at fault, on validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "price")]
    pub field: Option<String>,
    /// For programs, stable: `bad_request`, `invalid`, `content_type`,
    /// `malformed_json`, `too_large`, `body_timeout`, `unauthorized`,
    /// `admin_disabled`, `not_found`, `method_not_allowed`, `price_changed`,
    /// `ticket_reserved`, `ticket_sold`, `order_complete`, `order_cancelled`,
    /// `order_expired`, `card_declined`, `coupon_expired`, `coupon_used_up`,
    /// `forbidden`, `unavailable`, `peers_unreachable`, `internal`.
    #[schema(value_type = String, example = "invalid")]
    pub code: &'static str,
}

/// The body of every error response: one or more errors.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"errors": [{"message": "Price must be a number with at most 2 decimals", "field": "price", "code": "invalid"}]}))]
pub(crate) struct ErrorBody {
    /// At least one.
    #[schema(min_items = 1)]
    pub errors: Vec<FieldError>,
}

/// An HTTP-level failure: a status and one or more errors.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    errors: Vec<FieldError>,
    retry_after: Option<u32>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            errors: vec![FieldError {
                message: message.into(),
                field: None,
                code,
            }],
            retry_after: None,
        }
    }

    /// Several field errors at once (one request can be wrong in many ways).
    pub(crate) fn validation(errors: Vec<FieldError>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            errors,
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Not authorized")
    }

    /// Asks the client to wait this many seconds before trying again.
    pub(crate) fn with_retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub(crate) fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Admins only")
    }

    /// The status it answers with.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// What went wrong, one or more things.
    pub(crate) fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// Seconds until a retry may succeed, for a 429 or 503.
    pub(crate) fn retry_after(&self) -> Option<u32> {
        self.retry_after
    }

    pub(crate) fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid { field, message } => Self::validation(vec![FieldError {
                message,
                code: if field.is_some() {
                    "invalid"
                } else {
                    "bad_request"
                },
                field,
            }]),
            Error::NotFound(what) => Self::not_found(&what),
            Error::Unauthorized(msg) => Self::new(StatusCode::UNAUTHORIZED, "unauthorized", msg),
            Error::Forbidden(msg) => Self::new(StatusCode::FORBIDDEN, "forbidden", msg),
            Error::Throttled {
                message,
                retry_after_secs,
            } => Self {
                retry_after: Some(retry_after_secs.max(1)),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", message)
            },
            Error::Rule(RuleError::NotOwner) => Self::unauthorized(),
            Error::Rule(rule @ RuleError::AccountSuspended) => {
                Self::new(StatusCode::FORBIDDEN, rule_code(&rule), rule.to_string())
            }
            Error::Rule(rule @ RuleError::PriceChanged(_)) => Self {
                status: StatusCode::CONFLICT,
                errors: vec![FieldError {
                    message: rule.to_string(),
                    field: Some("price".into()),
                    code: rule_code(&rule),
                }],
                retry_after: None,
            },
            // A coupon's refusals name the field it came in (a payment's
            // `coupon`, or the path of `GET /api/coupons/{code}`).
            Error::Rule(
                rule @ (RuleError::UnknownCoupon
                | RuleError::CouponExpired
                | RuleError::CouponUsedUp),
            ) => Self {
                status: if rule == RuleError::UnknownCoupon {
                    StatusCode::NOT_FOUND
                } else {
                    StatusCode::BAD_REQUEST
                },
                errors: vec![FieldError {
                    message: rule.to_string(),
                    field: Some("coupon".into()),
                    code: rule_code(&rule),
                }],
                retry_after: None,
            },
            Error::Rule(rule) => {
                Self::new(StatusCode::BAD_REQUEST, rule_code(&rule), rule.to_string())
            }
            Error::PaymentDeclined(msg) => Self::new(StatusCode::BAD_REQUEST, "card_declined", msg),
            Error::Unavailable(msg) => Self {
                retry_after: Some(1),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", msg)
            },
            Error::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Something went wrong",
                )
            }
        }
    }
}

fn rule_code(rule: &RuleError) -> &'static str {
    match rule {
        RuleError::TicketReserved | RuleError::AlreadyReserved => "ticket_reserved",
        RuleError::TicketSold => "ticket_sold",
        RuleError::PriceChanged(_) => "price_changed",
        RuleError::NotOwner => "unauthorized",
        RuleError::OrderCompleted | RuleError::AlreadyPaid => "order_complete",
        RuleError::OrderCancelled => "order_cancelled",
        RuleError::OrderExpired => "order_expired",
        RuleError::HoldLimitReached => "hold_limit",
        RuleError::AccountSuspended => "account_suspended",
        RuleError::UnknownCoupon => "not_found",
        RuleError::CouponExpired => "coupon_expired",
        RuleError::CouponUsedUp => "coupon_used_up",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            Json(ErrorBody {
                errors: self.errors,
            }),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;
