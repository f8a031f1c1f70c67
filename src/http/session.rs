//! Sessions: an HS256 JWT carried in the `session` cookie (or an
//! `Authorization: Bearer` header). A bad, expired, tampered or unsigned
//! token simply means "anonymous". Cookies are re-issued in the second half
//! of a token's life so an active user stays signed in.

use std::sync::Arc;

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{header, request::Parts, HeaderMap, HeaderValue},
    middleware::Next,
    response::Response,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{error::ApiError, AppState};
use crate::domain::{Email, Timestamp, User, UserId};

pub(crate) const COOKIE: &str = "session";
/// How long a token is good for.
pub(crate) const TOKEN_TTL_SECS: u64 = 15 * 60;

/// A session: the JWT's claims.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = Session)]
pub(crate) struct Claims {
    /// The user's id.
    #[schema(value_type = uuid::Uuid)]
    pub id: UserId,
    pub email: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, seconds since the Unix epoch (15 minutes after `iat`).
    pub exp: u64,
    /// `admin` for the accounts listed in `BOXOFFICE_ADMINS`, else `user`
    /// (tokens issued before roles existed read as `user`).
    #[serde(default)]
    pub role: Role,
}

/// What a session may do. Only `BOXOFFICE_ADMINS` makes an admin.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    /// Anyone signed up.
    #[default]
    User,
    /// An operator of the marketplace.
    Admin,
}

#[derive(Clone)]
pub(crate) struct Sessions {
    inner: Arc<Keys>,
    secure_cookies: bool,
    /// The admins' emails, normalized.
    admins: Arc<std::collections::HashSet<Email>>,
}

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Sessions {
    pub(crate) fn new(jwt_key: &[u8], secure_cookies: bool, admins: Vec<Email>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iat"]);
        Self {
            inner: Arc::new(Keys {
                encoding: EncodingKey::from_secret(jwt_key),
                decoding: DecodingKey::from_secret(jwt_key),
                validation,
            }),
            secure_cookies,
            admins: Arc::new(admins.into_iter().collect()),
        }
    }

    /// Fresh claims for an account; its role is decided here, each time.
    pub(crate) fn issue(&self, id: UserId, email: &str) -> Claims {
        let now = Timestamp::now().as_secs();
        let admin = Email::parse(email).is_ok_and(|e| self.admins.contains(&e));
        Claims {
            id,
            email: email.to_owned(),
            iat: now,
            exp: now + TOKEN_TTL_SECS,
            role: if admin { Role::Admin } else { Role::User },
        }
    }

    pub(crate) fn encode(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.inner.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    pub(crate) fn decode(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.inner.decoding, &self.inner.validation)
            .ok()
            .map(|data| data.claims)
    }

    /// A `Set-Cookie` value carrying a fresh token for `user`.
    pub(crate) fn cookie_for(&self, user: &User) -> HeaderValue {
        let claims = self.issue(user.id, user.email.as_str());
        self.cookie(&self.encode(&claims), TOKEN_TTL_SECS)
    }

    /// A `Set-Cookie` value that removes the session.
    pub(crate) fn clear_cookie(&self) -> HeaderValue {
        self.cookie("", 0)
    }

    fn cookie(&self, token: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
        ))
        .expect("a JWT is a valid header value")
    }
}

/// Where the caller's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Cookie,
    Bearer,
}

fn token_from(headers: &HeaderMap) -> Option<(String, Source)> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| (t.trim().to_owned(), Source::Bearer));
    bearer.or_else(|| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE)
            .map(|(_, value)| (value.to_owned(), Source::Cookie))
    })
}

/// The caller, if signed in: `None` for anonymous.
#[derive(Debug, Clone)]
pub(crate) struct CurrentUser(pub Option<Claims>);

/// The caller, who must be signed in (401 otherwise).
#[derive(Debug, Clone)]
pub(crate) struct SignedIn(pub Claims);

/// Resolves the caller once per request, and hands out a fresh cookie when
/// a cookie session is past half its life.
pub(crate) async fn resolve(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let found = token_from(req.headers())
        .and_then(|(token, source)| state.sessions.decode(&token).map(|c| (c, source)));
    let refresh = found.as_ref().and_then(|(claims, source)| {
        let now = Timestamp::now().as_secs();
        let past_half = now >= claims.iat + (claims.exp - claims.iat) / 2;
        (*source == Source::Cookie && past_half).then(|| claims.clone())
    });
    req.extensions_mut()
        .insert(CurrentUser(found.map(|(c, _)| c)));
    let mut res = next.run(req).await;
    if let Some(old) = refresh {
        // A handler that set its own session cookie (sign in/out) wins.
        if !res.headers().contains_key(header::SET_COOKIE) {
            let claims = state.sessions.issue(old.id, &old.email);
            let cookie = state
                .sessions
                .cookie(&state.sessions.encode(&claims), TOKEN_TTL_SECS);
            res.headers_mut().append(header::SET_COOKIE, cookie);
        }
    }
    res
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .unwrap_or(CurrentUser(None)))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match CurrentUser::from_request_parts(parts, state).await?.0 {
            Some(claims) => Ok(SignedIn(claims)),
            None => Err(ApiError::unauthorized()),
        }
    }
}

/// The caller, who must be signed in as an admin: 401 when anonymous,
/// 403 when signed in without the admin role.
#[derive(Debug, Clone)]
pub(crate) struct Admin(pub Claims);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let SignedIn(claims) = SignedIn::from_request_parts(parts, state).await?;
        match claims.role {
            Role::Admin => Ok(Admin(claims)),
            Role::User => Err(ApiError::forbidden()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let s = Sessions::new(b"test key that is long enough......", false, Vec::new());
        let claims = s.issue(UserId::new(), "a@b.co");
        let token = s.encode(&claims);
        assert_eq!(s.decode(&token), Some(claims.clone()));

        let other = Sessions::new(b"another key entirely...............", false, Vec::new());
        assert_eq!(other.decode(&token), None, "wrong key");

        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1].push('x');
        assert_eq!(s.decode(&parts.join(".")), None, "tampered payload");
    }

    #[test]
    fn unsigned_and_expired_tokens_are_anonymous() {
        use base64_like::encode;
        let s = Sessions::new(b"k", false, Vec::new());
        let now = Timestamp::now().as_secs();
        let payload = format!(
            r#"{{"id":"{}","email":"a@b.co","iat":{now},"exp":{}}}"#,
            UserId::new(),
            now + 600
        );
        let none = format!(
            "{}.{}.",
            encode(r#"{"alg":"none","typ":"JWT"}"#),
            encode(&payload)
        );
        assert_eq!(s.decode(&none), None);

        let mut old = s.issue(UserId::new(), "a@b.co");
        old.iat = now - 2000;
        old.exp = now - 1000;
        assert_eq!(s.decode(&s.encode(&old)), None);
    }

    /// Just enough base64url to forge a token in a test.
    mod base64_like {
        pub(super) fn encode(s: &str) -> String {
            const A: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let b = s.as_bytes();
            let mut out = String::new();
            for chunk in b.chunks(3) {
                let n = chunk
                    .iter()
                    .enumerate()
                    .fold(0u32, |acc, (i, &x)| acc | (u32::from(x) << (16 - 8 * i)));
                for i in 0..=chunk.len() {
                    out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
            out
        }
    }
}
