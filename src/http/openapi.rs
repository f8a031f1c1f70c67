//! The OpenAPI 3.1 description of the HTTP API, generated from the code
//! (`utoipa`) and served at `GET /api/openapi.json`.
//!
//! Each handler carries its own `#[utoipa::path]` (method, path, body,
//! responses, security); the response shapes are the structs the handlers
//! serialize (`views`, `error::ErrorBody`). Handlers read JSON bodies field
//! by field ([`super::json::Fields`]), so the request bodies are described
//! by the small structs below. What every route shares (the `x-request-id`
//! header, 408, 413 and 500, `Retry-After` on 503) is added once, by
//! [`Shared`].

use std::sync::LazyLock;

use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use serde_json::json;
use utoipa::{
    openapi::{
        path::{Operation, ParameterBuilder, ParameterIn},
        schema::Type,
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
        ContentBuilder, Header, ObjectBuilder, OneOfBuilder, Ref, RefOr, Required,
        Response as ApiResponse, Schema,
    },
    Modify, OpenApi, ToSchema,
};

use super::{
    admin, coupons, error::ErrorBody, orders, payments, stream, tickets, users,
    views::TicketChangeView,
};

/// The document, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI document serializes")
});

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    operation_id = "openapi",
    tag = "meta",
    responses(
        (status = 200, description = "This document: OpenAPI 3.1", content_type = "application/json",
            body = inline(Object)),
    ),
)]
pub(super) async fn serve() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "boxoffice",
        description = "A ticket marketplace: sign up, sell tickets, BUY (an order holds the \
            ticket for 15 minutes), pay, or let the hold lapse. A ticket is never held or sold \
            twice; a 2xx means the change is on disk.\n\n\
            JSON in and out. Every error, whatever the status (including 404 for an unknown \
            route and 405 for a method a path does not have), has the body \
            `{\"errors\":[{\"message\",\"field\"?,\"code\"}]}`; a 503 carries `Retry-After`. \
            Signed-in routes take the `session` cookie that sign-up and sign-in set, or the \
            same JWT as `Authorization: Bearer <jwt>`; `/api/admin/*` takes \
            `Authorization: Bearer $ADMIN_TOKEN` instead.",
        license(name = "MIT", identifier = "MIT"),
    ),
    paths(
        users::sign_up,
        users::sign_in,
        users::sign_out,
        users::current_user,
        users::change_password,
        users::ban,
        users::unban,
        tickets::list,
        tickets::create,
        tickets::show,
        tickets::update,
        stream::tickets,
        orders::list,
        orders::create,
        orders::show,
        orders::cancel,
        payments::create,
        coupons::create,
        coupons::list,
        coupons::show,
        admin::events,
        admin::stats,
        admin::placement,
        super::metrics,
        super::healthz,
        super::readyz,
        serve,
    ),
    components(schemas(ErrorBody, TicketChangeView)),
    modifiers(&Shared),
    tags(
        (name = "users", description = "Accounts and sessions"),
        (name = "tickets", description = "Tickets for sale"),
        (name = "orders", description = "BUY (a hold), list, show, cancel"),
        (name = "payments", description = "Paying for a held order"),
        (name = "coupons", description = "Discounts: admins (the accounts in \
            `BOXOFFICE_ADMINS`) create them; buyers pay with them"),
        (name = "admin", description = "For operators: `/api/admin/*` takes \
            `Authorization: Bearer $ADMIN_TOKEN`; bans take the session of an admin (an \
            account listed in `BOXOFFICE_ADMINS`)"),
        (name = "health", description = "For orchestrators and monitoring"),
        (name = "meta", description = "This document"),
    ),
)]
struct ApiDoc;

/// Security requirement names, as the handlers' `security(...)` use them.
pub(super) const SESSION_COOKIE: &str = "sessionCookie";
pub(super) const BEARER_JWT: &str = "bearerJwt";
pub(super) const ADMIN_TOKEN: &str = "adminToken";

/// The security schemes, and what every operation shares.
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SESSION_COOKIE,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::session::COOKIE,
                "The session cookie set by sign-up and sign-in: an HS256 JWT, good for 15 \
                 minutes, re-issued in the second half of its life",
            ))),
        );
        components.add_security_scheme(
            BEARER_JWT,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The session's JWT (the `session` cookie's value) as \
                         `Authorization: Bearer <jwt>`",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            ADMIN_TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The node's ADMIN_TOKEN (not a session JWT) as \
                         `Authorization: Bearer $ADMIN_TOKEN`; without ADMIN_TOKEN set \
                         the admin API answers 403",
                    ))
                    .build(),
            ),
        );

        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                share(operation);
            }
        }
    }
}

/// Adds to `operation` what every route has: the request id header in and
/// out, the limits on bodies, the uniform 500, `Retry-After` on a 503.
fn share(operation: &mut Operation) {
    operation.parameters.get_or_insert_with(Vec::new).push(
        ParameterBuilder::new()
            .name(super::REQUEST_ID)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "A request id of your own, returned in `x-request-id` and named in the \
                 server's logs. Used when it is 1 to 64 ASCII letters, digits, `.`, `_`, `:` \
                 or `-`; otherwise (never refused) a fresh one is made",
            ))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build(),
    );
    let responses = &mut operation.responses.responses;
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(error_response(description)));
    };
    add(
        "413",
        "The body (as announced by `Content-Length`) is over 64 KiB; the connection is closed",
    );
    if operation.request_body.is_some() {
        add("408", "The body did not arrive within the body timeout");
    }
    add(
        "500",
        "A bug or a broken disk (details are logged, not shown)",
    );

    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        response.headers.insert(
            super::REQUEST_ID.to_owned(),
            header_of(
                ObjectBuilder::new().schema_type(Type::String),
                "The request's id: the client's `x-request-id` if it sent a usable one",
            ),
        );
        if status == "503" {
            response.headers.insert(
                "retry-after".to_owned(),
                header_of(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                    "Seconds to wait before trying again",
                ),
            );
        }
    }
}

fn header_of(schema: ObjectBuilder, description: &str) -> Header {
    let mut header = Header::new(schema);
    header.description = Some(description.to_owned());
    header
}

/// A response with the uniform error body.
fn error_response(description: &str) -> ApiResponse {
    let mut response = ApiResponse::new(description);
    response.content.insert(
        "application/json".to_owned(),
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    );
    response
}

/// A decimal string in (0, 1000000] with at most two significant decimals
/// (trailing zeros do not count), as `Price::parse` takes it.
const PRICE_PATTERN: &str = concat!(
    r"^\s*(",
    r"0*[1-9][0-9]{0,5}(\.[0-9]{1,2}0*)?",
    r"|0*1000000(\.0+)?",
    r"|0*\.(0[1-9]|[1-9][0-9]?)0*",
    r")\s*$",
);

/// A price as clients send it: a JSON number or a numeric string, greater
/// than 0, at most 1000000, with at most two decimals. Numbers are read
/// from their literal text, so `19.999999999999999999` is refused, not
/// rounded.
pub(super) struct PriceInput;

impl utoipa::PartialSchema for PriceInput {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .exclusive_minimum(Some(0))
                    .maximum(Some(1_000_000))
                    .examples([json!(49.9)]),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(PRICE_PATTERN))
                    .examples([json!("49.90")]),
            )
            .description(Some(
                "A JSON number or a numeric string, greater than 0 and at most 1000000, with \
                 at most two decimals; numbers are read from their literal text, never rounded",
            ))
            .into()
    }
}

impl ToSchema for PriceInput {}

/// The bodies the handlers read through [`super::json::Fields`]: they
/// document the accepted shapes and are never built.
#[allow(dead_code)]
pub(super) mod bodies {
    use utoipa::ToSchema;

    use super::PriceInput;

    /// A new account.
    #[derive(ToSchema)]
    pub(crate) struct SignUp {
        /// A valid address; trimmed and lower-cased.
        #[schema(format = Email, max_length = 254, example = "sam@example.com")]
        email: String,
        /// 8 to 128 characters after trimming.
        #[schema(min_length = 8, max_length = 128, example = "correct horse")]
        password: String,
    }

    /// Credentials.
    #[derive(ToSchema)]
    pub(crate) struct SignIn {
        #[schema(example = "sam@example.com")]
        email: String,
        #[schema(example = "correct horse")]
        password: String,
    }

    /// A password change.
    #[derive(ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct ChangePassword {
        current_password: String,
        /// 8 to 128 characters after trimming.
        #[schema(min_length = 8, max_length = 128)]
        new_password: String,
    }

    /// A ticket's title and price, to create or edit it.
    #[derive(ToSchema)]
    pub(crate) struct TicketInput {
        /// 1 to 200 characters after trimming whitespace and invisible
        /// format characters; no control characters.
        #[schema(min_length = 1, max_length = 200, example = "Concert")]
        title: String,
        price: PriceInput,
    }

    /// BUY: hold a ticket.
    #[derive(ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct Buy {
        #[schema(value_type = uuid::Uuid)]
        ticket_id: String,
        /// The price the buyer was shown: if the ticket's price is not this
        /// any more, the BUY is refused (409) and nothing is held.
        #[schema(required = false)]
        price: Option<PriceInput>,
    }

    /// Pay for a held order.
    #[derive(ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct Payment {
        #[schema(value_type = uuid::Uuid)]
        order_id: String,
        /// A card token, as Stripe test mode names them: `tok_visa`,
        /// `tok_mastercard`, ... succeed; `tok_chargeDeclined` is declined.
        /// Required unless a coupon leaves nothing to charge.
        #[schema(min_length = 1, example = "tok_visa", required = false)]
        token: Option<String>,
        /// A coupon's code, in any case.
        #[schema(
            pattern = "^\\s*[A-Za-z0-9_-]{3,32}\\s*$",
            example = "SUMMER-10",
            required = false
        )]
        coupon: Option<String>,
    }

    /// A new coupon: exactly one of `percentOff` and `amountOff`.
    #[derive(ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct CouponInput {
        /// 3 to 32 letters, digits, `-` or `_`; case-insensitive (kept
        /// upper-case) and unique.
        #[schema(pattern = "^\\s*[A-Za-z0-9_-]{3,32}\\s*$", example = "SUMMER-10")]
        code: String,
        /// A whole percentage, 1 to 100.
        #[schema(minimum = 1, maximum = 100, required = false)]
        percent_off: Option<u8>,
        /// A sum off the price, in the format of prices.
        #[schema(required = false)]
        amount_off: Option<PriceInput>,
        /// At least 1.
        #[schema(minimum = 1, maximum = 4294967295_u64)]
        max_redemptions: u32,
        /// RFC 3339, in the future; absent: the coupon never expires.
        #[schema(format = DateTime, required = false)]
        expires_at: Option<String>,
    }

    /// `GET /healthz`.
    #[derive(ToSchema)]
    pub(crate) struct Health {
        #[schema(pattern = "^ok$")]
        status: String,
    }

    /// `GET /readyz` when every peer answers.
    #[derive(ToSchema)]
    pub(crate) struct Ready {
        #[schema(pattern = "^ready$")]
        status: String,
        peers: Vec<crate::cluster::membership::PeerStatus>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_and_names_this_version() {
        let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(doc["info"]["title"], "boxoffice");
    }
}
