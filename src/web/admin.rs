//! Admin pages: `/admin/coupons` (the coupons, and a form with the fields
//! and checks of `POST /api/coupons`) and `/admin/users` (an account found
//! by email, banned or unbanned as by `PUT`/`DELETE /api/users/{id}/ban`).
//! Admins only: others get a 403 page, anonymous visitors the sign-in.

use askama::Template;
use axum::{
    extract::State,
    response::{IntoResponse, Redirect},
};

use super::{csrf::Posted, Checked, Form, PageError, PageResult, Viewer};
use crate::{
    domain::{AccountStatus, Coupon, CouponCode, Discount, Email, Invalid, User, UserId},
    error::Error,
    http::{
        coupons::coupon_fields, error::ApiError, json::JsonObject, paging::Params, views::Money,
        AppState, PathId,
    },
};

/// Coupons on one page of the list.
const PAGE_SIZE: usize = 100;

/// The coupon form's fields, named as in `POST /api/coupons`.
const COUPON_FIELDS: &[&str] = &[
    "code",
    "percentOff",
    "amountOff",
    "maxRedemptions",
    "expiresAt",
];

struct CouponRow {
    code: String,
    off: String,
    used: String,
    expires: String,
}

impl From<&Coupon> for CouponRow {
    fn from(c: &Coupon) -> Self {
        Self {
            code: c.code.to_string(),
            off: match c.discount {
                Discount::Percent(p) => format!("{p}%"),
                Discount::Amount(a) => Money(a).to_string(),
            },
            used: format!("{} of {}", c.redemptions, c.max_redemptions),
            expires: c
                .expires_at
                .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339()),
        }
    }
}

#[derive(Template)]
#[template(path = "coupons.html")]
struct CouponsPage<'a> {
    coupons: Vec<CouponRow>,
    next: Option<String>,
    csrf: &'a str,
    form: &'a Form,
}

async fn coupons_page(
    state: &AppState,
    viewer: &Viewer,
    after: Option<CouponCode>,
    form: &Form,
) -> PageResult {
    let list = state.ops.coupons(after, PAGE_SIZE).await?;
    let body = CouponsPage {
        coupons: list.coupons.iter().map(CouponRow::from).collect(),
        next: list.next.map(|code| format!("/admin/coupons?after={code}")),
        csrf: &viewer.csrf,
        form,
    };
    Ok(form.respond(viewer, "Coupons", &body))
}

/// `GET /admin/coupons?after=`.
pub(super) async fn coupons(
    State(state): State<AppState>,
    viewer: Viewer,
    params: Checked<Params>,
) -> PageResult {
    let params = params?;
    viewer.admin()?;
    let after = params.after::<CouponCode>()?;
    coupons_page(&state, &viewer, after, &Form::blank()).await
}

/// `POST /admin/coupons`: as `POST /api/coupons`, then back to the list.
pub(super) async fn create_coupon(
    State(state): State<AppState>,
    viewer: Viewer,
    Posted(values): Posted,
) -> PageResult {
    let admin = viewer.admin()?;
    let created = async {
        let body = JsonObject::from_form(
            &values,
            &["percentOff", "amountOff", "expiresAt"],
            &["percentOff", "maxRedemptions"],
        );
        let coupon = coupon_fields(body)?;
        Ok::<_, ApiError>(state.ops.create_coupon(coupon).await?)
    };
    match created.await {
        Ok(coupon) => {
            tracing::info!(admin = %admin.email, code = %coupon.code, "coupon created");
            Ok(Redirect::to("/admin/coupons").into_response())
        }
        Err(e) => {
            let form = Form::failed(values, e, COUPON_FIELDS);
            coupons_page(&state, &viewer, None, &form).await
        }
    }
}

struct Account {
    id: UserId,
    email: String,
    created: String,
    status: &'static str,
    banned: bool,
}

impl From<&User> for Account {
    fn from(u: &User) -> Self {
        let banned = u.status == AccountStatus::Banned;
        Self {
            id: u.id,
            email: u.email.as_str().to_owned(),
            created: u.created_at.to_rfc3339(),
            status: if banned { "banned" } else { "active" },
            banned,
        }
    }
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage<'a> {
    account: Option<Account>,
    csrf: &'a str,
    form: &'a Form,
}

/// The users page for the account with email `raw`, if any; `failure`
/// (of a ban or unban) shown above it.
async fn users_page(
    state: &AppState,
    viewer: &Viewer,
    raw: Option<&str>,
    failure: Option<ApiError>,
) -> PageResult {
    let values = vec![("email".to_owned(), raw.unwrap_or_default().to_owned())];
    let found = match raw {
        None => Ok(None),
        Some(raw) => match Email::parse(raw) {
            Err(Invalid(message)) => Err(ApiError::from(Error::invalid("email", message))),
            Ok(email) => match state.ops.account(&email).await? {
                Some(user) => Ok(Some(user)),
                None => Err(ApiError::from(Error::not_found("Account"))),
            },
        },
    };
    let (account, form) = match (found, failure) {
        (Ok(user), None) => (user, Form::filled(values)),
        (Ok(user), Some(e)) => (user, Form::failed(values, e, &["email"])),
        (Err(e), _) => (None, Form::failed(values, e, &["email"])),
    };
    let body = UsersPage {
        account: account.as_ref().map(Account::from),
        csrf: &viewer.csrf,
        form: &form,
    };
    Ok(form.respond(viewer, "Users", &body))
}

/// `GET /admin/users?email=`.
pub(super) async fn users(
    State(state): State<AppState>,
    viewer: Viewer,
    params: Checked<Params>,
) -> PageResult {
    let params = params?;
    viewer.admin()?;
    let email = params.text("email", 320)?;
    users_page(&state, &viewer, email, None).await
}

/// Bans or unbans the account `id`, then shows it again.
async fn set_status(
    state: AppState,
    viewer: Viewer,
    id: &str,
    values: Vec<(String, String)>,
    status: AccountStatus,
) -> PageResult {
    let admin = viewer.admin()?;
    let id: UserId = id
        .parse()
        .map_err(|_| PageError::from(Error::not_found("User")))?;
    let email = values
        .iter()
        .find(|(n, _)| n == "email")
        .map(|(_, v)| v.clone());
    match state.ops.set_status(admin.id, id, status).await {
        Ok(user) => {
            let query =
                serde_urlencoded::to_string([("email", user.email.as_str())]).unwrap_or_default();
            Ok(Redirect::to(&format!("/admin/users?{query}")).into_response())
        }
        Err(e) => users_page(&state, &viewer, email.as_deref(), Some(e.into())).await,
    }
}

/// `POST /admin/users/{id}/ban`.
pub(super) async fn ban(
    State(state): State<AppState>,
    viewer: Viewer,
    id: Checked<PathId>,
    Posted(values): Posted,
) -> PageResult {
    let PathId(id) = id?;
    set_status(state, viewer, &id, values, AccountStatus::Banned).await
}

/// `POST /admin/users/{id}/unban`.
pub(super) async fn unban(
    State(state): State<AppState>,
    viewer: Viewer,
    id: Checked<PathId>,
    Posted(values): Posted,
) -> PageResult {
    let PathId(id) = id?;
    set_status(state, viewer, &id, values, AccountStatus::Active).await
}
