use serde::{Deserialize, Serialize};

use super::{Invalid, OrderId, Price, RuleError, TicketId, Timestamp, UserId};

/// A ticket title: something a person can read, at most 200 characters.
/// Whitespace and invisible format characters (zero-width spaces, joiners,
/// byte-order marks, direction marks) are trimmed from both ends; what is
/// left must not be empty and must not hold control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Title(String);

impl Title {
    /// The longest title, in characters (not bytes).
    pub const MAX: usize = 200;

    /// Trims, then checks the rules above.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let t = raw.trim_matches(|c: char| c.is_whitespace() || is_format(c));
        if t.chars().any(char::is_control) {
            return Err(Invalid::new("Title must not contain control characters"));
        }
        Self::checked(t)
    }

    /// A title as stored by an earlier release, whose only rules were
    /// "trimmed, not empty, not too long": it stays readable.
    pub(crate) fn parse_stored(raw: &str) -> Result<Self, Invalid> {
        Self::checked(raw.trim())
    }

    fn checked(t: &str) -> Result<Self, Invalid> {
        if t.is_empty() {
            return Err(Invalid::new("Title is required"));
        }
        if t.chars().count() > Self::MAX {
            return Err(Invalid::new(format!(
                "Title must be at most {} characters",
                Self::MAX
            )));
        }
        Ok(Self(t.to_owned()))
    }

    /// The title, already trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Unicode format characters (category Cf) that show nothing on their own.
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

impl TryFrom<String> for Title {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<Title> for String {
    fn from(t: Title) -> String {
        t.0
    }
}

/// Where a ticket is in its life. Only `Available` may be edited or held;
/// `Sold` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketState {
    /// For sale: open to edits and to the next BUY.
    Available,
    /// Held for this order until it is paid, cancelled or expires.
    Held(OrderId),
    /// Bought by this order.
    Sold(OrderId),
}

/// A ticket offered for sale by its seller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// Its shard picks the ticket's home node.
    pub id: TicketId,
    /// What buyers see.
    pub title: Title,
    /// The asking price, in cents; an order charges the price it saw.
    pub price: Price,
    /// The seller, who alone may edit it.
    pub user_id: UserId,
    /// Starts at 0 and grows by one on every change.
    pub version: u64,
    /// Whether it can be edited or bought now.
    pub state: TicketState,
    /// When the seller listed it.
    pub created_at: Timestamp,
}

impl Ticket {
    /// A fresh listing by `user_id`, available, at version 0.
    pub fn new(title: Title, price: Price, user_id: UserId) -> Self {
        Self {
            id: TicketId::new(),
            title,
            price,
            user_id,
            version: 0,
            state: TicketState::Available,
            created_at: Timestamp::now(),
        }
    }

    /// The order holding or having bought this ticket.
    pub fn order_id(&self) -> Option<OrderId> {
        match self.state {
            TicketState::Available => None,
            TicketState::Held(id) | TicketState::Sold(id) => Some(id),
        }
    }

    /// Neither held nor sold.
    pub fn is_available(&self) -> bool {
        self.state == TicketState::Available
    }

    /// Unchanged since it was listed (version 0): never held, so no BUY of
    /// it has been answered, nor remembered under an idempotency key.
    pub fn is_untouched(&self) -> bool {
        self.version == 0
    }

    /// A new title and price, by the seller, while the ticket is available.
    pub fn edit(&mut self, by: UserId, title: Title, price: Price) -> Result<(), RuleError> {
        if by != self.user_id {
            return Err(RuleError::NotOwner);
        }
        if !self.is_available() {
            return Err(RuleError::TicketReserved);
        }
        self.title = title;
        self.price = price;
        self.version += 1;
        Ok(())
    }

    /// Reserves the ticket for `order`: the one decision a BUY rush competes for.
    pub fn hold(&mut self, order: OrderId) -> Result<(), RuleError> {
        self.hold_at(order, None)
    }

    /// Holds the ticket for `order` if it is still at the price the buyer
    /// saw (when they say which): nobody buys at a price they were not shown.
    pub fn hold_at(&mut self, order: OrderId, seen: Option<Price>) -> Result<(), RuleError> {
        self.check_hold(seen)?;
        self.state = TicketState::Held(order);
        self.version += 1;
        Ok(())
    }

    /// Why a hold at `seen` would be refused now, if it would: lets a
    /// refusal (most BUYs of a hot ticket) be answered before an order is
    /// made up for it.
    pub fn check_hold(&self, seen: Option<Price>) -> Result<(), RuleError> {
        match self.state {
            TicketState::Available if seen.is_some_and(|p| p != self.price) => {
                Err(RuleError::PriceChanged(self.price))
            }
            TicketState::Available => Ok(()),
            TicketState::Held(_) => Err(RuleError::AlreadyReserved),
            TicketState::Sold(_) => Err(RuleError::TicketSold),
        }
    }

    /// Frees the ticket if `order` is the one holding it. Returns whether
    /// anything changed, so a late or repeated release is harmless.
    pub fn release(&mut self, order: OrderId) -> bool {
        if self.state == TicketState::Held(order) {
            self.state = TicketState::Available;
            self.version += 1;
            true
        } else {
            false
        }
    }

    /// Marks the ticket sold to `order`, which must be holding it.
    pub fn sell(&mut self, order: OrderId) -> Result<(), RuleError> {
        match self.state {
            TicketState::Held(id) if id == order => {
                self.state = TicketState::Sold(order);
                self.version += 1;
                Ok(())
            }
            TicketState::Sold(_) => Err(RuleError::TicketSold),
            _ => Err(RuleError::OrderCancelled),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> Ticket {
        Ticket::new(
            Title::parse("Concert").unwrap(),
            Price::from_cents(2000).unwrap(),
            UserId::new(),
        )
    }

    #[test]
    fn title_rules() {
        assert!(Title::parse("   ").is_err());
        assert_eq!(Title::parse("  Gig ").unwrap().as_str(), "Gig");
        assert!(Title::parse(&"t".repeat(200)).is_ok());
        assert!(Title::parse(&"t".repeat(201)).is_err());
    }

    #[test]
    fn invisible_and_control_characters() {
        for nothing in [
            "\u{200B}",
            "\u{FEFF} \u{200D}\u{200C}",
            "\u{2060}\t\u{00AD}",
        ] {
            assert_eq!(
                Title::parse(nothing).unwrap_err().0,
                "Title is required",
                "{nothing:?}"
            );
        }
        for control in ["\0", "\u{0007}", "Gig\u{0000}night", "a\nb", "\u{009B}x"] {
            assert_eq!(
                Title::parse(control).unwrap_err().0,
                "Title must not contain control characters",
                "{control:?}"
            );
        }
        assert_eq!(Title::parse("\u{200B}Gig\u{FEFF}").unwrap().as_str(), "Gig");
        // Joiners inside a title are part of it (emoji sequences use them).
        let family = "Family \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        assert_eq!(Title::parse(family).unwrap().as_str(), family);
        // What an earlier release stored stays readable.
        assert!(Title::parse_stored("old\ttitle").is_ok());
    }

    #[test]
    fn only_one_hold_at_a_time() {
        let mut t = ticket();
        let first = OrderId::for_ticket(t.id);
        t.hold(first).unwrap();
        assert_eq!(
            t.hold(OrderId::for_ticket(t.id)),
            Err(RuleError::AlreadyReserved)
        );
        assert_eq!(t.order_id(), Some(first));
        assert_eq!(t.version, 1);
    }

    #[test]
    fn a_hold_is_checked_without_changing_anything() {
        let mut t = ticket();
        let price = t.price;
        let other = Price::from_cents(price.cents() + 1).unwrap();
        assert_eq!(t.check_hold(None), Ok(()));
        assert_eq!(t.check_hold(Some(price)), Ok(()));
        assert_eq!(
            t.check_hold(Some(other)),
            Err(RuleError::PriceChanged(price))
        );
        assert_eq!(t.version, 0, "checking holds nothing");
        let order = OrderId::for_ticket(t.id);
        t.hold(order).unwrap();
        // A held ticket is refused as held, whatever price the buyer saw.
        assert_eq!(t.check_hold(Some(other)), Err(RuleError::AlreadyReserved));
        t.sell(order).unwrap();
        assert_eq!(t.check_hold(None), Err(RuleError::TicketSold));
    }

    #[test]
    fn release_only_by_the_holder() {
        let mut t = ticket();
        let order = OrderId::for_ticket(t.id);
        t.hold(order).unwrap();
        assert!(!t.release(OrderId::for_ticket(t.id)));
        assert!(t.release(order));
        assert!(!t.release(order), "second release changes nothing");
        assert!(t.is_available());
        assert_eq!(t.version, 2);
    }

    #[test]
    fn sold_is_final() {
        let mut t = ticket();
        let order = OrderId::for_ticket(t.id);
        t.hold(order).unwrap();
        t.sell(order).unwrap();
        assert!(!t.release(order));
        assert_eq!(
            t.hold(OrderId::for_ticket(t.id)),
            Err(RuleError::TicketSold)
        );
        let owner = t.user_id;
        assert_eq!(
            t.edit(
                owner,
                Title::parse("x").unwrap(),
                Price::from_cents(1).unwrap()
            ),
            Err(RuleError::TicketReserved)
        );
    }

    #[test]
    fn edits_need_the_owner_and_a_free_ticket() {
        let mut t = ticket();
        let title = Title::parse("New").unwrap();
        let price = Price::from_cents(5).unwrap();
        assert_eq!(
            t.edit(UserId::new(), title.clone(), price),
            Err(RuleError::NotOwner)
        );
        t.edit(t.user_id, title.clone(), price).unwrap();
        assert_eq!(t.version, 1);
        t.hold(OrderId::for_ticket(t.id)).unwrap();
        assert_eq!(
            t.edit(t.user_id, title, price),
            Err(RuleError::TicketReserved)
        );
    }
}
