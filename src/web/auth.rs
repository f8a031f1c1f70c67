//! `/auth/signup`, `/auth/signin`, `/auth/signout`: the forms, the same
//! checks and operations as `/api/users/*`, and the same session cookie.

use askama::Template;
use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Redirect, Response},
};

use super::{csrf::Posted, page, Form, PageResult, Viewer};
use crate::http::{
    client::ClientIp,
    error::ApiError,
    json::JsonObject,
    users::{sign_in_fields, sign_up_fields},
    AppState,
};

/// The sign-up and sign-in forms (the same two fields).
#[derive(Template)]
#[template(path = "auth.html")]
struct AuthForm<'a> {
    heading: &'a str,
    action: &'a str,
    csrf: &'a str,
    form: &'a Form,
}

const SHOWN: &[&str] = &["email", "password"];

fn auth_page(viewer: &Viewer, sign_up: bool, form: &Form) -> Response {
    let (heading, action) = if sign_up {
        ("Sign up", "/auth/signup")
    } else {
        ("Sign in", "/auth/signin")
    };
    let body = AuthForm {
        heading,
        action,
        csrf: &viewer.csrf,
        form,
    };
    form.respond(viewer, heading, &body)
}

/// Signed in as `user`: the session cookie, and off to the tickets.
fn signed_in(state: &AppState, user: &crate::domain::User) -> Response {
    let mut response = Redirect::to("/").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state.sessions.cookie_for(user));
    response
}

/// `GET /auth/signup`.
pub(super) async fn sign_up_form(viewer: Viewer) -> Response {
    auth_page(&viewer, true, &Form::blank())
}

/// `POST /auth/signup`: as `POST /api/users/signup`, then to `/`.
pub(super) async fn sign_up(
    State(state): State<AppState>,
    viewer: Viewer,
    ClientIp(client): ClientIp,
    Posted(values): Posted,
) -> Response {
    let result = async {
        let (email, password) = sign_up_fields(JsonObject::from_form(&values, &[], &[]))?;
        Ok::<_, ApiError>(state.ops.sign_up(email, password, client).await?)
    };
    match result.await {
        Ok(user) => signed_in(&state, &user),
        Err(e) => auth_page(&viewer, true, &Form::failed(values, e, SHOWN)),
    }
}

/// `GET /auth/signin`.
pub(super) async fn sign_in_form(viewer: Viewer) -> Response {
    auth_page(&viewer, false, &Form::blank())
}

/// `POST /auth/signin`: as `POST /api/users/signin`, then to `/`.
pub(super) async fn sign_in(
    State(state): State<AppState>,
    viewer: Viewer,
    ClientIp(client): ClientIp,
    Posted(values): Posted,
) -> Response {
    let result = async {
        let (email, password) = sign_in_fields(JsonObject::from_form(&values, &[], &[]))?;
        Ok::<_, ApiError>(state.ops.sign_in(&email, &password, client).await?)
    };
    match result.await {
        Ok(user) => signed_in(&state, &user),
        Err(e) => auth_page(&viewer, false, &Form::failed(values, e, SHOWN)),
    }
}

#[derive(Template)]
#[template(path = "signout.html")]
struct SignOutPage<'a> {
    signed_in: bool,
    csrf: &'a str,
}

/// `GET /auth/signout`: asks first (a link must not sign anyone out).
pub(super) async fn sign_out_form(viewer: Viewer) -> Response {
    let body = SignOutPage {
        signed_in: viewer.user.is_some(),
        csrf: &viewer.csrf,
    };
    page(StatusCode::OK, &viewer, "Sign out", &body)
}

/// `POST /auth/signout`: ends the session as `POST /api/users/signout`
/// does, clears the cookie, and goes to `/`.
pub(super) async fn sign_out(
    State(state): State<AppState>,
    viewer: Viewer,
    Posted(_): Posted,
) -> PageResult {
    if let Some(session) = viewer.user.as_ref().and_then(|c| c.session()) {
        state.ops.end_session(session).await?;
    }
    let mut response = Redirect::to("/").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state.sessions.clear_cookie());
    Ok(response)
}
