//! The JSON the API answers with, as typed structs: the shapes are checked
//! by the compiler, and the domain stays free of presentation.

use serde::{Serialize, Serializer};

use crate::records::Recorded;

use crate::domain::{
    Event, Order, OrderId, Price, Ticket, TicketEvent, TicketId, TicketState, UserId,
};

/// A price as a JSON number: `20` for whole amounts, `19.99` otherwise.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Money(pub(crate) Price);

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let cents = self.0.cents();
        if cents.is_multiple_of(100) {
            s.serialize_u64(cents / 100)
        } else {
            s.serialize_f64(cents as f64 / 100.0)
        }
    }
}

/// A ticket: `orderId` is null while it is free.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TicketView {
    id: TicketId,
    title: String,
    price: Money,
    user_id: UserId,
    version: u64,
    order_id: Option<OrderId>,
}

fn order_of(state: TicketState) -> Option<OrderId> {
    match state {
        TicketState::Available => None,
        TicketState::Held(id) | TicketState::Sold(id) => Some(id),
    }
}

impl From<&Ticket> for TicketView {
    fn from(t: &Ticket) -> Self {
        Self {
            id: t.id,
            title: t.title.as_str().to_owned(),
            price: Money(t.price),
            user_id: t.user_id,
            version: t.version,
            order_id: order_of(t.state),
        }
    }
}

impl From<&TicketEvent> for TicketView {
    fn from(t: &TicketEvent) -> Self {
        Self {
            id: t.id,
            title: t.title.clone(),
            price: Money(t.price),
            user_id: t.user_id,
            version: t.version,
            order_id: order_of(t.state),
        }
    }
}

/// An order, with the ticket as it was when it was placed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrderView {
    id: OrderId,
    user_id: UserId,
    status: &'static str,
    expires_at: String,
    version: u64,
    ticket: OrderTicketView,
}

#[derive(Debug, Serialize)]
pub(crate) struct OrderTicketView {
    id: TicketId,
    title: String,
    price: Money,
    version: u64,
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        Self {
            id: o.id,
            user_id: o.user_id,
            status: o.status.as_str(),
            expires_at: o.expires_at.to_rfc3339(),
            version: o.version,
            ticket: OrderTicketView {
                id: o.ticket.id,
                title: o.ticket.title.clone(),
                price: Money(o.ticket.price),
                version: o.ticket.version,
            },
        }
    }
}

/// An event of the log, for operators.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventView {
    seq: u64,
    at: String,
    #[serde(rename = "type")]
    kind: &'static str,
    entity_id: String,
    version: u64,
    /// The event's fields, as the event log names them.
    data: serde_json::Value,
}

impl From<&Event> for EventView {
    fn from(e: &Event) -> Self {
        let data = match serde_json::to_value(e.to_record().kind) {
            Ok(serde_json::Value::Object(mut map)) => {
                map.remove(e.kind.name()).unwrap_or(serde_json::Value::Null)
            }
            _ => serde_json::Value::Null,
        };
        Self {
            seq: e.seq,
            at: e.at.to_rfc3339(),
            kind: e.kind.name(),
            entity_id: e.kind.entity_id(),
            version: e.kind.version(),
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_a_decimal_number() {
        let json = |s: &str| serde_json::to_string(&Money(Price::parse(s).unwrap())).unwrap();
        assert_eq!(json("19.99"), "19.99");
        assert_eq!(json("20"), "20");
        assert_eq!(json("0.1"), "0.1");
    }
}
