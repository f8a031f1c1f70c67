//! The JSON the API answers with, as typed structs: the shapes are checked
//! by the compiler, and the domain stays free of presentation.

use serde::{Serialize, Serializer};
use utoipa::{
    openapi::{schema::Type, ObjectBuilder, RefOr, Schema},
    ToSchema,
};

use crate::records::Recorded;

use crate::domain::{
    Amount, Charge, ChargeId, Coupon, Discount, Event, Order, OrderId, Price, Ticket, TicketEvent,
    TicketId, TicketState, UserId,
};

/// A price as a JSON number: `20` for whole amounts, `19.99` otherwise.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Money(pub(crate) Price);

/// Cents as a JSON number: `20` for whole amounts, `19.99` otherwise.
fn serialize_cents<S: Serializer>(cents: u64, s: S) -> Result<S::Ok, S::Error> {
    if cents.is_multiple_of(100) {
        s.serialize_u64(cents / 100)
    } else {
        s.serialize_f64(cents as f64 / 100.0)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_cents(self.0.cents(), s)
    }
}

/// The same text as in JSON (`20`, `19.5`), for pages and forms.
impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| std::fmt::Error)?)
    }
}

impl utoipa::PartialSchema for Money {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .description(Some(
                "A price: a JSON number with at most two decimals, greater than 0 \
                 and at most 1000000 (kept as integer cents)",
            ))
            .exclusive_minimum(Some(0))
            .maximum(Some(1_000_000))
            .examples([serde_json::json!(49.9)])
            .into()
    }
}

impl ToSchema for Money {}

/// A sum charged, in the money format of prices, but possibly `0` (a
/// coupon paid it all).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Charged(pub(crate) Amount);

impl Serialize for Charged {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_cents(self.0.cents(), s)
    }
}

/// The same text as in JSON, for pages.
impl std::fmt::Display for Charged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| std::fmt::Error)?)
    }
}

impl utoipa::PartialSchema for Charged {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .description(Some(
                "A sum charged: a JSON number with at most two decimals, from 0 (a coupon \
                 paid it all) to 1000000",
            ))
            .minimum(Some(0))
            .maximum(Some(1_000_000))
            .examples([serde_json::json!(44.91)])
            .into()
    }
}

impl ToSchema for Charged {}

/// A ticket: `orderId` is null while it is free.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Ticket)]
pub(crate) struct TicketView {
    #[schema(value_type = uuid::Uuid)]
    id: TicketId,
    /// 1 to 200 characters.
    title: String,
    price: Money,
    /// The seller.
    #[schema(value_type = uuid::Uuid)]
    user_id: UserId,
    /// 0 when created, one more per change.
    version: u64,
    /// The order holding (or that bought) the ticket; null while it is free.
    #[schema(value_type = Option<uuid::Uuid>)]
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

impl From<TicketEvent> for TicketView {
    fn from(t: TicketEvent) -> Self {
        Self {
            id: t.id,
            title: t.title,
            price: Money(t.price),
            user_id: t.user_id,
            version: t.version,
            order_id: order_of(t.state),
        }
    }
}

impl From<&TicketEvent> for TicketView {
    fn from(t: &TicketEvent) -> Self {
        Self::from(t.clone())
    }
}

/// A ticket as a live stream sends it: the ticket, and whether it can be
/// bought now (neither held nor sold), so a page need not work it out.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TicketChange)]
pub(crate) struct TicketChangeView {
    #[serde(flatten)]
    ticket: TicketView,
    /// Neither held nor sold: open to the next BUY.
    for_sale: bool,
    /// `available`, `held` or `sold`, so a page can say which without
    /// guessing from what it saw before.
    #[schema(pattern = "^(available|held|sold)$")]
    state: &'static str,
}

impl From<&TicketEvent> for TicketChangeView {
    fn from(t: &TicketEvent) -> Self {
        Self {
            ticket: TicketView::from(t),
            for_sale: t.state == TicketState::Available,
            state: match t.state {
                TicketState::Available => "available",
                TicketState::Held(_) => "held",
                TicketState::Sold(_) => "sold",
            },
        }
    }
}

/// An order, with the ticket as it was when it was placed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Order)]
pub(crate) struct OrderView {
    #[schema(value_type = uuid::Uuid)]
    id: OrderId,
    /// The buyer.
    #[schema(value_type = uuid::Uuid)]
    user_id: UserId,
    /// `created` (holding the ticket until `expiresAt`), `cancelled` (by the
    /// buyer, or expired) or `complete` (paid). The last two are final.
    #[schema(schema_with = order_status)]
    status: &'static str,
    /// When an unpaid hold lapses: RFC 3339, UTC.
    #[schema(format = DateTime)]
    expires_at: String,
    /// 0 when created, one more per change.
    version: u64,
    ticket: OrderTicketView,
}

fn order_status() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["created", "cancelled", "complete"]))
}

/// The ticket as it was when the order was placed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OrderTicket)]
pub(crate) struct OrderTicketView {
    #[schema(value_type = uuid::Uuid)]
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
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Event)]
pub(crate) struct EventView {
    /// Gap-free sequence number in this node's log, from 1.
    seq: u64,
    /// When it happened: RFC 3339, UTC.
    #[schema(format = DateTime)]
    at: String,
    /// `UserCreated`, `UserUpdated`, `SessionEnded`, `TicketCreated`,
    /// `TicketUpdated`, `OrderCreated`, `OrderCancelled`, `OrderExpired`,
    /// `ChargeCreated`, `CouponCreated`, `CouponRedeemed` or `CouponReturned`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// The id of the user, ticket, order or charge it is about (a
    /// coupon's code for coupon events).
    entity_id: String,
    /// The entity's version after the change.
    version: u64,
    /// The event's fields, as the event log names them (amounts in cents).
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

/// An account, as sign-up and sign-in answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Account)]
pub(crate) struct AccountView {
    #[schema(value_type = uuid::Uuid)]
    pub(crate) id: UserId,
    /// Trimmed and lower-cased.
    pub(crate) email: String,
}

/// Who the caller is: the session's claims, or null when anonymous.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CurrentUser)]
pub(crate) struct CurrentUserView {
    #[schema(required = true)]
    pub(crate) current_user: Option<super::session::Claims>,
}

/// An account's standing, as an admin sees it after a ban or its lifting.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = UserStatus)]
pub(crate) struct UserStatusView {
    #[schema(value_type = uuid::Uuid)]
    id: UserId,
    email: String,
    /// `active` or `banned`.
    #[schema(pattern = "^(active|banned)$")]
    status: &'static str,
}

impl From<&crate::domain::User> for UserStatusView {
    fn from(u: &crate::domain::User) -> Self {
        Self {
            id: u.id,
            email: u.email.as_str().to_owned(),
            status: match u.status {
                crate::domain::AccountStatus::Active => "active",
                crate::domain::AccountStatus::Banned => "banned",
            },
        }
    }
}

/// An empty JSON object, `{}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Empty {}

/// A charge: the payment of an order.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Charge)]
pub(crate) struct ChargeView {
    #[schema(value_type = uuid::Uuid)]
    pub(crate) id: ChargeId,
    /// What was charged: the ticket's price less the coupon's discount;
    /// 0 when a coupon paid it all (no card was charged).
    pub(crate) amount: Charged,
}

impl From<&Charge> for ChargeView {
    fn from(c: &Charge) -> Self {
        Self {
            id: c.id,
            amount: Charged(c.amount),
        }
    }
}

/// A coupon: exactly one of `percentOff` and `amountOff` is set.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Coupon)]
pub(crate) struct CouponView {
    /// Canonical: upper case.
    #[schema(pattern = "^[A-Z0-9_-]{3,32}$", example = "SUMMER-10")]
    code: String,
    /// A whole percentage taken off the price, 1 to 100; null for an
    /// amount coupon.
    #[schema(minimum = 1, maximum = 100, required = true)]
    percent_off: Option<u8>,
    /// A sum taken off the price (never below 0); null for a percentage
    /// coupon.
    #[schema(required = true)]
    amount_off: Option<Money>,
    /// How many orders may use it, at least 1.
    #[schema(minimum = 1)]
    max_redemptions: u32,
    /// Uses held now (a failed payment gives its use back).
    redemptions: u32,
    /// When it stops being accepted (RFC 3339, UTC); null: never.
    #[schema(format = DateTime, required = true)]
    expires_at: Option<String>,
}

impl From<&Coupon> for CouponView {
    fn from(c: &Coupon) -> Self {
        let (percent_off, amount_off) = match c.discount {
            Discount::Percent(p) => (Some(p), None),
            Discount::Amount(a) => (None, Some(Money(a))),
        };
        Self {
            code: c.code.to_string(),
            percent_off,
            amount_off,
            max_redemptions: c.max_redemptions,
            redemptions: c.redemptions,
            expires_at: c.expires_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// A page of the event log.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = EventPage)]
pub(crate) struct EventPageView {
    pub(crate) events: Vec<EventView>,
    /// The `after` for the next page: the last event's `seq` (or the
    /// `after` asked for, when the page is empty).
    pub(crate) next: u64,
}

/// A node's figures, for operators.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Stats)]
pub(crate) struct StatsView {
    /// This node's name.
    pub(crate) node: String,
    /// Ticket and order actors in memory.
    pub(crate) live_actors: usize,
    /// The head of this node's event log.
    pub(crate) last_event_seq: u64,
    /// Tickets in this node's catalog (from every node's events).
    pub(crate) catalog_tickets: usize,
    /// Of those, the ones neither held nor sold.
    pub(crate) catalog_for_sale: usize,
    /// Virtual shards of the cluster.
    pub(crate) shards: u16,
    /// Shards this node is home to.
    pub(crate) own_shards: usize,
    pub(crate) peers: Vec<crate::cluster::membership::PeerStatus>,
}

/// Where a ticket (and its orders) lives.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Placement)]
pub(crate) struct PlacementView {
    #[schema(value_type = uuid::Uuid)]
    pub(crate) ticket_id: TicketId,
    pub(crate) shard: u16,
    /// The home node's name.
    pub(crate) node: String,
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
