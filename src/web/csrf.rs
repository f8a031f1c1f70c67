//! Cross-site request forgery. The session cookie is SameSite=Lax, which
//! already keeps most cross-site posts anonymous; on top of that, every
//! form that changes something carries a hidden `csrf` field, checked by
//! [`Posted`] before a page route does anything.
//!
//! The token is HMAC-SHA256, under a key derived from the JWT key (so
//! every node agrees), of the session id (`Claims.sid`) for a signed-in
//! caller, or of a random `csrf` cookie (HttpOnly, SameSite=Strict, set on
//! the first page view) for an anonymous one (the sign-in and sign-up
//! forms). Another site can make a browser send our cookies, but cannot
//! read our pages to learn the token. Tokens are compared in constant time.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{header, HeaderMap, HeaderValue, StatusCode},
};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use super::{PageError, Viewer};
use crate::http::{session::Claims, AppState, BODY_LIMIT};

/// The anonymous visitor's cookie.
const COOKIE: &str = "csrf";

/// The hidden field of every form.
const FIELD: &str = "csrf";

/// What a token is bound to.
enum Bound<'a> {
    Session(&'a Claims),
    Anonymous(&'a str),
}

fn mac(state: &AppState, bound: &Bound<'_>) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(state.sessions.csrf_key())
        .expect("HMAC takes a key of any length");
    match bound {
        Bound::Session(claims) => {
            mac.update(b"session\0");
            mac.update(claims.sid.to_string().as_bytes());
        }
        Bound::Anonymous(cookie) => {
            mac.update(b"anonymous\0");
            mac.update(cookie.as_bytes());
        }
    }
    mac
}

/// The token for forms shown to `user`, or to the anonymous visitor with
/// cookie `anonymous`; empty when there is neither (no form can be sent).
pub(super) fn token_for(
    state: &AppState,
    user: Option<&Claims>,
    anonymous: Option<&str>,
) -> String {
    let bound = match (user, anonymous) {
        (Some(claims), _) => Bound::Session(claims),
        (None, Some(cookie)) => Bound::Anonymous(cookie),
        (None, None) => return String::new(),
    };
    hex::encode(mac(state, &bound).finalize().into_bytes())
}

/// Whether `token` is right for the caller: for their session; or, on the
/// sign-in and sign-up forms only, for their anonymous cookie (a form shown
/// before signing in elsewhere in another tab still works). A cookie
/// planted by someone else (a sibling subdomain can set one) so opens no
/// other form of a signed-in user.
fn verify(state: &AppState, viewer: &Viewer, headers: &HeaderMap, path: &str, token: &str) -> bool {
    let Ok(token) = hex::decode(token) else {
        return false;
    };
    let before_sign_in = matches!(path, "/auth/signin" | "/auth/signup") || viewer.user.is_none();
    let cookie = cookie_of(headers).filter(|_| before_sign_in);
    let bounds = [
        viewer.user.as_ref().map(Bound::Session),
        cookie.as_deref().map(Bound::Anonymous),
    ];
    bounds
        .iter()
        .flatten()
        // `verify_slice` compares in constant time.
        .any(|bound| mac(state, bound).verify_slice(&token).is_ok())
}

/// The anonymous cookie the request carries, if it is one we could have set.
pub(super) fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A new random anonymous cookie value.
pub(super) fn new_cookie_value() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// The `Set-Cookie` for an anonymous cookie value: for this browser
/// session, never sent by another site's request.
pub(super) fn set_cookie(value: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("hex is a valid header value")
}

/// A submitted form (`application/x-www-form-urlencoded`) whose `csrf`
/// field is right for the caller: otherwise a 403 page, and nothing done.
pub(crate) struct Posted(pub(crate) Vec<(String, String)>);

impl FromRequest<AppState> for Posted {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, PageError> {
        let (parts, body) = request.into_parts();
        let viewer = parts
            .extensions
            .get::<Viewer>()
            .cloned()
            .ok_or_else(|| PageError::status(StatusCode::INTERNAL_SERVER_ERROR, "No viewer"))?;
        let request = Request::from_parts(parts, body);
        let headers = request.headers().clone();
        let path = request.uri().path().to_owned();
        let read = tokio::time::timeout(state.body_timeout, Bytes::from_request(request, state));
        let bytes = match read.await {
            Err(_) => {
                return Err(PageError::status(
                    StatusCode::REQUEST_TIMEOUT,
                    "The form did not arrive in time",
                ))
            }
            Ok(Err(rejection)) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(PageError::status(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("A form must be at most {} KiB", BODY_LIMIT / 1024),
                ))
            }
            Ok(Err(_)) => {
                return Err(PageError::status(
                    StatusCode::BAD_REQUEST,
                    "The form could not be read",
                ))
            }
            Ok(Ok(bytes)) => bytes,
        };
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
            PageError::status(StatusCode::BAD_REQUEST, "The form could not be read")
        })?;
        let token = pairs
            .iter()
            .find(|(name, _)| name == FIELD)
            .map(|(_, v)| v.as_str());
        match token {
            Some(token) if verify(state, &viewer, &headers, &path, token) => Ok(Self(pairs)),
            _ => Err(PageError::status(
                StatusCode::FORBIDDEN,
                "This form has expired or was not sent from this site. \
                 Go back, reload the page and try again.",
            )),
        }
    }
}
