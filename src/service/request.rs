//! The operations one node can ask of an entity's home node. The same
//! values drive local calls, so a forwarded request and a local one run
//! exactly the same code on the home node.

use serde::{Deserialize, Serialize};

use crate::{
    domain::{Charge, Email, Event, Order, OrderId, Price, Ticket, TicketId, Title, User, UserId},
    error::Error,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// Liveness probe between nodes; answered by the gateway itself.
    Ping,
    CreateUser {
        user: User,
    },
    UserByEmail {
        email: Email,
    },
    SetPassword {
        email: Email,
        id: UserId,
        hash: String,
    },
    CreateTicket {
        ticket: Ticket,
    },
    Ticket {
        id: TicketId,
    },
    EditTicket {
        by: UserId,
        id: TicketId,
        title: Title,
        price: Price,
    },
    Reserve {
        buyer: UserId,
        ticket: TicketId,
        key: String,
    },
    Order {
        user: UserId,
        id: OrderId,
    },
    OrdersOf {
        user: UserId,
    },
    Cancel {
        user: UserId,
        id: OrderId,
    },
    Pay {
        user: UserId,
        id: OrderId,
        token: String,
        key: String,
    },
    EventsAfter {
        after: u64,
        limit: usize,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply {
    Pong { node: String },
    Done,
    User(Option<User>),
    Ticket(Ticket),
    Order(Order),
    Orders(Vec<Order>),
    Charge(Charge),
    Events(Vec<Event>),
}

/// Unpacks the reply a request is known to get.
macro_rules! reply_as {
    ($($variant:ident => $ty:ty),* $(,)?) => {$(
        impl TryFrom<Reply> for $ty {
            type Error = Error;

            fn try_from(reply: Reply) -> Result<Self, Error> {
                match reply {
                    Reply::$variant(v) => Ok(v),
                    other => Err(Error::Internal(format!(
                        "expected {} reply, got {other:?}",
                        stringify!($variant)
                    ))),
                }
            }
        }
    )*};
}

reply_as!(
    User => Option<User>,
    Ticket => Ticket,
    Order => Order,
    Orders => Vec<Order>,
    Charge => Charge,
    Events => Vec<Event>,
);

impl TryFrom<Reply> for () {
    type Error = Error;

    fn try_from(reply: Reply) -> Result<(), Error> {
        match reply {
            Reply::Done => Ok(()),
            other => Err(Error::Internal(format!(
                "expected Done reply, got {other:?}"
            ))),
        }
    }
}
