//! Sessions: an HS256 JWT carried in the `session` cookie (or an
//! `Authorization: Bearer` header). A bad, expired, tampered or unsigned
//! token simply means "anonymous", and so does one whose session has ended
//! (signed out, password changed, banned: this node's revocations say so,
//! without a store read). A cookie in the second half of its token's life
//! is renewed, once the account's home confirms the session is still live.

use std::sync::Arc;

use axum::{
    extract::{FromRequestParts, Request},
    http::{header, request::Parts, HeaderMap, HeaderValue},
    response::Response,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use hmac::{Hmac, Mac as _};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{error::ApiError, AppState};
use crate::{
    domain::{Email, SessionId, Timestamp, User, UserId, SESSION_TTL_SECS as TOKEN_TTL_SECS},
    ops::Session,
};

pub(crate) const COOKIE: &str = "session";

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
    /// `admin` for the accounts listed in `BOXOFFICE_ADMINS`, else `user`.
    pub role: Role,
    /// The sign-in this token belongs to: renewals keep it, sign-out ends it.
    #[schema(value_type = uuid::Uuid)]
    pub sid: SessionId,
    /// The account's session epoch at sign-in; a password change or a ban
    /// raises the account's, which ends this session.
    pub epoch: u64,
}

impl Claims {
    /// The session this token names.
    pub(crate) fn session(&self) -> Option<Session> {
        Some(Session {
            user: self.id,
            email: Email::parse(&self.email).ok()?,
            id: self.sid,
            epoch: self.epoch,
            expires: Timestamp::from_millis(self.exp.saturating_mul(1000)),
        })
    }
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
    /// Signs the pages' CSRF tokens: derived from the JWT key, so every
    /// node of a cluster agrees on it, and a token is never a JWT signature.
    csrf_key: Arc<[u8; 32]>,
}

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// The encoded header of every token this code signs.
    header: String,
    /// HMAC-SHA256 with the key already absorbed: keying it per request
    /// was two of a token check's five SHA-256 blocks.
    mac: Hmac<Sha256>,
}

impl Sessions {
    pub(crate) fn new(jwt_key: &[u8], secure_cookies: bool, admins: Vec<Email>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iat"]);
        let encoding = EncodingKey::from_secret(jwt_key);
        let header = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &(), &encoding)
            .expect("HS256 signing of plain claims cannot fail")
            .split('.')
            .next()
            .map(str::to_owned)
            .unwrap_or_default();
        Self {
            inner: Arc::new(Keys {
                encoding,
                decoding: DecodingKey::from_secret(jwt_key),
                validation,
                header,
                mac: Hmac::new_from_slice(jwt_key).expect("HMAC takes a key of any length"),
            }),
            secure_cookies,
            admins: Arc::new(admins.into_iter().collect()),
            csrf_key: Arc::new(derive_key(jwt_key, b"boxoffice page csrf v1")),
        }
    }

    /// The key the pages' CSRF tokens are signed with.
    pub(crate) fn csrf_key(&self) -> &[u8; 32] {
        &self.csrf_key
    }

    /// Whether cookies are marked `Secure` (served over HTTPS).
    pub(crate) fn secure_cookies(&self) -> bool {
        self.secure_cookies
    }

    /// Claims for `session` of `user`: a new session at sign-in, the same
    /// one on renewal. The role is decided here, each time.
    pub(crate) fn issue(&self, user: &User, session: SessionId) -> Claims {
        let now = Timestamp::now().as_secs();
        let admin = self.admins.contains(&user.email);
        Claims {
            id: user.id,
            email: user.email.as_str().to_owned(),
            iat: now,
            exp: now + TOKEN_TTL_SECS,
            role: if admin { Role::Admin } else { Role::User },
            sid: session,
            epoch: user.sessions_from,
        }
    }

    pub(crate) fn encode(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.inner.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    /// The token's claims if it is signed with this key and not expired.
    /// A token with the header this code writes (every token it signs) is
    /// checked here: the header compared as text, the signature with the
    /// pre-keyed HMAC in constant time, the claims parsed once, `exp` not
    /// before now, as `jsonwebtoken` with this validation would (a test
    /// holds the two to the same answers). Any other header goes to
    /// `jsonwebtoken` itself.
    pub(crate) fn decode(&self, token: &str) -> Option<Claims> {
        self.decode_at(token, Timestamp::now().as_secs())
    }

    /// [`Sessions::decode`] as of `now`, seconds since the Unix epoch.
    fn decode_at(&self, token: &str, now: u64) -> Option<Claims> {
        let keys = &self.inner;
        let (signed, signature) = token.rsplit_once('.')?;
        let (header, payload) = signed.split_once('.')?;
        if header != keys.header {
            return jsonwebtoken::decode::<Claims>(token, &keys.decoding, &keys.validation)
                .ok()
                .map(|data| data.claims);
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = keys.mac.clone();
        mac.update(signed.as_bytes());
        mac.verify_slice(&signature).ok()?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (claims.exp >= now).then_some(claims)
    }

    /// A `Set-Cookie` value carrying a token for a new session of `user`.
    pub(crate) fn cookie_for(&self, user: &User) -> HeaderValue {
        self.cookie_for_session(user, SessionId::new())
    }

    fn cookie_for_session(&self, user: &User, session: SessionId) -> HeaderValue {
        let claims = self.issue(user, session);
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

/// HMAC-SHA256(`key`, `purpose`): a key of its own for each use of one secret.
fn derive_key(key: &[u8], purpose: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(purpose);
    mac.finalize().into_bytes().into()
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

/// The cookie session to renew once a request is answered, if any.
#[must_use = "a renewal does nothing until applied to the response"]
pub(crate) struct Renewal(Option<Session>);

/// Resolves the caller once per request, for [`CurrentUser`] and
/// [`SignedIn`]; a cookie past half its token's life is to be renewed.
pub(crate) fn resolve(state: &AppState, request: &mut Request) -> Renewal {
    let found = token_from(request.headers())
        .and_then(|(token, source)| state.sessions.decode(&token).map(|c| (c, source)))
        .filter(|(c, _)| state.ops.session_live(c.id, c.sid, c.epoch));
    let renew = found.as_ref().and_then(|(claims, source)| {
        let now = Timestamp::now().as_secs();
        let past_half = now >= claims.iat + (claims.exp - claims.iat) / 2;
        (*source == Source::Cookie && past_half)
            .then(|| claims.session())
            .flatten()
    });
    request
        .extensions_mut()
        .insert(CurrentUser(found.map(|(c, _)| c)));
    Renewal(renew)
}

impl Renewal {
    /// Sets the renewed cookie on `res`, once the account's home confirms
    /// the session is still live.
    pub(crate) async fn apply(self, state: &AppState, res: &mut Response) {
        let Some(session) = self.0 else {
            return;
        };
        // A handler that set its own session cookie (sign in/out, a
        // password change) wins. Nor is a session put on a response any
        // cache may keep and hand to others (the year-cached stylesheet
        // and script).
        let shared = res
            .headers()
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("public"));
        if shared || res.headers().contains_key(header::SET_COOKIE) {
            return;
        }
        let id = session.id;
        match state.ops.renew_session(session).await {
            Ok(Some(user)) => {
                let cookie = state.sessions.cookie_for_session(&user, id);
                res.headers_mut().append(header::SET_COOKIE, cookie);
            }
            // Ended or banned: the token runs out and is not replaced.
            Ok(None) => {}
            // The account's home is not reached: try again next request.
            Err(e) => tracing::debug!(error = %e, "session renewal skipped"),
        }
    }
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

    fn user() -> User {
        User::new(Email::parse("a@b.co").unwrap(), "$argon2id$x".into())
    }

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let s = Sessions::new(b"test key that is long enough......", false, Vec::new());
        let claims = s.issue(&user(), SessionId::new());
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

        let mut old = s.issue(&user(), SessionId::new());
        old.iat = now - 2000;
        old.exp = now - 1000;
        assert_eq!(s.decode(&s.encode(&old)), None);
    }

    /// The checked fast path answers as `jsonwebtoken` does, for tokens
    /// this code signs and for forged, tampered, expired and foreign ones.
    #[test]
    fn the_token_check_answers_as_jsonwebtoken_does() {
        let s = Sessions::new(b"test key that is long enough......", false, Vec::new());
        let reference = |token: &str| {
            jsonwebtoken::decode::<Claims>(token, &s.inner.decoding, &s.inner.validation)
                .ok()
                .map(|data| data.claims)
        };
        let now = Timestamp::now().as_secs();
        let sign = |header: &str, payload: &str| {
            let signed = format!("{header}.{payload}");
            let mut mac = s.inner.mac.clone();
            mac.update(signed.as_bytes());
            format!(
                "{signed}.{}",
                URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
            )
        };
        let claims = s.issue(&user(), SessionId::new());
        let good = s.encode(&claims);
        let (header, rest) = good.split_once('.').unwrap();
        assert_eq!(
            header, s.inner.header,
            "what we sign takes the checked path"
        );
        let (payload, signature) = rest.split_once('.').unwrap();
        let mut tokens = vec![
            good.clone(),
            format!("{header}.{payload}x.{signature}"),
            format!("{header}.{payload}.{}", &signature[1..]),
            format!("{header}.{payload}.{signature}="),
            format!("{header}.{payload}.{signature}.{signature}"),
            format!("{header}.{payload}"),
            format!("{header}..{signature}"),
            String::new(),
            "..".into(),
            Sessions::new(b"another key entirely...............", false, Vec::new())
                .encode(&claims),
        ];
        // Far enough from now that the clock cannot tick across them
        // between the two checks (the exact boundary is tested below).
        for exp in [now - 100, now + 100] {
            let mut c = claims.clone();
            c.exp = exp;
            tokens.push(s.encode(&c));
        }
        // Signed with the right key, but claims this code never writes.
        let missing_iat = format!(
            r#"{{"id":"{}","email":"a@b.co","exp":{},"role":"user","sid":"{}","epoch":0}}"#,
            UserId::new(),
            now + 600,
            SessionId::new()
        );
        tokens.push(sign(header, &URL_SAFE_NO_PAD.encode(&missing_iat)));
        tokens.push(sign(header, &URL_SAFE_NO_PAD.encode("[]")));
        // Other headers: `jsonwebtoken` decides them.
        for other in [
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"alg":"HS256"}"#,
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"HS512","typ":"JWT"}"#,
        ] {
            tokens.push(sign(&URL_SAFE_NO_PAD.encode(other), payload));
        }
        let mut accepted = 0;
        for token in &tokens {
            let answer = s.decode(token);
            assert_eq!(answer, reference(token), "{token}");
            accepted += usize::from(answer.is_some());
        }
        // The good token, the one expiring later, and the two HS256
        // headers in another spelling.
        assert_eq!(accepted, 4);

        // jsonwebtoken expires a token once `exp < now` (no leeway): a
        // token is still good in its last second, and not after it.
        let mut last = claims.clone();
        last.exp = now + 50;
        let last = s.encode(&last);
        assert!(s.decode_at(&last, now + 50).is_some());
        assert!(s.decode_at(&last, now + 51).is_none());
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
