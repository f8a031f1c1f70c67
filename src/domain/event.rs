use super::{ChargeId, Email, OrderId, Price, TicketId, TicketState, Timestamp, UserId};

/// What happened, appended to the event log in the same transaction as the
/// change it describes. Every payload names its entity and the entity's
/// `version` after the change, so consumers can drop stale or repeated ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    UserCreated {
        id: UserId,
        email: Email,
        version: u64,
    },
    UserUpdated {
        id: UserId,
        version: u64,
    },
    TicketCreated(TicketEvent),
    TicketUpdated(TicketEvent),
    OrderCreated {
        id: OrderId,
        user_id: UserId,
        ticket_id: TicketId,
        expires_at: Timestamp,
        version: u64,
    },
    OrderCancelled {
        id: OrderId,
        ticket_id: TicketId,
        version: u64,
    },
    OrderExpired {
        id: OrderId,
        ticket_id: TicketId,
        version: u64,
    },
    ChargeCreated {
        id: ChargeId,
        order_id: OrderId,
        amount: Price,
        version: u64,
    },
}

/// A ticket's full state, so a read model can be rebuilt from events alone.
/// (Amounts in events are integer cents.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketEvent {
    pub id: TicketId,
    pub title: String,
    pub price: Price,
    pub user_id: UserId,
    pub state: TicketState,
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
    pub fn name(&self) -> &'static str {
        match self {
            Self::UserCreated { .. } => "UserCreated",
            Self::UserUpdated { .. } => "UserUpdated",
            Self::TicketCreated(_) => "TicketCreated",
            Self::TicketUpdated(_) => "TicketUpdated",
            Self::OrderCreated { .. } => "OrderCreated",
            Self::OrderCancelled { .. } => "OrderCancelled",
            Self::OrderExpired { .. } => "OrderExpired",
            Self::ChargeCreated { .. } => "ChargeCreated",
        }
    }

    pub fn version(&self) -> u64 {
        match self {
            Self::TicketCreated(t) | Self::TicketUpdated(t) => t.version,
            Self::UserCreated { version, .. }
            | Self::UserUpdated { version, .. }
            | Self::OrderCreated { version, .. }
            | Self::OrderCancelled { version, .. }
            | Self::OrderExpired { version, .. }
            | Self::ChargeCreated { version, .. } => *version,
        }
    }

    /// The id of the entity this event is about.
    pub fn entity_id(&self) -> String {
        match self {
            Self::UserCreated { id, .. } | Self::UserUpdated { id, .. } => id.to_string(),
            Self::TicketCreated(t) | Self::TicketUpdated(t) => t.id.to_string(),
            Self::OrderCreated { id, .. }
            | Self::OrderCancelled { id, .. }
            | Self::OrderExpired { id, .. } => id.to_string(),
            Self::ChargeCreated { id, .. } => id.to_string(),
        }
    }
}

/// An event as stored: its place in this node's log and when it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    pub at: Timestamp,
    pub kind: EventKind,
}
