//! Plain types and rules: no I/O, no actors, no sled.
//!
//! Values here are checked once, when they are made (`Email::parse`,
//! `Price::parse`, ...), so code that holds one can trust it.

mod email;
mod event;
mod ids;
mod order;
mod password;
mod price;
mod ticket;
mod time;
mod user;

pub use email::Email;
pub use event::{Event, EventKind, TicketEvent};
pub use ids::{ChargeId, OrderId, TicketId, UserId};
pub use order::{Charge, Order, OrderStatus, TicketSnapshot};
pub use password::Password;
pub use price::Price;
pub use ticket::{Ticket, TicketState, Title};
pub use time::Timestamp;
pub use user::User;

/// A value that failed validation; the HTTP edge attaches the field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// A business rule said no. Each maps to a 4xx with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum RuleError {
    #[error("Cannot edit a reserved ticket")]
    TicketReserved,
    #[error("Ticket is already reserved")]
    AlreadyReserved,
    #[error("Ticket has been sold")]
    TicketSold,
    #[error("Not authorized")]
    NotOwner,
    #[error("Cannot cancel a completed order")]
    OrderCompleted,
    #[error("Order has been cancelled")]
    OrderCancelled,
    #[error("Order has expired")]
    OrderExpired,
    #[error("Order has already been paid")]
    AlreadyPaid,
}
