//! The server-rendered pages: the original client's paths (`/`,
//! `/auth/*`, `/tickets/*`, `/orders/*`, admin pages), built into the
//! binary. They work with scripting off: forms POST to page routes, which
//! call the same [`Ops`](crate::ops::Ops) as the API, check input with the
//! API's own code (so errors read the same), and answer with a 303 on
//! success or the form again with its errors. A small script only adds a
//! countdown and live availability.
//!
//! Templates are askama's: Jinja-like files in `templates/`, compiled into
//! the binary and type-checked against their structs at build time (a
//! misspelt field is a compile error, not a blank on a page), escaping HTML
//! by default, with no template loading or parsing at run time.
//!
//! Every page goes out through [`page`]: the layout with the navigation,
//! `text/html; charset=utf-8`, a script-from-self-only
//! Content-Security-Policy, and `no-store` (pages carry CSRF tokens).
//! Every state-changing form carries a CSRF token ([`csrf`]).

mod admin;
mod assets;
mod auth;
pub(crate) mod csrf;
mod home;
mod orders;
mod tickets;

use askama::Template;
use axum::{
    extract::{FromRequestParts, Request, State},
    http::{header, request::Parts, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use tower_http::catch_panic::CatchPanicLayer;

use crate::{
    domain::RuleError,
    error::Error,
    http::{
        error::{ApiError, FieldError},
        session::{Claims, CurrentUser, Role},
        AppState,
    },
};

/// The pages' routes, with the layer that gives each page its [`Viewer`]
/// and renders failures as HTML. Merged into the API's router, under its
/// layers (sessions, request ids, metrics).
pub(crate) fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home::list))
        .route("/auth/signup", get(auth::sign_up_form).post(auth::sign_up))
        .route("/auth/signin", get(auth::sign_in_form).post(auth::sign_in))
        .route(
            "/auth/signout",
            get(auth::sign_out_form).post(auth::sign_out),
        )
        .route("/tickets/new", get(tickets::new_form).post(tickets::create))
        .route("/tickets/{id}", get(tickets::show))
        .route("/tickets/{id}/edit", post(tickets::edit))
        .route("/tickets/{id}/purchase", post(tickets::purchase))
        .route("/orders", get(orders::list))
        .route("/orders/{id}", get(orders::show))
        .route("/orders/{id}/pay", post(orders::pay))
        .route("/orders/{id}/cancel", post(orders::cancel))
        .route(
            "/admin/coupons",
            get(admin::coupons).post(admin::create_coupon),
        )
        .route("/admin/users", get(admin::users))
        .route("/admin/users/{id}/ban", post(admin::ban))
        .route("/admin/users/{id}/unban", post(admin::unban))
        .layer(CatchPanicLayer::custom(|_| {
            PageError::from(Error::Internal("a page handler panicked".into())).into_response()
        }))
        .layer(middleware::from_fn_with_state(state, pages))
        // Outside the pages' layer: cached for a year, so never a cookie.
        .route("/static/app.css", get(assets::css))
        .route("/static/app.js", get(assets::js))
}

/// Who is looking at a page, and the CSRF token their forms carry.
#[derive(Debug, Clone)]
pub(crate) struct Viewer {
    /// The signed-in user, if any.
    pub(crate) user: Option<Claims>,
    /// The hidden `csrf` field of this viewer's forms.
    pub(crate) csrf: String,
    /// Where the page's live stream resumes: the feed's latest change as
    /// the request began, before the page read anything it shows.
    stream_from: String,
}

impl Viewer {
    /// The signed-in user; anyone else is sent to sign in.
    pub(crate) fn signed_in(&self) -> Result<&Claims, PageError> {
        self.user.as_ref().ok_or(PageError::SignIn)
    }

    /// The signed-in admin: anonymous callers are sent to sign in, others
    /// refused.
    pub(crate) fn admin(&self) -> Result<&Claims, PageError> {
        let me = self.signed_in()?;
        match me.role {
            Role::Admin => Ok(me),
            Role::User => Err(PageError::status(StatusCode::FORBIDDEN, "Admins only")),
        }
    }

    fn of(state: &AppState, parts: &Parts, anonymous: Option<&str>) -> Self {
        let user = parts
            .extensions
            .get::<CurrentUser>()
            .and_then(|c| c.0.clone());
        let csrf = csrf::token_for(state, user.as_ref(), anonymous);
        let stream_from = state.ops.catalog().changes().current_id();
        Self {
            user,
            csrf,
            stream_from,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, PageError> {
        parts
            .extensions
            .get::<Viewer>()
            .cloned()
            .ok_or_else(|| Error::Internal("a page without the pages' layer".into()).into())
    }
}

/// The layer of every page: works out the [`Viewer`] (setting the
/// anonymous CSRF cookie on a first visit) and turns a [`PageError`] into
/// an HTML page with the navigation.
async fn pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let signed_in = parts
        .extensions
        .get::<CurrentUser>()
        .is_some_and(|c| c.0.is_some());
    let cookie = csrf::cookie_of(&parts.headers);
    let fresh = (cookie.is_none() && !signed_in).then(csrf::new_cookie_value);
    let viewer = Viewer::of(&state, &parts, cookie.as_deref().or(fresh.as_deref()));
    parts.extensions.insert(viewer.clone());
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if let Some(failure) = response.extensions_mut().remove::<Failure>() {
        response = failure.page(&viewer);
    }
    if let Some(value) = fresh {
        let cookie = csrf::set_cookie(&value, state.sessions.secure_cookies());
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// An HTML error page for a page path the router itself refused (no such
/// page, a method it does not take, a body announced too large).
pub(crate) fn error_page(
    state: &AppState,
    parts: &Parts,
    status: StatusCode,
    message: &str,
) -> Response {
    let cookie = csrf::cookie_of(&parts.headers);
    let viewer = Viewer::of(state, parts, cookie.as_deref());
    Failure {
        status,
        message: message.into(),
        retry_after: None,
    }
    .page(&viewer)
}

/// The navigation bar, as the layout shows it.
struct Nav<'a> {
    email: Option<&'a str>,
    admin: bool,
    csrf: &'a str,
}

/// The layout every page is rendered into.
#[derive(Template)]
#[template(path = "layout.html")]
struct Layout<'a> {
    title: &'a str,
    stream_from: &'a str,
    nav: Nav<'a>,
    body: &'a str,
    css: &'a str,
    js: &'a str,
}

/// Content-Security-Policy of every page: everything from this origin
/// only, no inline script or style, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
    object-src 'none'";

/// Renders `body` into the layout with `viewer`'s navigation: the one way
/// a page leaves.
pub(crate) fn page(
    status: StatusCode,
    viewer: &Viewer,
    title: &str,
    body: &impl Template,
) -> Response {
    let nav = Nav {
        email: viewer.user.as_ref().map(|u| u.email.as_str()),
        admin: viewer.user.as_ref().is_some_and(|u| u.role == Role::Admin),
        csrf: &viewer.csrf,
    };
    let rendered = body.render().and_then(|body| {
        Layout {
            title,
            stream_from: &viewer.stream_from,
            nav,
            body: &body,
            css: assets::css_url(),
            js: assets::js_url(),
        }
        .render()
    });
    match rendered {
        Ok(html) => (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::REFERRER_POLICY, "same-origin"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "Something went wrong",
            )
                .into_response()
        }
    }
}

/// A form as submitted, with what was wrong with it, to show it again.
#[derive(Debug, Default)]
pub(crate) struct Form {
    values: Vec<(String, String)>,
    /// Errors by the field shown beside it.
    fields: Vec<(String, String)>,
    /// Errors shown above the form: those of no field, or of a field the
    /// form does not show.
    general: Vec<String>,
    status: Option<StatusCode>,
    retry_after: Option<u32>,
}

impl Form {
    /// An empty form.
    pub(crate) fn blank() -> Self {
        Self::default()
    }

    /// A form filled with `values`, without errors.
    pub(crate) fn filled(values: Vec<(String, String)>) -> Self {
        Self {
            values,
            ..Self::default()
        }
    }

    /// The submitted `values` again, with `error` (the API's error for the
    /// same input, so in the same words) beside the `shown` fields it
    /// names, or above the form.
    pub(crate) fn failed(values: Vec<(String, String)>, error: ApiError, shown: &[&str]) -> Self {
        let mut form = Self {
            values,
            // A page's caller is always signed in by then: "not yours" is
            // a refusal, not a request to sign in.
            status: Some(match error.status() {
                StatusCode::UNAUTHORIZED => StatusCode::FORBIDDEN,
                status => status,
            }),
            retry_after: error.retry_after(),
            ..Self::default()
        };
        for FieldError { message, field, .. } in error.errors() {
            match field {
                Some(f) if shown.contains(&f.as_str()) => {
                    form.fields.push((f.clone(), message.clone()));
                }
                _ => form.general.push(message.clone()),
            }
        }
        form
    }

    /// What was typed into `name`, to show it again.
    pub(crate) fn value(&self, name: &str) -> &str {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The error beside field `name`, if any.
    pub(crate) fn error(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m.as_str())
    }

    /// The status of a failed form; `None` when it did not fail.
    pub(crate) fn error_status(&self) -> Option<StatusCode> {
        self.status
    }

    /// The errors shown above the form.
    pub(crate) fn general(&self) -> &[String] {
        &self.general
    }

    /// The page showing this form: 200, or the status (and `Retry-After`)
    /// the API would answer this input with.
    pub(crate) fn respond(&self, viewer: &Viewer, title: &str, body: &impl Template) -> Response {
        let mut response = page(self.status.unwrap_or(StatusCode::OK), viewer, title, body);
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Why a page could not be shown.
#[derive(Debug)]
pub(crate) enum PageError {
    /// Only for the signed in: go and sign in.
    SignIn,
    /// An error page.
    Failed(Failure),
}

impl PageError {
    /// An error page with `status` and `message`.
    pub(crate) fn status(status: StatusCode, message: impl Into<String>) -> Self {
        Self::Failed(Failure {
            status,
            message: message.into(),
            retry_after: None,
        })
    }
}

/// An error page to be rendered by the pages' layer, which knows the
/// viewer (a response does not).
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    status: StatusCode,
    message: String,
    retry_after: Option<u32>,
}

/// The error page's body.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    heading: &'a str,
    message: &'a str,
}

impl Failure {
    fn page(&self, viewer: &Viewer) -> Response {
        let heading = match self.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::SERVICE_UNAVAILABLE => "Unavailable",
            s if s.is_server_error() => "Something went wrong",
            _ => "Cannot do that",
        };
        let body = ErrorPage {
            heading,
            message: &self.message,
        };
        let mut response = page(self.status, viewer, heading, &body);
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn => Redirect::to("/auth/signin").into_response(),
            Self::Failed(failure) => {
                let mut response = failure.status.into_response();
                response.extensions_mut().insert(failure);
                response
            }
        }
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        if e.status() == StatusCode::UNAUTHORIZED {
            return Self::SignIn;
        }
        let message = e
            .errors()
            .first()
            .map_or_else(|| "Something went wrong".to_owned(), |f| f.message.clone());
        Self::Failed(Failure {
            status: e.status(),
            message,
            retry_after: e.retry_after(),
        })
    }
}

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        match e {
            // Someone else's order (or ticket) is not there for this viewer.
            Error::Rule(RuleError::NotOwner) => Self::status(StatusCode::NOT_FOUND, "Not found"),
            e => ApiError::from(e).into(),
        }
    }
}

/// An extractor of the API's (query, path) whose refusal is shown as an
/// error page rather than the API's JSON.
pub(crate) type Checked<T> = Result<T, ApiError>;

/// What page handlers return.
pub(crate) type PageResult = Result<Response, PageError>;

/// The idempotency key a form carries (made when it was shown), so that a
/// form sent twice does one thing; none if it is missing or odd.
pub(crate) fn form_key(values: &[(String, String)]) -> Option<String> {
    values
        .iter()
        .find(|(n, _)| n == "key")
        .map(|(_, k)| k.trim())
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .map(str::to_owned)
}

/// A fresh idempotency key for a form.
pub(crate) fn new_key() -> String {
    uuid::Uuid::now_v7().to_string()
}
