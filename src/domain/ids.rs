//! Typed identifiers. All are UUIDv7 (time-ordered, so sled keys sort by age).
//!
//! The last two bytes of an id are its *shard key*. An order copies its
//! ticket's shard key, so a ticket and all its orders always share a shard
//! (and a home node) whatever the shard count is.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh id: time-ordered, with a random shard key.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The 16 bytes, as used in sled keys.
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }

            /// The inverse of `as_bytes`; any 16 bytes make an id.
            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(Uuid::from_bytes(bytes))
            }

            /// An id from a stored slice, if it is 16 bytes long.
            pub fn try_from_slice(bytes: &[u8]) -> Option<Self> {
                <[u8; 16]>::try_from(bytes).ok().map(Self::from_bytes)
            }

            /// Which shard this entity lives on, given `shards` virtual shards.
            pub fn shard(&self, shards: u16) -> u16 {
                let b = self.0.as_bytes();
                u16::from_be_bytes([b[14], b[15]]) % shards.max(1)
            }
        }

        /// In byte order (so by age), compared as one number: the derived
        /// order called `memcmp` per comparison, and the catalog's trees
        /// compare ids about fifteen times per ticket they insert or remove.
        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.0.as_u128().cmp(&other.0.as_u128())
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.as_hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.as_hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = super::Invalid;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s.trim())
                    .map(Self)
                    .map_err(|_| super::Invalid::new("Must be a valid id"))
            }
        }
    };
}

define_id!(
    /// A signed-up account.
    UserId
);
define_id!(
    /// A ticket for sale.
    TicketId
);
define_id!(
    /// A hold on a ticket, later paid or cancelled. Shares its ticket's shard.
    OrderId
);
define_id!(
    /// A successful payment for an order.
    ChargeId
);
define_id!(
    /// One sign-in: every token renewed from it carries it, so signing out
    /// ends just that one.
    SessionId
);

impl OrderId {
    /// A fresh order id on the same shard as `ticket`.
    pub fn for_ticket(ticket: TicketId) -> Self {
        let mut bytes = *Uuid::now_v7().as_bytes();
        let t = ticket.as_bytes();
        bytes[14] = t[14];
        bytes[15] = t[15];
        Self(Uuid::from_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_share_their_tickets_shard() {
        for _ in 0..1000 {
            let ticket = TicketId::new();
            let order = OrderId::for_ticket(ticket);
            for shards in [1, 2, 3, 7, 64, 1024] {
                assert_eq!(ticket.shard(shards), order.shard(shards));
            }
        }
    }

    #[test]
    fn ids_round_trip_through_text() {
        let id = TicketId::new();
        assert_eq!(id.to_string().parse::<TicketId>().unwrap(), id);
        assert!("not-an-id".parse::<TicketId>().is_err());
        assert!("".parse::<OrderId>().is_err());
    }

    #[test]
    fn ids_sort_as_their_bytes_do() {
        let mut ids: Vec<TicketId> = (0..2000).map(|_| TicketId::new()).collect();
        ids.extend([[0; 16], [0xff; 16], [1; 16]].map(TicketId::from_bytes));
        ids.extend((0..16).map(|i| {
            let mut b = [0; 16];
            b[i] = 0x80;
            TicketId::from_bytes(b)
        }));
        let mut by_bytes = ids.clone();
        by_bytes.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        ids.sort();
        assert_eq!(ids, by_bytes);
    }

    #[test]
    fn ids_sort_by_creation() {
        let a = OrderId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = OrderId::new();
        assert!(a.as_bytes()[..6] < b.as_bytes()[..6]);
    }
}
