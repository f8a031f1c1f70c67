//! The service's error: what went wrong, in terms a client can act on.
//! The HTTP layer renders it; lower layers convert into it at their edge.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::{domain::RuleError, store::StoreError};

/// Serializable, so a node can return it to the node that forwarded the request.
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize)]
pub enum Error {
    /// The request was refused as given: a value failed validation (with
    /// the field it came from) or the request makes no sense as a whole.
    #[error("{message}")]
    Invalid {
        /// The request field at fault, when there is one.
        field: Option<String>,
        /// For the client, as is.
        message: String,
    },
    /// No such entity (or not visible to the caller).
    #[error("{0} not found")]
    NotFound(Cow<'static, str>),
    /// Not signed in, or not allowed to touch this entity.
    #[error("{0}")]
    Unauthorized(String),
    /// Signed in, but not allowed to do this (not an admin, a suspended
    /// account).
    #[error("{0}")]
    Forbidden(String),
    /// Too many attempts: try again after this many seconds.
    #[error("{message}")]
    Throttled {
        /// For the client, as is.
        message: String,
        /// Whole seconds until an attempt may succeed (at least 1).
        retry_after_secs: u32,
    },
    /// A business rule refused the change.
    #[error("{0}")]
    Rule(#[from] RuleError),
    /// The payment provider refused the charge.
    #[error("{0}")]
    PaymentDeclined(String),
    /// The owner of the entity cannot answer right now; safe to retry.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or a broken disk: logged, and shown without details.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    pub(crate) fn not_found(what: &'static str) -> Self {
        Self::NotFound(Cow::Borrowed(what))
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::Invalid {
            field: None,
            message: message.into(),
        }
    }
}

impl From<crate::records::RecordError> for Error {
    fn from(e: crate::records::RecordError) -> Self {
        Error::Internal(format!("an unreadable record from a peer: {e}"))
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::EmailTaken => Error::invalid("email", "Email in use"),
            StoreError::CouponCodeTaken => Error::invalid("code", "Coupon code in use"),
            StoreError::Flush(msg) | StoreError::Stale(msg) => Error::Unavailable(msg),
            StoreError::Rule(rule) => Error::Rule(rule),
            other => Error::Internal(other.to_string()),
        }
    }
}

/// What every operation returns.
pub type Result<T, E = Error> = std::result::Result<T, E>;
