use super::{
    AccountStatus, Amount, ChargeId, CouponCode, Discount, Email, OrderId, Price, SessionId,
    TicketId, TicketState, Timestamp, UserId,
};

/// What happened, appended to the event log in the same transaction as the
/// change it describes. Every payload names its entity and the entity's
/// `version` after the change, so consumers can drop stale or repeated ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// An account was signed up (or carried over by a reshard).
    UserCreated {
        /// The new account.
        id: UserId,
        /// Normalized; an account is found by it, and it picks the account's home.
        email: Email,
        /// The account's version: 0 unless carried over by a reshard.
        version: u64,
    },
    /// An account's password or status changed; events never carry the hash.
    UserUpdated {
        /// The account that changed.
        id: UserId,
        /// The account's version after the change.
        version: u64,
        /// Banned or not, after the change.
        status: AccountStatus,
        /// Sessions started at a lower epoch have ended: every node drops
        /// their tokens when it reads this.
        sessions_from: u64,
    },
    /// A user signed out: that one session has ended everywhere.
    SessionEnded {
        /// Whose session.
        user_id: UserId,
        /// The session that ended.
        session: SessionId,
        /// When its last token expires: nobody needs to remember it after.
        until: Timestamp,
    },
    /// A ticket was listed for sale (or carried over by a reshard).
    TicketCreated(TicketEvent),
    /// A ticket was edited, held, released or sold.
    TicketUpdated(TicketEvent),
    /// A buyer placed an order; its ticket is held until `expires_at`.
    OrderCreated {
        /// The new order.
        id: OrderId,
        /// The buyer.
        user_id: UserId,
        /// The ticket it holds.
        ticket_id: TicketId,
        /// The deadline for payment, after which the hold lapses.
        expires_at: Timestamp,
        /// The order's version: 0 for a new one.
        version: u64,
    },
    /// The buyer cancelled the order; its ticket is free again.
    OrderCancelled {
        /// The order that closed.
        id: OrderId,
        /// The ticket it released.
        ticket_id: TicketId,
        /// The order's version after the change.
        version: u64,
    },
    /// The order's deadline passed unpaid; the ticket is free again.
    OrderExpired {
        /// The order that lapsed.
        id: OrderId,
        /// The ticket it released.
        ticket_id: TicketId,
        /// The order's version after the change.
        version: u64,
    },
    /// A card was charged for an order, which is now complete.
    ChargeCreated {
        /// The new charge.
        id: ChargeId,
        /// The order it paid for.
        order_id: OrderId,
        /// What the buyer paid, in cents (zero when a coupon paid it all).
        amount: Amount,
        /// The paid order's version after the change.
        version: u64,
    },
    /// An admin created a coupon.
    CouponCreated {
        /// Its canonical code.
        code: CouponCode,
        /// What it takes off.
        discount: Discount,
        /// How many orders may hold a use at once.
        max_redemptions: u32,
        /// When it stops being accepted, if ever.
        expires_at: Option<Timestamp>,
        /// The coupon's version: 0.
        version: u64,
    },
    /// An order took a use of a coupon (before its payment was charged).
    CouponRedeemed {
        /// The coupon.
        code: CouponCode,
        /// The order holding the use: redemptions are keyed by it.
        order_id: OrderId,
        /// Uses held after this one.
        redemptions: u32,
        /// The coupon's version after the change.
        version: u64,
    },
    /// An order's use of a coupon was given back (its payment failed).
    CouponReturned {
        /// The coupon.
        code: CouponCode,
        /// The order that held the use.
        order_id: OrderId,
        /// Uses held after this one went back.
        redemptions: u32,
        /// The coupon's version after the change.
        version: u64,
    },
}

/// A ticket's full state, so a read model can be rebuilt from events alone.
/// (Amounts in events are integer cents.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketEvent {
    /// The ticket this is the state of.
    pub id: TicketId,
    /// The title as it now reads (already validated when it was set).
    pub title: String,
    /// The asking price, in cents.
    pub price: Price,
    /// The seller, who alone may edit it.
    pub user_id: UserId,
    /// Whether it can be bought now.
    pub state: TicketState,
    /// The ticket's version after the change; a read model keeps the highest.
    pub version: u64,
}

impl From<&super::Ticket> for TicketEvent {
    fn from(t: &super::Ticket) -> Self {
        Self {
            id: t.id,
            title: t.title.as_str().to_owned(),
            price: t.price,
            user_id: t.user_id,
            state: t.state,
            version: t.version,
        }
    }
}

impl EventKind {
    /// The variant's name: an entry's `type` in the admin event log.
    pub fn name(&self) -> &'static str {
        match self {
            Self::UserCreated { .. } => "UserCreated",
            Self::UserUpdated { .. } => "UserUpdated",
            Self::SessionEnded { .. } => "SessionEnded",
            Self::TicketCreated(_) => "TicketCreated",
            Self::TicketUpdated(_) => "TicketUpdated",
            Self::OrderCreated { .. } => "OrderCreated",
            Self::OrderCancelled { .. } => "OrderCancelled",
            Self::OrderExpired { .. } => "OrderExpired",
            Self::ChargeCreated { .. } => "ChargeCreated",
            Self::CouponCreated { .. } => "CouponCreated",
            Self::CouponRedeemed { .. } => "CouponRedeemed",
            Self::CouponReturned { .. } => "CouponReturned",
        }
    }

    /// Whether it ends sessions or may (a sign-out, a password change, a
    /// ban or its lifting): what every node's revocation table is built
    /// from, and what a restarting node reads again to rebuild it.
    pub fn touches_sessions(&self) -> bool {
        matches!(self, Self::UserUpdated { .. } | Self::SessionEnded { .. })
    }

    /// The entity's version after the change: an event at or below the
    /// version a consumer already has is stale or a repeat.
    pub fn version(&self) -> u64 {
        match self {
            Self::TicketCreated(t) | Self::TicketUpdated(t) => t.version,
            // A session ends once and never changes again.
            Self::SessionEnded { .. } => 1,
            Self::UserCreated { version, .. }
            | Self::UserUpdated { version, .. }
            | Self::OrderCreated { version, .. }
            | Self::OrderCancelled { version, .. }
            | Self::OrderExpired { version, .. }
            | Self::ChargeCreated { version, .. }
            | Self::CouponCreated { version, .. }
            | Self::CouponRedeemed { version, .. }
            | Self::CouponReturned { version, .. } => *version,
        }
    }

    /// The id of the entity this event is about.
    pub fn entity_id(&self) -> String {
        match self {
            Self::UserCreated { id, .. } | Self::UserUpdated { id, .. } => id.to_string(),
            Self::SessionEnded { session, .. } => session.to_string(),
            Self::TicketCreated(t) | Self::TicketUpdated(t) => t.id.to_string(),
            Self::OrderCreated { id, .. }
            | Self::OrderCancelled { id, .. }
            | Self::OrderExpired { id, .. } => id.to_string(),
            Self::ChargeCreated { id, .. } => id.to_string(),
            Self::CouponCreated { code, .. }
            | Self::CouponRedeemed { code, .. }
            | Self::CouponReturned { code, .. } => code.to_string(),
        }
    }
}

/// An event as stored: its place in this node's log and when it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Position in this node's log: from 1, gap-free, in commit order.
    pub seq: u64,
    /// When the transaction that wrote it began.
    pub at: Timestamp,
    /// What happened.
    pub kind: EventKind,
}
