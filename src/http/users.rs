//! `/api/users/*`: sign up, sign in and out, who am I, change password.

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};

use super::{
    error::{ApiResult, ErrorBody},
    json::{Fields, JsonObject},
    openapi::bodies,
    session::{CurrentUser, SignedIn},
    views::{AccountView, CurrentUserView, Empty},
    AppState,
};
use crate::domain::{Email, Invalid, Password, User};

fn signed_in(state: &AppState, status: StatusCode, user: &User) -> Response {
    let cookie = state.sessions.cookie_for(user);
    let body = Json(AccountView {
        id: user.id,
        email: user.email.as_str().to_owned(),
    });
    let mut res = (status, body).into_response();
    res.headers_mut().insert(header::SET_COOKIE, cookie);
    res
}

/// Signs up: makes the account and signs it in.
#[utoipa::path(
    post,
    path = "/api/users/signup",
    operation_id = "signUp",
    tag = "users",
    request_body = bodies::SignUp,
    responses(
        (status = 201, description = "Signed up and signed in", body = AccountView,
            headers(("set-cookie" = String,
                description = "`session=<jwt>; Path=/; HttpOnly; SameSite=Lax; Max-Age=900`"))),
        (status = 400, description = "A field is invalid (`field` names it), the email is in \
            use, or the body is not a JSON object", body = ErrorBody),
        (status = 503, description = "The account's home node is not reached", body = ErrorBody),
    ),
)]
pub(super) async fn sign_up(
    State(state): State<AppState>,
    body: JsonObject,
) -> ApiResult<Response> {
    let mut f = Fields::new(body);
    let email = f.parse("email", Email::parse);
    let password = f.parse("password", Password::parse);
    let (email, password) = f.done((email, password))?;
    let user = state.ops.sign_up(email, password).await?;
    Ok(signed_in(&state, StatusCode::CREATED, &user))
}

/// Signs in.
#[utoipa::path(
    post,
    path = "/api/users/signin",
    operation_id = "signIn",
    tag = "users",
    request_body = bodies::SignIn,
    responses(
        (status = 200, description = "Signed in", body = AccountView,
            headers(("set-cookie" = String,
                description = "`session=<jwt>; Path=/; HttpOnly; SameSite=Lax; Max-Age=900`"))),
        (status = 400, description = "Invalid credentials; an email that cannot be valid or \
            an empty password (`field` names it); or not a JSON object", body = ErrorBody),
        (status = 503, description = "The account's home node is not reached", body = ErrorBody),
    ),
)]
pub(super) async fn sign_in(
    State(state): State<AppState>,
    body: JsonObject,
) -> ApiResult<Response> {
    let mut f = Fields::new(body);
    let email = f.parse("email", Email::parse);
    let password = f.parse("password", |p| {
        if p.trim().is_empty() {
            Err(Invalid::new("You must supply a password"))
        } else {
            Ok(p.to_owned())
        }
    });
    let (email, password) = f.done((email, password))?;
    let user = state.ops.sign_in(&email, &password).await?;
    Ok(signed_in(&state, StatusCode::OK, &user))
}

/// Signs out: clears the session cookie.
#[utoipa::path(
    post,
    path = "/api/users/signout",
    operation_id = "signOut",
    tag = "users",
    responses(
        (status = 200, description = "Signed out", body = Empty,
            headers(("set-cookie" = String, description = "Clears the `session` cookie"))),
    ),
)]
pub(super) async fn sign_out(State(state): State<AppState>) -> Response {
    let mut res = Json(Empty {}).into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, state.sessions.clear_cookie());
    res
}

/// Who the caller is.
///
/// Read from the token alone; `currentUser` is null for anonymous callers.
#[utoipa::path(
    get,
    path = "/api/users/currentuser",
    operation_id = "currentUser",
    tag = "users",
    security((), ("sessionCookie" = []), ("bearerJwt" = [])),
    responses(
        (status = 200, description = "The session's claims, or null", body = CurrentUserView),
    ),
)]
pub(super) async fn current_user(CurrentUser(claims): CurrentUser) -> Json<CurrentUserView> {
    Json(CurrentUserView {
        current_user: claims,
    })
}

/// Changes the caller's password.
#[utoipa::path(
    put,
    path = "/api/users/password",
    operation_id = "changePassword",
    tag = "users",
    request_body = bodies::ChangePassword,
    security(("sessionCookie" = []), ("bearerJwt" = [])),
    responses(
        (status = 200, description = "Changed", body = Empty),
        (status = 400, description = "The current password is wrong, the new one is invalid, \
            or the body is not a JSON object", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 503, description = "The account's home node is not reached", body = ErrorBody),
    ),
)]
pub(super) async fn change_password(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    body: JsonObject,
) -> ApiResult<Json<Empty>> {
    let mut f = Fields::new(body);
    let current = f.string("currentPassword");
    let new = f.parse("newPassword", Password::parse);
    let (current, new) = f.done((current, new))?;
    state
        .ops
        .change_password(me.id, &me.email, &current, new)
        .await?;
    Ok(Json(Empty {}))
}
