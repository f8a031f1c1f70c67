//! Plain types and rules: no I/O, no actors, no sled.
//!
//! Values here are checked once, when they are made (`Email::parse`,
//! `Price::parse`, ...), so code that holds one can trust it.

mod coupon;
mod email;
mod event;
mod ids;
mod order;
mod password;
mod price;
mod ticket;
mod time;
mod user;

pub use coupon::{Amount, Coupon, CouponCode, Discount};
pub use email::Email;
pub use event::{Event, EventKind, TicketEvent};
pub use ids::{ChargeId, OrderId, SessionId, TicketId, UserId};
pub use order::{Charge, Order, OrderStatus, TicketSnapshot};
pub use password::Password;
pub use price::Price;
pub use ticket::{Ticket, TicketState, Title};
pub use time::Timestamp;
pub use user::{AccountStatus, User, SESSION_TTL_SECS};

/// A value that failed validation; the HTTP edge attaches the field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    /// The message is shown to the client as is, so write it for them.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// A business rule said no. Each maps to a 4xx with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum RuleError {
    /// Edits wait until the hold ends; a sold ticket never changes again.
    #[error("Cannot edit a reserved ticket")]
    TicketReserved,
    /// Another order holds the ticket; it may come free if that order lapses.
    #[error("Ticket is already reserved")]
    AlreadyReserved,
    /// Final: the ticket has been paid for.
    #[error("Ticket has been sold")]
    TicketSold,
    /// The buyer saw another price; the ticket's price now is this.
    #[error("Price changed: the ticket now costs {0}")]
    PriceChanged(Price),
    /// The caller does not own the ticket or order it names.
    #[error("Not authorized")]
    NotOwner,
    /// A paid order cannot be cancelled.
    #[error("Cannot cancel a completed order")]
    OrderCompleted,
    /// The order was cancelled (by its buyer or at its deadline) and no longer
    /// holds its ticket.
    #[error("Order has been cancelled")]
    OrderCancelled,
    /// The deadline passed before payment; no charge is attempted.
    #[error("Order has expired")]
    OrderExpired,
    /// A second payment is refused rather than charged.
    #[error("Order has already been paid")]
    AlreadyPaid,
    /// The buyer already has as many holds waiting for payment as a buyer
    /// may; one must be paid, cancelled or lapse first.
    #[error("Hold limit reached")]
    HoldLimitReached,
    /// A banned account cannot sign in.
    #[error("Account suspended")]
    AccountSuspended,
    /// No coupon has this code (404, field `coupon`).
    #[error("Coupon not found")]
    UnknownCoupon,
    /// The coupon's `expiresAt` has passed.
    #[error("Coupon has expired")]
    CouponExpired,
    /// Every use of the coupon is held by an order.
    #[error("Coupon has been used up")]
    CouponUsedUp,
}
