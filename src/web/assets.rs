//! The one stylesheet and the one script, built into the binary (no CDN,
//! no web fonts). Pages link them with a hash of their content in the
//! query, so they can be cached for a year and still change with a release.

use std::sync::LazyLock;

use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use sha2::{Digest as _, Sha256};

const CSS: &str = include_str!("../../static/app.css");
const JS: &str = include_str!("../../static/app.js");

/// A year: the URL changes whenever the content does.
const CACHE: &str = "public, max-age=31536000, immutable";

fn versioned(path: &str, content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    format!("{path}?v={}", hex::encode(&digest[..6]))
}

static CSS_URL: LazyLock<String> = LazyLock::new(|| versioned("/static/app.css", CSS));
static JS_URL: LazyLock<String> = LazyLock::new(|| versioned("/static/app.js", JS));

/// The stylesheet's URL, as pages link it.
pub(super) fn css_url() -> &'static str {
    &CSS_URL
}

/// The script's URL, as pages link it.
pub(super) fn js_url() -> &'static str {
    &JS_URL
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, CACHE),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// `GET /static/app.css`.
pub(super) async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

/// `GET /static/app.js`.
pub(super) async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}
