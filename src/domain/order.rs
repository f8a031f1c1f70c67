use std::time::Duration;

use super::{Amount, ChargeId, OrderId, Price, RuleError, Ticket, TicketId, Timestamp, UserId};

/// Allowed transitions: `Created → Cancelled` (by the buyer or at the
/// deadline) and `Created → Complete` (paid). Both ends are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Pending: the ticket is held until the deadline, awaiting payment.
    Created,
    /// Final: the hold was given up or lapsed; the ticket is free.
    Cancelled,
    /// Final: paid; the ticket is sold to this order.
    Complete,
}

impl OrderStatus {
    /// Lower-case, as clients see it in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Cancelled => "cancelled",
            Self::Complete => "complete",
        }
    }
}

/// The ticket as it was when the order was placed (it cannot change while held).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketSnapshot {
    /// The ticket held; its shard is the order's shard too.
    pub id: TicketId,
    /// The title when the order was placed.
    pub title: String,
    /// What the buyer will be charged, in cents.
    pub price: Price,
    /// The ticket's version once held for this order.
    pub version: u64,
}

/// A buyer's hold on one ticket, which ends paid or cancelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Shares its ticket's shard, so both live on one node.
    pub id: OrderId,
    /// The buyer: the only one who may see, pay or cancel it.
    pub user_id: UserId,
    /// Where the order is in its life.
    pub status: OrderStatus,
    /// The hold's deadline: unpaid by then, the order is cancelled.
    pub expires_at: Timestamp,
    /// When the buyer placed it.
    pub created_at: Timestamp,
    /// Starts at 0 and grows by one on every change.
    pub version: u64,
    /// The ticket, as it was when the order was placed.
    pub ticket: TicketSnapshot,
    /// The charge that paid it, once complete.
    pub charge_id: Option<ChargeId>,
}

impl Order {
    /// A new hold on `ticket` (which the caller has just held for it).
    pub fn place(
        id: OrderId,
        user_id: UserId,
        ticket: &Ticket,
        now: Timestamp,
        ttl: Duration,
    ) -> Self {
        Self {
            id,
            user_id,
            status: OrderStatus::Created,
            expires_at: now.plus(ttl),
            created_at: now,
            version: 0,
            ticket: TicketSnapshot {
                id: ticket.id,
                title: ticket.title.as_str().to_owned(),
                price: ticket.price,
                version: ticket.version,
            },
            charge_id: None,
        }
    }

    /// Still holding its ticket, awaiting payment (perhaps past its deadline).
    pub fn is_pending(&self) -> bool {
        self.status == OrderStatus::Created
    }

    /// Pending past its deadline: due to be expired.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.is_pending() && now >= self.expires_at
    }

    /// Only the buyer may act on an order.
    pub fn authorize(&self, user: UserId) -> Result<(), RuleError> {
        if self.user_id == user {
            Ok(())
        } else {
            Err(RuleError::NotOwner)
        }
    }

    /// The buyer gives up the hold.
    pub fn cancel(&mut self, by: UserId) -> Result<(), RuleError> {
        self.authorize(by)?;
        match self.status {
            OrderStatus::Created => {
                self.status = OrderStatus::Cancelled;
                self.version += 1;
                Ok(())
            }
            OrderStatus::Complete => Err(RuleError::OrderCompleted),
            OrderStatus::Cancelled => Err(RuleError::OrderCancelled),
        }
    }

    /// The deadline passed. Returns whether the order was still pending.
    pub fn expire(&mut self, now: Timestamp) -> bool {
        if self.is_overdue(now) {
            self.status = OrderStatus::Cancelled;
            self.version += 1;
            true
        } else {
            false
        }
    }

    /// Whether `by` may pay for this order now.
    pub fn check_payable(&self, by: UserId, now: Timestamp) -> Result<(), RuleError> {
        self.authorize(by)?;
        match self.status {
            OrderStatus::Complete => Err(RuleError::AlreadyPaid),
            OrderStatus::Cancelled => Err(RuleError::OrderCancelled),
            OrderStatus::Created if now >= self.expires_at => Err(RuleError::OrderExpired),
            OrderStatus::Created => Ok(()),
        }
    }

    /// Records the payment. The caller has checked [`Order::check_payable`]
    /// and charged the card.
    pub fn complete(&mut self, charge: ChargeId) {
        self.status = OrderStatus::Complete;
        self.charge_id = Some(charge);
        self.version += 1;
    }
}

/// A successful payment. `provider_id` is the gateway's own charge id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// Ours, as opposed to `provider_id`.
    pub id: ChargeId,
    /// The order it paid for; an order has at most one charge.
    pub order_id: OrderId,
    /// The buyer who paid.
    pub user_id: UserId,
    /// What was charged, in cents: the ticket's price when ordered, less
    /// a coupon's discount; zero when a coupon paid it all.
    pub amount: Amount,
    /// The gateway's id, needed to refund the charge; [`Charge::BY_COUPON`]
    /// when nothing was charged at the provider.
    pub provider_id: String,
    /// When the card was charged.
    pub created_at: Timestamp,
}

impl Charge {
    /// The `provider_id` of a charge of zero: a coupon paid it all and
    /// no provider was asked.
    pub const BY_COUPON: &'static str = "coupon";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Price, Title};

    fn order(ttl_ms: u64) -> (Order, Timestamp) {
        let ticket = Ticket::new(
            Title::parse("Show").unwrap(),
            Price::from_cents(100).unwrap(),
            UserId::new(),
        );
        let now = Timestamp::from_millis(1_000_000);
        let o = Order::place(
            OrderId::for_ticket(ticket.id),
            UserId::new(),
            &ticket,
            now,
            Duration::from_millis(ttl_ms),
        );
        (o, now)
    }

    #[test]
    fn cancel_needs_the_buyer_and_a_pending_order() {
        let (mut o, _) = order(1000);
        assert_eq!(o.cancel(UserId::new()), Err(RuleError::NotOwner));
        o.cancel(o.user_id).unwrap();
        assert_eq!(o.status, OrderStatus::Cancelled);
        assert_eq!(o.version, 1);
        assert_eq!(o.cancel(o.user_id), Err(RuleError::OrderCancelled));
    }

    #[test]
    fn expiry_happens_only_at_the_deadline_and_once() {
        let (mut o, now) = order(1000);
        assert!(!o.expire(now.plus(Duration::from_millis(999))));
        assert!(o.expire(now.plus(Duration::from_millis(1000))));
        assert!(!o.expire(now.plus(Duration::from_millis(5000))));
        assert_eq!(o.status, OrderStatus::Cancelled);
    }

    #[test]
    fn paid_or_expired_never_both() {
        let (mut o, now) = order(1000);
        o.check_payable(o.user_id, now).unwrap();
        o.complete(ChargeId::new());
        assert!(!o.expire(now.plus(Duration::from_secs(60))));
        assert_eq!(o.status, OrderStatus::Complete);
        assert_eq!(o.cancel(o.user_id), Err(RuleError::OrderCompleted));
        assert_eq!(o.check_payable(o.user_id, now), Err(RuleError::AlreadyPaid));

        let (late, now) = order(1000);
        assert_eq!(
            late.check_payable(late.user_id, now.plus(Duration::from_secs(1))),
            Err(RuleError::OrderExpired)
        );
    }
}
