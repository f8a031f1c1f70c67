//! `/api/users/*`: sign up, sign in and out, who am I, change password.

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};

use super::{
    client::ClientIp,
    error::{ApiError, ApiResult, ErrorBody},
    json::{Fields, JsonObject},
    openapi::bodies,
    session::{Admin, Claims, CurrentUser, SignedIn},
    views::{AccountView, CurrentUserView, Empty, UserStatusView},
    AppState, PathId,
};
use crate::domain::{AccountStatus, Email, Invalid, Password, User, UserId};

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

/// A sign-up's `email` and `password`, checked (the sign-up page too).
pub(crate) fn sign_up_fields(body: JsonObject) -> ApiResult<(Email, Password)> {
    let mut f = Fields::new(body);
    let email = f.parse("email", Email::parse);
    let password = f.parse("password", Password::parse);
    f.done((email, password))
}

/// A sign-in's `email` and `password`: any non-blank password may be
/// tried (the sign-in page too).
pub(crate) fn sign_in_fields(body: JsonObject) -> ApiResult<(Email, String)> {
    let mut f = Fields::new(body);
    let email = f.parse("email", Email::parse);
    let password = f.parse("password", |p| {
        if p.trim().is_empty() {
            Err(Invalid::new("You must supply a password"))
        } else {
            Ok(p.to_owned())
        }
    });
    f.done((email, password))
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
        (status = 429, description = "Too many refusals for this email (from this address, or \
            from all): try again after `Retry-After` seconds", body = ErrorBody,
            headers(("retry-after" = u32, description = "Seconds until an attempt may succeed"))),
        (status = 503, description = "The account's home node is not reached", body = ErrorBody),
    ),
)]
pub(super) async fn sign_up(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    body: JsonObject,
) -> ApiResult<Response> {
    let (email, password) = sign_up_fields(body)?;
    let user = state.ops.sign_up(email, password, client).await?;
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
        (status = 403, description = "The password is right but the account is suspended \
            (code `account_suspended`)", body = ErrorBody),
        (status = 429, description = "Too many failures for this account from this address \
            (10 a minute), or from all addresses (100 a minute; addresses the account signed \
            in from in the last day are spared): try again after `Retry-After` seconds",
            body = ErrorBody,
            headers(("retry-after" = u32, description = "Seconds until an attempt may succeed"))),
        (status = 503, description = "The account's home node is not reached", body = ErrorBody),
    ),
)]
pub(super) async fn sign_in(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    body: JsonObject,
) -> ApiResult<Response> {
    let (email, password) = sign_in_fields(body)?;
    let user = state.ops.sign_in(&email, &password, client).await?;
    Ok(signed_in(&state, StatusCode::OK, &user))
}

/// Signs out: ends the session and clears the cookie.
///
/// The token is refused at once by this node, and by every other node
/// within a pull of the event log (about 200 ms).
#[utoipa::path(
    post,
    path = "/api/users/signout",
    operation_id = "signOut",
    tag = "users",
    security((), ("sessionCookie" = []), ("bearerJwt" = [])),
    responses(
        (status = 200, description = "Signed out (also when not signed in)", body = Empty,
            headers(("set-cookie" = String, description = "Clears the `session` cookie"))),
        (status = 503, description = "The account's home node is not reached: the session \
            has not ended (the cookie is cleared all the same)", body = ErrorBody),
    ),
)]
pub(super) async fn sign_out(
    State(state): State<AppState>,
    CurrentUser(claims): CurrentUser,
) -> Response {
    let ended = match claims.as_ref().and_then(|c| c.session()) {
        Some(session) => state.ops.end_session(session).await,
        None => Ok(()),
    };
    let mut res = match ended {
        Ok(()) => Json(Empty {}).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    };
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
///
/// Every session of the account ends, on every node; the caller gets a
/// fresh one.
#[utoipa::path(
    put,
    path = "/api/users/password",
    operation_id = "changePassword",
    tag = "users",
    request_body = bodies::ChangePassword,
    security(("sessionCookie" = []), ("bearerJwt" = [])),
    responses(
        (status = 200, description = "Changed; a new session", body = Empty,
            headers(("set-cookie" = String,
                description = "`session=<jwt>; Path=/; HttpOnly; SameSite=Lax; Max-Age=900`"))),
        (status = 400, description = "The current password is wrong, the new one is invalid, \
            or the body is not a JSON object", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 429, description = "Too many wrong current passwords (as for sign-in): try \
            again after `Retry-After` seconds", body = ErrorBody,
            headers(("retry-after" = u32, description = "Seconds until an attempt may succeed"))),
        (status = 503, description = "The account's home node is not reached", body = ErrorBody),
    ),
)]
pub(super) async fn change_password(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    ClientIp(client): ClientIp,
    body: JsonObject,
) -> ApiResult<Response> {
    let mut f = Fields::new(body);
    let current = f.string("currentPassword");
    let new = f.parse("newPassword", Password::parse);
    let (current, new) = f.done((current, new))?;
    let user = state
        .ops
        .change_password(me.id, &me.email, &current, new, client)
        .await?;
    let mut res = Json(Empty {}).into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, state.sessions.cookie_for(&user));
    Ok(res)
}

/// Bans an account.
///
/// Its sessions end at once on this node and within a pull of the event log
/// (about 200 ms) on the others; sign-in then answers 403 "Account
/// suspended". Its tickets and orders stay as they are.
#[utoipa::path(
    put,
    path = "/api/users/{id}/ban",
    operation_id = "banUser",
    tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "The account's id")),
    security(("sessionCookie" = []), ("bearerJwt" = [])),
    responses(
        (status = 200, description = "Banned (also when it already was)", body = UserStatusView),
        (status = 400, description = "An admin's own account", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 503, description = "A node is not reached, and no other had the account",
            body = ErrorBody),
    ),
)]
pub(super) async fn ban(
    State(state): State<AppState>,
    Admin(me): Admin,
    PathId(id): PathId,
) -> ApiResult<Json<UserStatusView>> {
    set_status(&state, &me, &id, AccountStatus::Banned).await
}

/// Lifts a ban.
///
/// The account may sign in again; the sessions the ban ended stay ended.
#[utoipa::path(
    delete,
    path = "/api/users/{id}/ban",
    operation_id = "unbanUser",
    tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "The account's id")),
    security(("sessionCookie" = []), ("bearerJwt" = [])),
    responses(
        (status = 200, description = "Active (also when it already was)", body = UserStatusView),
        (status = 400, description = "An admin's own account", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 503, description = "A node is not reached, and no other had the account",
            body = ErrorBody),
    ),
)]
pub(super) async fn unban(
    State(state): State<AppState>,
    Admin(me): Admin,
    PathId(id): PathId,
) -> ApiResult<Json<UserStatusView>> {
    set_status(&state, &me, &id, AccountStatus::Active).await
}

async fn set_status(
    state: &AppState,
    me: &Claims,
    id: &str,
    status: AccountStatus,
) -> ApiResult<Json<UserStatusView>> {
    let id: UserId = id.parse().map_err(|_| ApiError::not_found("User"))?;
    let user = state.ops.set_status(me.id, id, status).await?;
    Ok(Json(UserStatusView::from(&user)))
}
