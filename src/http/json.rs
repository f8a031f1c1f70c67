//! Reading JSON bodies: our own extractor (so every rejection has the
//! uniform body) and [`Fields`], which turns a JSON object into domain
//! values and reports every bad field at once.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{header, StatusCode},
};
use serde_json::{Map, Value};

use super::error::{ApiError, FieldError};
use crate::domain::{Invalid, Price};

/// Largest accepted request body.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// A request body that is a JSON object.
pub(crate) struct JsonObject(pub Map<String, Value>);

impl JsonObject {
    /// A submitted HTML form as the object the API would take, so that a
    /// page checks its fields with the API's code, in the API's words.
    /// Every field is a string, except that a blank field named in
    /// `optional` is left out, and one named in `numbers` that reads as a
    /// number becomes a JSON number (from its text, never rounded).
    pub(crate) fn from_form(
        pairs: &[(String, String)],
        optional: &[&str],
        numbers: &[&str],
    ) -> Self {
        let mut map = Map::new();
        for (name, value) in pairs {
            let blank = value.trim().is_empty();
            if blank && optional.contains(&name.as_str()) {
                map.remove(name);
                continue;
            }
            let number = numbers
                .contains(&name.as_str())
                .then(|| value.trim().parse::<serde_json::Number>().ok())
                .flatten();
            let value = number.map_or_else(|| Value::String(value.clone()), Value::Number);
            map.insert(name.clone(), value);
        }
        Self(map)
    }
}

impl FromRequest<super::AppState> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &super::AppState) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "content_type",
                "Content-Type must be application/json",
            ));
        }
        // A deadline for the whole body, not per chunk: a body that drips
        // must not hold a connection for days.
        let read = tokio::time::timeout(state.body_timeout, Bytes::from_request(req, state));
        let Ok(read) = read.await else {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "The request body did not arrive in time",
            ));
        };
        let bytes = read.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("Request body must be at most {} KiB", BODY_LIMIT / 1024),
                )
            } else {
                ApiError::bad_request("Could not read the request body")
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("A JSON request body is required"));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(ApiError::bad_request(
                "The request body must be a JSON object",
            )),
            Err(e) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("Malformed JSON: {e}"),
            )),
        }
    }
}

/// Pulls typed fields out of a JSON object, collecting every error.
pub(super) struct Fields {
    map: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Fields {
    pub(super) fn new(JsonObject(map): JsonObject) -> Self {
        Self {
            map,
            errors: Vec::new(),
        }
    }

    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            message: message.into(),
            field: Some(field.to_owned()),
            code: "invalid",
        });
    }

    /// A required string field, as sent.
    pub(super) fn string(&mut self, field: &str) -> Option<String> {
        match self.map.remove(field) {
            None | Some(Value::Null) => {
                self.fail(field, format!("{field} is required"));
                None
            }
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.fail(field, format!("{field} must be a string"));
                None
            }
        }
    }

    /// A required string field, checked by `parse`.
    pub(super) fn parse<T>(
        &mut self,
        field: &str,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Option<T> {
        let raw = self.string(field)?;
        match parse(&raw) {
            Ok(v) => Some(v),
            Err(Invalid(msg)) => {
                self.fail(field, msg);
                None
            }
        }
    }

    /// [`Fields::parse`] for a field that may be left out (or null):
    /// `Some(None)` when it is, `None` when it is there but wrong.
    pub(super) fn optional<T>(
        &mut self,
        field: &str,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Option<Option<T>> {
        if matches!(self.map.get(field), None | Some(Value::Null)) {
            self.map.remove(field);
            return Some(None);
        }
        self.parse(field, parse).map(Some)
    }

    /// A whole JSON number from `min` to `max`, when given: `Some(None)`
    /// when left out, `None` when wrong (a fraction, a string, out of range).
    pub(super) fn optional_whole(
        &mut self,
        field: &str,
        min: u64,
        max: u64,
    ) -> Option<Option<u64>> {
        let n = match self.map.remove(field) {
            None | Some(Value::Null) => return Some(None),
            // Read from the literal text (`arbitrary_precision`): `1.0` is
            // not whole, and no float rounding makes it so.
            Some(Value::Number(n)) => n.to_string().parse::<u64>().ok(),
            Some(_) => None,
        };
        match n.filter(|n| (min..=max).contains(n)) {
            Some(n) => Some(Some(n)),
            None => {
                self.fail(
                    field,
                    format!("{field} must be a whole number from {min} to {max}"),
                );
                None
            }
        }
    }

    /// A required whole JSON number from `min` to `max`.
    pub(super) fn whole(&mut self, field: &str, min: u64, max: u64) -> Option<u64> {
        if matches!(self.map.get(field), None | Some(Value::Null)) {
            self.fail(field, format!("{field} is required"));
            return None;
        }
        self.optional_whole(field, min, max)?
    }

    /// Adds an error about `field` found by a check across fields.
    pub(super) fn refuse(&mut self, field: &str, message: impl Into<String>) {
        self.fail(field, message);
    }

    /// A price given as a JSON number or a numeric string. A number is read
    /// from its literal text (serde_json's `arbitrary_precision`), so
    /// `19.999999999999999999` is refused exactly as the string would be,
    /// never rounded to 20.
    pub(super) fn price(&mut self, field: &str) -> Option<Price> {
        if matches!(self.map.get(field), None | Some(Value::Null)) {
            self.fail(field, format!("{field} is required"));
            return None;
        }
        self.optional_price(field)?
    }

    /// [`Fields::price`] for a field that may be left out: `Some(None)`
    /// when it is, `None` when it is there but wrong.
    pub(super) fn optional_price(&mut self, field: &str) -> Option<Option<Price>> {
        let raw = match self.map.remove(field) {
            None | Some(Value::Null) => return Some(None),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s,
            Some(_) => {
                self.fail(field, format!("{field} must be a number"));
                return None;
            }
        };
        match Price::parse(&raw) {
            Ok(p) => Some(Some(p)),
            Err(Invalid(msg)) => {
                self.fail(field, msg);
                None
            }
        }
    }

    /// Every field's value, or every field's error.
    pub(super) fn done<T: AllSome>(self, values: T) -> Result<T::Values, ApiError> {
        if !self.errors.is_empty() {
            return Err(ApiError::validation(self.errors));
        }
        values
            .all_some()
            .ok_or_else(|| ApiError::bad_request("Invalid request body"))
    }
}

/// A tuple of `Option`s that are all `Some` once [`Fields`] saw no error.
pub(super) trait AllSome {
    type Values;
    fn all_some(self) -> Option<Self::Values>;
}

impl<A> AllSome for (Option<A>,) {
    type Values = A;
    fn all_some(self) -> Option<A> {
        self.0
    }
}

/// [`AllSome`] for tuples of more than one field.
macro_rules! all_some {
    ($($t:ident $i:tt),+) => {
        impl<$($t),+> AllSome for ($(Option<$t>,)+) {
            type Values = ($($t,)+);
            fn all_some(self) -> Option<Self::Values> {
                Some(($(self.$i?,)+))
            }
        }
    };
}

all_some!(A 0, B 1);
all_some!(A 0, B 1, C 2);
all_some!(A 0, B 1, C 2, D 3);
all_some!(A 0, B 1, C 2, D 3, E 4);
