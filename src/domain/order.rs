use std::time::Duration;

use super::{ChargeId, OrderId, Price, RuleError, Ticket, TicketId, Timestamp, UserId};

/// Allowed transitions: `Created → Cancelled` (by the buyer or at the
/// deadline) and `Created → Complete` (paid). Both ends are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    Created,
    Cancelled,
    Complete,
}

impl OrderStatus {
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
    pub id: TicketId,
    pub title: String,
    pub price: Price,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub user_id: UserId,
    pub status: OrderStatus,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    pub version: u64,
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

    pub fn is_pending(&self) -> bool {
        self.status == OrderStatus::Created
    }

    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.is_pending() && now >= self.expires_at
    }

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

    pub fn complete(&mut self, charge: ChargeId) {
        self.status = OrderStatus::Complete;
        self.charge_id = Some(charge);
        self.version += 1;
    }
}

/// A successful payment. `provider_id` is the gateway's own charge id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub id: ChargeId,
    pub order_id: OrderId,
    pub user_id: UserId,
    pub amount: Price,
    pub provider_id: String,
    pub created_at: Timestamp,
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
