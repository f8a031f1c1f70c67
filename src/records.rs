//! What goes to disk or over the wire, as types of its own: the domain can
//! change shape without changing a byte that is already stored.
//!
//! An encoded record is one schema-version byte and then postcard. Schema 1
//! is the layout below, field for field and variant for variant: it is what
//! every data dir written so far holds (the tests decode bytes written by
//! the release before these types existed). A change of layout adds
//! schema 2 beside it and an upgrade from 1; a record is never rewritten in
//! place with a different meaning. Decoding checks every value as the edge
//! of the system does: a stored email or title that is not valid is an
//! error, not a domain value that breaks its own rules.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{
    AccountStatus, Amount, Charge, ChargeId, Coupon, CouponCode, Discount, Email, Event, EventKind,
    Order, OrderId, OrderStatus, Price, SessionId, Ticket, TicketEvent, TicketId, TicketSnapshot,
    TicketState, Timestamp, Title, User, UserId,
};

/// The schema of records whose layout has not changed since the first.
const FIRST_SCHEMA: u8 = 1;

/// A record that could not be read back.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub(crate) struct RecordError(String);

/// A domain value with a stored (and transmitted) form.
pub(crate) trait Recorded: Sized {
    /// The layout `Record` is; bumped when it changes.
    const SCHEMA: u8 = FIRST_SCHEMA;
    type Record: Serialize + DeserializeOwned;
    fn to_record(&self) -> Self::Record;
    fn from_record(record: Self::Record) -> Result<Self, RecordError>;
    /// Reads a record written under an older schema.
    fn upgrade(schema: u8, _body: &[u8]) -> Result<Self, RecordError> {
        Err(RecordError(format!("unknown record schema {schema}")))
    }
}

/// The schema byte, then the record.
pub(crate) fn encode<T: Recorded>(value: &T) -> Vec<u8> {
    // Room for a ticket or an order at once: grown from one byte, the
    // buffer was reallocated four or five times per record.
    let mut out = Vec::with_capacity(128);
    out.push(T::SCHEMA);
    // Serializing plain structs into a Vec cannot fail.
    postcard::to_io(&value.to_record(), &mut out).expect("postcard encodes into a Vec");
    out
}

pub(crate) fn decode<T: Recorded>(bytes: &[u8]) -> Result<T, RecordError> {
    match bytes.split_first() {
        Some((&schema, body)) if schema == T::SCHEMA => T::from_record(postcard_body(body)?),
        Some((&schema, body)) => T::upgrade(schema, body),
        None => Err(RecordError("empty record".into())),
    }
}

fn postcard_body<R: DeserializeOwned>(body: &[u8]) -> Result<R, RecordError> {
    postcard::from_bytes(body).map_err(|e| RecordError(e.to_string()))
}

fn invalid(what: &str, e: impl std::fmt::Display) -> RecordError {
    RecordError(format!("stored {what} is not valid: {e}"))
}

fn price(cents: u64) -> Result<Price, RecordError> {
    Price::from_cents(cents).map_err(|e| invalid("price", e))
}

fn amount(cents: u64) -> Result<Amount, RecordError> {
    Amount::from_cents(cents).map_err(|e| invalid("amount", e))
}

fn code(raw: &str) -> Result<CouponCode, RecordError> {
    CouponCode::parse(raw).map_err(|e| invalid("coupon code", e))
}

fn title(raw: String) -> Result<Title, RecordError> {
    Title::parse_stored(&raw).map_err(|e| invalid("title", e))
}

fn email(raw: &str) -> Result<Email, RecordError> {
    Email::parse(raw).map_err(|e| invalid("email", e))
}

/// An account (schema 2: schema 1 plus status and session epoch).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct UserRecord {
    id: Uuid,
    email: String,
    password_hash: String,
    version: u64,
    created_at: u64,
    banned: bool,
    sessions_from: u64,
}

/// An account as schema 1 wrote it: active, at session epoch 0.
#[derive(Debug, Serialize, Deserialize)]
struct UserRecordV1 {
    id: Uuid,
    email: String,
    password_hash: String,
    version: u64,
    created_at: u64,
}

impl Recorded for User {
    const SCHEMA: u8 = 2;
    type Record = UserRecord;

    fn to_record(&self) -> UserRecord {
        UserRecord {
            id: self.id.into(),
            email: self.email.as_str().to_owned(),
            password_hash: self.password_hash.clone(),
            version: self.version,
            created_at: self.created_at.as_millis(),
            banned: self.status == AccountStatus::Banned,
            sessions_from: self.sessions_from,
        }
    }

    fn from_record(r: UserRecord) -> Result<Self, RecordError> {
        Ok(User {
            id: r.id.into(),
            email: email(&r.email)?,
            password_hash: r.password_hash,
            version: r.version,
            created_at: Timestamp::from_millis(r.created_at),
            status: status(r.banned),
            sessions_from: r.sessions_from,
        })
    }

    fn upgrade(schema: u8, body: &[u8]) -> Result<Self, RecordError> {
        match schema {
            FIRST_SCHEMA => {
                let r: UserRecordV1 = postcard_body(body)?;
                Self::from_record(UserRecord {
                    id: r.id,
                    email: r.email,
                    password_hash: r.password_hash,
                    version: r.version,
                    created_at: r.created_at,
                    banned: false,
                    sessions_from: 0,
                })
            }
            other => Err(RecordError(format!("unknown record schema {other}"))),
        }
    }
}

fn status(banned: bool) -> AccountStatus {
    if banned {
        AccountStatus::Banned
    } else {
        AccountStatus::Active
    }
}

/// Where a ticket is in its life (schema 1; the variant order is the layout).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) enum TicketStateRecord {
    Available,
    Held(Uuid),
    Sold(Uuid),
}

impl From<TicketState> for TicketStateRecord {
    fn from(s: TicketState) -> Self {
        match s {
            TicketState::Available => Self::Available,
            TicketState::Held(o) => Self::Held(o.into()),
            TicketState::Sold(o) => Self::Sold(o.into()),
        }
    }
}

impl From<TicketStateRecord> for TicketState {
    fn from(s: TicketStateRecord) -> Self {
        match s {
            TicketStateRecord::Available => Self::Available,
            TicketStateRecord::Held(o) => Self::Held(o.into()),
            TicketStateRecord::Sold(o) => Self::Sold(o.into()),
        }
    }
}

/// A ticket (schema 1).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TicketRecord {
    id: Uuid,
    title: String,
    price: u64,
    user_id: Uuid,
    version: u64,
    state: TicketStateRecord,
    created_at: u64,
}

impl Recorded for Ticket {
    type Record = TicketRecord;

    fn to_record(&self) -> TicketRecord {
        TicketRecord {
            id: self.id.into(),
            title: self.title.as_str().to_owned(),
            price: self.price.cents(),
            user_id: self.user_id.into(),
            version: self.version,
            state: self.state.into(),
            created_at: self.created_at.as_millis(),
        }
    }

    fn from_record(r: TicketRecord) -> Result<Self, RecordError> {
        Ok(Ticket {
            id: r.id.into(),
            title: title(r.title)?,
            price: price(r.price)?,
            user_id: r.user_id.into(),
            version: r.version,
            state: r.state.into(),
            created_at: Timestamp::from_millis(r.created_at),
        })
    }
}

/// An order's status (schema 1; the variant order is the layout).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) enum OrderStatusRecord {
    Created,
    Cancelled,
    Complete,
}

/// The ticket as an order saw it (schema 1).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TicketSnapshotRecord {
    id: Uuid,
    title: String,
    price: u64,
    version: u64,
}

/// An order (schema 1).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct OrderRecord {
    id: Uuid,
    user_id: Uuid,
    status: OrderStatusRecord,
    expires_at: u64,
    created_at: u64,
    version: u64,
    ticket: TicketSnapshotRecord,
    charge_id: Option<Uuid>,
}

impl Recorded for Order {
    type Record = OrderRecord;

    fn to_record(&self) -> OrderRecord {
        OrderRecord {
            id: self.id.into(),
            user_id: self.user_id.into(),
            status: match self.status {
                OrderStatus::Created => OrderStatusRecord::Created,
                OrderStatus::Cancelled => OrderStatusRecord::Cancelled,
                OrderStatus::Complete => OrderStatusRecord::Complete,
            },
            expires_at: self.expires_at.as_millis(),
            created_at: self.created_at.as_millis(),
            version: self.version,
            ticket: TicketSnapshotRecord {
                id: self.ticket.id.into(),
                title: self.ticket.title.clone(),
                price: self.ticket.price.cents(),
                version: self.ticket.version,
            },
            charge_id: self.charge_id.map(Into::into),
        }
    }

    fn from_record(r: OrderRecord) -> Result<Self, RecordError> {
        Ok(Order {
            id: r.id.into(),
            user_id: r.user_id.into(),
            status: match r.status {
                OrderStatusRecord::Created => OrderStatus::Created,
                OrderStatusRecord::Cancelled => OrderStatus::Cancelled,
                OrderStatusRecord::Complete => OrderStatus::Complete,
            },
            expires_at: Timestamp::from_millis(r.expires_at),
            created_at: Timestamp::from_millis(r.created_at),
            version: r.version,
            ticket: TicketSnapshot {
                id: r.ticket.id.into(),
                title: r.ticket.title,
                price: price(r.ticket.price)?,
                version: r.ticket.version,
            },
            charge_id: r.charge_id.map(Into::into),
        })
    }
}

/// A successful payment (schema 1).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ChargeRecord {
    id: Uuid,
    order_id: Uuid,
    user_id: Uuid,
    amount: u64,
    provider_id: String,
    created_at: u64,
}

impl Recorded for Charge {
    type Record = ChargeRecord;

    fn to_record(&self) -> ChargeRecord {
        ChargeRecord {
            id: self.id.into(),
            order_id: self.order_id.into(),
            user_id: self.user_id.into(),
            amount: self.amount.cents(),
            provider_id: self.provider_id.clone(),
            created_at: self.created_at.as_millis(),
        }
    }

    fn from_record(r: ChargeRecord) -> Result<Self, RecordError> {
        Ok(Charge {
            id: r.id.into(),
            order_id: r.order_id.into(),
            user_id: r.user_id.into(),
            amount: amount(r.amount)?,
            provider_id: r.provider_id,
            created_at: Timestamp::from_millis(r.created_at),
        })
    }
}

/// A ticket's full state in an event (schema 1). Also the JSON of the
/// event log's `data`, hence the camelCase names.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TicketEventRecord {
    id: Uuid,
    title: String,
    price: u64,
    user_id: Uuid,
    state: TicketStateRecord,
    version: u64,
}

impl From<&TicketEvent> for TicketEventRecord {
    fn from(t: &TicketEvent) -> Self {
        Self {
            id: t.id.into(),
            title: t.title.clone(),
            price: t.price.cents(),
            user_id: t.user_id.into(),
            state: t.state.into(),
            version: t.version,
        }
    }
}

impl TryFrom<TicketEventRecord> for TicketEvent {
    type Error = RecordError;

    fn try_from(r: TicketEventRecord) -> Result<Self, RecordError> {
        Ok(TicketEvent {
            id: r.id.into(),
            title: r.title,
            price: price(r.price)?,
            user_id: r.user_id.into(),
            state: r.state.into(),
            version: r.version,
        })
    }
}

/// The catalog as a clean stop left it: a start whose store's event log is
/// still where it was then loads this instead of reading every ticket.
pub(crate) struct CatalogImage {
    /// The event log it was taken at: its id and last sequence number.
    pub(crate) log_id: u64,
    pub(crate) last_seq: u64,
    /// The tickets for sale, as pages show them.
    pub(crate) for_sale: Vec<TicketEvent>,
    /// Every other ticket known, by its version alone.
    pub(crate) others: Vec<(TicketId, u64)>,
}

/// [`CatalogImage`] (schema 1).
#[derive(Serialize, Deserialize)]
pub(crate) struct CatalogImageRecord {
    log_id: u64,
    last_seq: u64,
    for_sale: Vec<TicketEventRecord>,
    others: Vec<(Uuid, u64)>,
}

impl Recorded for CatalogImage {
    type Record = CatalogImageRecord;

    fn to_record(&self) -> CatalogImageRecord {
        CatalogImageRecord {
            log_id: self.log_id,
            last_seq: self.last_seq,
            for_sale: self.for_sale.iter().map(TicketEventRecord::from).collect(),
            others: self
                .others
                .iter()
                .map(|(id, v)| ((*id).into(), *v))
                .collect(),
        }
    }

    fn from_record(r: CatalogImageRecord) -> Result<Self, RecordError> {
        Ok(Self {
            log_id: r.log_id,
            last_seq: r.last_seq,
            for_sale: r
                .for_sale
                .into_iter()
                .map(TicketEvent::try_from)
                .collect::<Result<_, _>>()?,
            others: r.others.into_iter().map(|(id, v)| (id.into(), v)).collect(),
        })
    }
}

/// What happened (schema 1; the variant order is the layout, so new kinds
/// are appended and a changed kind gets a new variant, the old one kept
/// for the logs that hold it).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub(crate) enum EventKindRecord {
    UserCreated {
        id: Uuid,
        email: String,
        version: u64,
    },
    /// A password change as the first release wrote it.
    UserUpdatedV1 {
        id: Uuid,
        version: u64,
    },
    TicketCreated(TicketEventRecord),
    TicketUpdated(TicketEventRecord),
    OrderCreated {
        id: Uuid,
        user_id: Uuid,
        ticket_id: Uuid,
        expires_at: u64,
        version: u64,
    },
    OrderCancelled {
        id: Uuid,
        ticket_id: Uuid,
        version: u64,
    },
    OrderExpired {
        id: Uuid,
        ticket_id: Uuid,
        version: u64,
    },
    ChargeCreated {
        id: Uuid,
        order_id: Uuid,
        amount: u64,
        version: u64,
    },
    /// Since accounts have a status and a session epoch.
    UserUpdated {
        id: Uuid,
        version: u64,
        banned: bool,
        sessions_from: u64,
    },
    SessionEnded {
        user_id: Uuid,
        session: Uuid,
        until: u64,
    },
    CouponCreated {
        code: String,
        discount: DiscountRecord,
        max_redemptions: u32,
        expires_at: Option<u64>,
        version: u64,
    },
    CouponRedeemed {
        code: String,
        order_id: Uuid,
        redemptions: u32,
        version: u64,
    },
    CouponReturned {
        code: String,
        order_id: Uuid,
        redemptions: u32,
        version: u64,
    },
}

/// An event in a node's log (schema 1).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct EventRecord {
    seq: u64,
    at: u64,
    pub(crate) kind: EventKindRecord,
}

impl Recorded for Event {
    type Record = EventRecord;

    fn to_record(&self) -> EventRecord {
        use EventKindRecord as R;
        let kind = match &self.kind {
            EventKind::UserCreated { id, email, version } => R::UserCreated {
                id: (*id).into(),
                email: email.as_str().to_owned(),
                version: *version,
            },
            EventKind::UserUpdated {
                id,
                version,
                status,
                sessions_from,
            } => R::UserUpdated {
                id: (*id).into(),
                version: *version,
                banned: *status == AccountStatus::Banned,
                sessions_from: *sessions_from,
            },
            EventKind::SessionEnded {
                user_id,
                session,
                until,
            } => R::SessionEnded {
                user_id: (*user_id).into(),
                session: (*session).into(),
                until: until.as_millis(),
            },
            EventKind::TicketCreated(t) => R::TicketCreated(t.into()),
            EventKind::TicketUpdated(t) => R::TicketUpdated(t.into()),
            EventKind::OrderCreated {
                id,
                user_id,
                ticket_id,
                expires_at,
                version,
            } => R::OrderCreated {
                id: (*id).into(),
                user_id: (*user_id).into(),
                ticket_id: (*ticket_id).into(),
                expires_at: expires_at.as_millis(),
                version: *version,
            },
            EventKind::OrderCancelled {
                id,
                ticket_id,
                version,
            } => R::OrderCancelled {
                id: (*id).into(),
                ticket_id: (*ticket_id).into(),
                version: *version,
            },
            EventKind::OrderExpired {
                id,
                ticket_id,
                version,
            } => R::OrderExpired {
                id: (*id).into(),
                ticket_id: (*ticket_id).into(),
                version: *version,
            },
            EventKind::ChargeCreated {
                id,
                order_id,
                amount,
                version,
            } => R::ChargeCreated {
                id: (*id).into(),
                order_id: (*order_id).into(),
                amount: amount.cents(),
                version: *version,
            },
            EventKind::CouponCreated {
                code,
                discount,
                max_redemptions,
                expires_at,
                version,
            } => R::CouponCreated {
                code: code.to_string(),
                discount: discount.to_record(),
                max_redemptions: *max_redemptions,
                expires_at: expires_at.map(Timestamp::as_millis),
                version: *version,
            },
            EventKind::CouponRedeemed {
                code,
                order_id,
                redemptions,
                version,
            } => R::CouponRedeemed {
                code: code.to_string(),
                order_id: (*order_id).into(),
                redemptions: *redemptions,
                version: *version,
            },
            EventKind::CouponReturned {
                code,
                order_id,
                redemptions,
                version,
            } => R::CouponReturned {
                code: code.to_string(),
                order_id: (*order_id).into(),
                redemptions: *redemptions,
                version: *version,
            },
        };
        EventRecord {
            seq: self.seq,
            at: self.at.as_millis(),
            kind,
        }
    }

    fn from_record(r: EventRecord) -> Result<Self, RecordError> {
        use EventKindRecord as R;
        let kind = match r.kind {
            R::UserCreated {
                id,
                email: e,
                version,
            } => EventKind::UserCreated {
                id: id.into(),
                email: email(&e)?,
                version,
            },
            // The first release changed only passwords, and had no epochs.
            R::UserUpdatedV1 { id, version } => EventKind::UserUpdated {
                id: id.into(),
                version,
                status: AccountStatus::Active,
                sessions_from: 0,
            },
            R::UserUpdated {
                id,
                version,
                banned,
                sessions_from,
            } => EventKind::UserUpdated {
                id: id.into(),
                version,
                status: status(banned),
                sessions_from,
            },
            R::SessionEnded {
                user_id,
                session,
                until,
            } => EventKind::SessionEnded {
                user_id: user_id.into(),
                session: session.into(),
                until: Timestamp::from_millis(until),
            },
            R::TicketCreated(t) => EventKind::TicketCreated(t.try_into()?),
            R::TicketUpdated(t) => EventKind::TicketUpdated(t.try_into()?),
            R::OrderCreated {
                id,
                user_id,
                ticket_id,
                expires_at,
                version,
            } => EventKind::OrderCreated {
                id: id.into(),
                user_id: user_id.into(),
                ticket_id: ticket_id.into(),
                expires_at: Timestamp::from_millis(expires_at),
                version,
            },
            R::OrderCancelled {
                id,
                ticket_id,
                version,
            } => EventKind::OrderCancelled {
                id: id.into(),
                ticket_id: ticket_id.into(),
                version,
            },
            R::OrderExpired {
                id,
                ticket_id,
                version,
            } => EventKind::OrderExpired {
                id: id.into(),
                ticket_id: ticket_id.into(),
                version,
            },
            R::ChargeCreated {
                id,
                order_id,
                amount,
                version,
            } => EventKind::ChargeCreated {
                id: id.into(),
                order_id: order_id.into(),
                amount: self::amount(amount)?,
                version,
            },
            R::CouponCreated {
                code: c,
                discount,
                max_redemptions,
                expires_at,
                version,
            } => EventKind::CouponCreated {
                code: code(&c)?,
                discount: Discount::from_record(discount)?,
                max_redemptions,
                expires_at: expires_at.map(Timestamp::from_millis),
                version,
            },
            R::CouponRedeemed {
                code: c,
                order_id,
                redemptions,
                version,
            } => EventKind::CouponRedeemed {
                code: code(&c)?,
                order_id: order_id.into(),
                redemptions,
                version,
            },
            R::CouponReturned {
                code: c,
                order_id,
                redemptions,
                version,
            } => EventKind::CouponReturned {
                code: code(&c)?,
                order_id: order_id.into(),
                redemptions,
                version,
            },
        };
        Ok(Event {
            seq: r.seq,
            at: Timestamp::from_millis(r.at),
            kind,
        })
    }
}

/// What a coupon takes off: exactly one of the two (schema 1). Also the
/// JSON of the event log's `discount`, hence the camelCase names.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DiscountRecord {
    percent_off: Option<u8>,
    /// In cents.
    amount_off: Option<u64>,
}

impl Recorded for Discount {
    type Record = DiscountRecord;

    fn to_record(&self) -> DiscountRecord {
        match self {
            Discount::Percent(p) => DiscountRecord {
                percent_off: Some(*p),
                amount_off: None,
            },
            Discount::Amount(a) => DiscountRecord {
                percent_off: None,
                amount_off: Some(a.cents()),
            },
        }
    }

    fn from_record(r: DiscountRecord) -> Result<Self, RecordError> {
        match (r.percent_off, r.amount_off) {
            (Some(p), None) => Discount::percent(u64::from(p)).map_err(|e| invalid("discount", e)),
            (None, Some(cents)) => Ok(Discount::Amount(price(cents)?)),
            _ => Err(invalid("discount", "not exactly one of percent and amount")),
        }
    }
}

/// A coupon (schema 1). The orders holding a use are keys of their own.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CouponRecord {
    code: String,
    discount: DiscountRecord,
    max_redemptions: u32,
    redemptions: u32,
    expires_at: Option<u64>,
    created_at: u64,
    version: u64,
}

impl Recorded for Coupon {
    type Record = CouponRecord;

    fn to_record(&self) -> CouponRecord {
        CouponRecord {
            code: self.code.to_string(),
            discount: self.discount.to_record(),
            max_redemptions: self.max_redemptions,
            redemptions: self.redemptions,
            expires_at: self.expires_at.map(Timestamp::as_millis),
            created_at: self.created_at.as_millis(),
            version: self.version,
        }
    }

    fn from_record(r: CouponRecord) -> Result<Self, RecordError> {
        Ok(Coupon {
            code: code(&r.code)?,
            discount: Discount::from_record(r.discount)?,
            max_redemptions: r.max_redemptions,
            redemptions: r.redemptions,
            expires_at: r.expires_at.map(Timestamp::from_millis),
            created_at: Timestamp::from_millis(r.created_at),
            version: r.version,
        })
    }
}

/// Consecutive events of one batch, stored as one entry of a node's log
/// under the last one's number (schema 2): an entry per event made most of
/// what sled writes and reads back after a crash. An entry of schema 1 is
/// a single event, as every log written before runs holds. A new layout of
/// [`EventRecord`] needs a new schema here too, with schema 1 and 2 still
/// read in the layout they were written in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EventRun(pub(crate) Vec<Event>);

impl Recorded for EventRun {
    const SCHEMA: u8 = 2;
    type Record = Vec<EventRecord>;

    fn to_record(&self) -> Self::Record {
        self.0.to_record()
    }

    fn from_record(record: Self::Record) -> Result<Self, RecordError> {
        Vec::from_record(record).map(Self)
    }

    fn upgrade(schema: u8, body: &[u8]) -> Result<Self, RecordError> {
        match schema {
            FIRST_SCHEMA => Ok(Self(vec![Event::from_record(postcard_body(body)?)?])),
            _ => Err(RecordError(format!("unknown record schema {schema}"))),
        }
    }
}

impl<T: Recorded> Recorded for Option<T> {
    type Record = Option<T::Record>;

    fn to_record(&self) -> Self::Record {
        self.as_ref().map(T::to_record)
    }

    fn from_record(record: Self::Record) -> Result<Self, RecordError> {
        record.map(T::from_record).transpose()
    }
}

impl<T: Recorded> Recorded for Vec<T> {
    type Record = Vec<T::Record>;

    fn to_record(&self) -> Self::Record {
        self.iter().map(T::to_record).collect()
    }

    fn from_record(record: Self::Record) -> Result<Self, RecordError> {
        record.into_iter().map(T::from_record).collect()
    }
}

impl Recorded for () {
    type Record = ();

    fn to_record(&self) {}

    fn from_record((): ()) -> Result<Self, RecordError> {
        Ok(())
    }
}

/// Ids are stored as UUIDs, whatever they are called in the domain.
macro_rules! uuid_ids {
    ($($id:ty),*) => {$(
        impl From<$id> for Uuid {
            fn from(id: $id) -> Uuid {
                Uuid::from_bytes(*id.as_bytes())
            }
        }

        impl From<Uuid> for $id {
            fn from(u: Uuid) -> $id {
                <$id>::from_bytes(u.into_bytes())
            }
        }

        impl Recorded for $id {
            type Record = Uuid;

            fn to_record(&self) -> Uuid {
                (*self).into()
            }

            fn from_record(u: Uuid) -> Result<Self, RecordError> {
                Ok(u.into())
            }
        }
    )*};
}

uuid_ids!(UserId, TicketId, OrderId, ChargeId, SessionId);

#[cfg(test)]
mod tests {
    use super::*;

    /// Records as the release before this module wrote them (its domain
    /// types were encoded directly), captured from that code.
    const USER: &str = "0110010101010101010101010101010101010f6f6c64406578616d706c652e636f6d2c246172676f6e32696424763d3139246d3d31393435362c743d322c703d3124633246736441246147467a61410280bcf4d7a733";
    const TICKET: &str = "011002020202020202020202020202020202084f6c642073686f77cf0f10010101010101010101010101010101010302100303030303030303030303030303030380bcf4d7a733";
    const ORDER: &str = "011003030303030303030303030303030303100101010101010101010101010101010102a0b3abd8a73380bcf4d7a733011002020202020202020202020202020202084f6c642073686f77cf0f01011004040404040404040404040404040404";
    const CHARGE: &str = "01100404040404040404040404040404040410030303030303030303030303030303031001010101010101010101010101010101cf0f0763685f7465737480bcf4d7a733";
    const EVENTS: [&str; 8] = [
        "010780bcf4d7a7330010010101010101010101010101010101010f6f6c64406578616d706c652e636f6d00",
        "010880bcf4d7a73301100101010101010101010101010101010102",
        "010980bcf4d7a733021002020202020202020202020202020202084f6c642073686f77cf0f100101010101010101010101010101010102100303030303030303030303030303030303",
        "010a80bcf4d7a733031002020202020202020202020202020202084f6c642073686f77cf0f100101010101010101010101010101010102100303030303030303030303030303030303",
        "010b80bcf4d7a73304100303030303030303030303030303030310010101010101010101010101010101011002020202020202020202020202020202a0b3abd8a73300",
        "010c80bcf4d7a733051003030303030303030303030303030303100202020202020202020202020202020201",
        "010d80bcf4d7a733061003030303030303030303030303030303100202020202020202020202020202020201",
        "010e80bcf4d7a7330710040404040404040404040404040404041003030303030303030303030303030303cf0f01",
    ];

    fn read<T: Recorded>(hex_bytes: &str) -> T {
        decode(&hex::decode(hex_bytes).unwrap()).unwrap()
    }

    /// Decodes, and encodes back to the very same bytes.
    fn same<T: Recorded>(hex_bytes: &str) -> T {
        let value: T = read(hex_bytes);
        assert_eq!(hex::encode(encode(&value)), hex_bytes, "layout unchanged");
        value
    }

    const AT: u64 = 1_763_000_000_000;

    #[test]
    fn records_written_by_the_previous_release_still_read() {
        let uid = UserId::from_bytes([1; 16]);
        let tid = TicketId::from_bytes([2; 16]);
        let oid = OrderId::from_bytes([3; 16]);
        let cid = ChargeId::from_bytes([4; 16]);

        // Accounts moved to schema 2: a schema-1 account reads as active,
        // at session epoch 0, and is written back as schema 2.
        let user: User = read(USER);
        assert_eq!(
            (user.status, user.sessions_from),
            (AccountStatus::Active, 0)
        );
        let again = encode(&user);
        assert_eq!(again[0], 2);
        assert_eq!(decode::<User>(&again).unwrap(), user);
        assert_eq!((user.id, user.email.as_str()), (uid, "old@example.com"));
        assert_eq!((user.version, user.created_at.as_millis()), (2, AT));
        assert!(user.password_hash.starts_with("$argon2id$"));

        let ticket: Ticket = same(TICKET);
        assert_eq!(ticket.title.as_str(), "Old show");
        assert_eq!(ticket.price.cents(), 1999);
        assert_eq!(ticket.state, TicketState::Sold(oid));
        assert_eq!((ticket.id, ticket.user_id, ticket.version), (tid, uid, 3));

        let order: Order = same(ORDER);
        assert_eq!(order.status, OrderStatus::Complete);
        assert_eq!(order.charge_id, Some(cid));
        assert_eq!((order.ticket.id, order.ticket.price.cents()), (tid, 1999));
        assert_eq!(order.expires_at.as_millis(), 1_763_000_900_000);

        let charge: Charge = same(CHARGE);
        assert_eq!(
            (charge.order_id, charge.provider_id.as_str()),
            (oid, "ch_test")
        );

        // The first release's UserUpdated reads as an active account's
        // change at epoch 0, and is written back as the newer variant.
        let names: Vec<&str> = EVENTS
            .iter()
            .enumerate()
            .map(|(i, hex)| match i {
                1 => read::<Event>(hex).kind.name(),
                _ => same::<Event>(hex).kind.name(),
            })
            .collect();
        assert_eq!(
            read::<Event>(EVENTS[1]).kind,
            EventKind::UserUpdated {
                id: uid,
                version: 2,
                status: AccountStatus::Active,
                sessions_from: 0
            }
        );
        assert_eq!(
            names,
            [
                "UserCreated",
                "UserUpdated",
                "TicketCreated",
                "TicketUpdated",
                "OrderCreated",
                "OrderCancelled",
                "OrderExpired",
                "ChargeCreated"
            ]
        );
        let event: Event = read(EVENTS[4]);
        assert_eq!((event.seq, event.at.as_millis()), (11, AT));
    }

    #[test]
    fn a_log_entry_of_one_event_reads_as_a_run_of_one_and_runs_round_trip() {
        let single: Event = read(EVENTS[1]);
        let run: EventRun = read(EVENTS[1]);
        assert_eq!(run.0, vec![single.clone()]);
        let events: Vec<Event> = EVENTS.iter().map(|hex| read::<Event>(hex)).collect();
        let run = EventRun(events);
        let bytes = encode(&run);
        assert_eq!(bytes[0], 2, "runs are schema 2");
        assert_eq!(decode::<EventRun>(&bytes).unwrap(), run);
        assert!(
            decode::<Event>(&bytes).is_err(),
            "a run is not misread as one event"
        );
    }

    #[test]
    fn coupons_and_their_events_round_trip() {
        let code = CouponCode::parse("save-10").unwrap();
        let coupon = Coupon {
            code,
            discount: Discount::Amount(Price::from_cents(250).unwrap()),
            max_redemptions: 3,
            redemptions: 1,
            expires_at: Some(Timestamp::from_millis(AT)),
            created_at: Timestamp::from_millis(AT),
            version: 1,
        };
        assert_eq!(decode::<Coupon>(&encode(&coupon)).unwrap(), coupon);
        let order_id = OrderId::from_bytes([3; 16]);
        for (seq, kind) in [
            EventKind::CouponCreated {
                code,
                discount: Discount::Percent(10),
                max_redemptions: 5,
                expires_at: None,
                version: 0,
            },
            EventKind::CouponRedeemed {
                code,
                order_id,
                redemptions: 1,
                version: 1,
            },
            EventKind::CouponReturned {
                code,
                order_id,
                redemptions: 0,
                version: 2,
            },
            EventKind::ChargeCreated {
                id: ChargeId::from_bytes([4; 16]),
                order_id,
                amount: Amount::ZERO,
                version: 1,
            },
        ]
        .into_iter()
        .enumerate()
        {
            let event = Event {
                seq: seq as u64 + 20,
                at: Timestamp::from_millis(AT),
                kind,
            };
            assert_eq!(decode::<Event>(&encode(&event)).unwrap(), event);
        }
        // A discount is exactly one of the two, even on disk.
        let mut record = coupon.to_record();
        record.discount.percent_off = Some(5);
        assert!(Coupon::from_record(record).is_err());
    }

    #[test]
    fn unknown_schemas_and_invalid_values_are_refused() {
        let mut future = hex::decode(TICKET).unwrap();
        future[0] = 2;
        let err = decode::<Ticket>(&future).unwrap_err();
        assert!(err.to_string().contains("schema 2"), "{err}");
        assert!(decode::<Ticket>(&[]).is_err());
        // A zero price is not a price, even on disk.
        let mut record = read::<Ticket>(TICKET).to_record();
        record.price = 0;
        assert!(Ticket::from_record(record).is_err());
    }
}
