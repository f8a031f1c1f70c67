//! Lists a page at a time: the `limit`, `after` and `q` parameters, and the
//! `Link: <…>; rel="next"` header that carries the cursor to the next page.

use std::str::FromStr;

use axum::{
    extract::{FromRequestParts, Query},
    http::{header, request::Parts, HeaderValue},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::error::{ApiError, ApiResult};
use crate::error::Error;

/// The most a page holds, and what a list without `limit` returns at most.
pub(crate) const MAX_PAGE: usize = 1000;

/// A list's query parameters, in the order given.
pub(crate) struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("The query string could not be read"))?;
        Ok(Self(pairs))
    }
}

impl Params {
    /// The value of `name`; the last one when it is given more than once.
    fn get(&self, name: &str) -> Option<&String> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Every value of `name` (a repeatable parameter), in order.
    pub(super) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `limit`: 1 to [`MAX_PAGE`], [`MAX_PAGE`] when absent.
    pub(super) fn limit(&self) -> ApiResult<usize> {
        match self.get("limit") {
            None => Ok(MAX_PAGE),
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| {
                    Error::invalid(
                        "limit",
                        format!("limit must be a whole number from 1 to {MAX_PAGE}"),
                    )
                    .into()
                }),
        }
    }

    /// `after`: the cursor a previous page's `Link` header gave.
    pub(crate) fn after<T: FromStr>(&self) -> ApiResult<Option<T>> {
        self.get("after")
            .map(|raw| {
                raw.parse().map_err(|_| {
                    Error::invalid("after", "after must be a cursor from a Link header").into()
                })
            })
            .transpose()
    }

    /// A free-text parameter of at most `max` characters.
    pub(crate) fn text(&self, name: &str, max: usize) -> ApiResult<Option<&str>> {
        match self.get(name).map(|s| s.trim()) {
            Some(s) if s.chars().count() > max => {
                Err(Error::invalid(name, format!("{name} must be at most {max} characters")).into())
            }
            Some("") | None => Ok(None),
            Some(s) => Ok(Some(s)),
        }
    }
}

/// A page of `items` as a JSON array, with `Link: <path?…&after=cursor>;
/// rel="next"` when there is a next page. The body is written into a
/// buffer sized for the page up front: one that starts small and doubles
/// reallocates about six times for a 7 KB page of 50 tickets, which
/// showed in the profile of a browse run (docs/BENCHMARKS.md).
pub(super) fn page_response<T: Serialize>(
    items: &[T],
    path: &str,
    next: Option<String>,
    mut pairs: Vec<(&str, String)>,
) -> Response {
    /// Room per item: a ticket takes about 140 bytes of JSON, an order
    /// (with its ticket inside) more.
    const ITEM_BYTES: usize = 256;
    let mut body = Vec::with_capacity(2 + items.len() * ITEM_BYTES);
    if let Err(e) = serde_json::to_writer(&mut body, items) {
        // Views of domain values always serialize; this is a bug.
        return ApiError::from(Error::Internal(e.to_string())).into_response();
    }
    let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    let Some(cursor) = next else {
        return response;
    };
    pairs.push(("after", cursor));
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    if let Ok(value) = HeaderValue::from_str(&format!("<{path}?{query}>; rel=\"next\"")) {
        response.headers_mut().insert(header::LINK, value);
    }
    response
}
