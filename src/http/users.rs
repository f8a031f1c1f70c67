//! `/api/users/*`: sign up, sign in and out, who am I, change password.

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

use super::{
    error::ApiResult,
    json::{Fields, JsonObject},
    session::{CurrentUser, SignedIn},
    AppState,
};
use crate::domain::{Email, Password, User};

fn signed_in(state: &AppState, status: StatusCode, user: &User) -> Response {
    let cookie = state.sessions.cookie_for(user);
    let body = Json(json!({ "id": user.id, "email": user.email.as_str() }));
    let mut res = (status, body).into_response();
    res.headers_mut().insert(header::SET_COOKIE, cookie);
    res
}

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

pub(super) async fn sign_in(
    State(state): State<AppState>,
    body: JsonObject,
) -> ApiResult<Response> {
    let mut f = Fields::new(body);
    let email = f.string("email");
    let password = f.string("password");
    let (email, password) = f.done((email, password))?;
    let user = state.ops.sign_in(&email, &password).await?;
    Ok(signed_in(&state, StatusCode::OK, &user))
}

pub(super) async fn sign_out(State(state): State<AppState>) -> Response {
    let mut res = Json(json!({})).into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, state.sessions.clear_cookie());
    res
}

pub(super) async fn current_user(CurrentUser(claims): CurrentUser) -> Json<serde_json::Value> {
    Json(json!({ "currentUser": claims }))
}

pub(super) async fn change_password(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    body: JsonObject,
) -> ApiResult<Json<serde_json::Value>> {
    let mut f = Fields::new(body);
    let current = f.string("currentPassword");
    let new = f.parse("newPassword", Password::parse);
    let (current, new) = f.done((current, new))?;
    state
        .ops
        .change_password(me.id, &me.email, &current, new)
        .await?;
    Ok(Json(json!({})))
}
