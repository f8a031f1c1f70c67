//! Which node is an entity's home. Static: a fixed number of virtual
//! shards, and shard → node by rendezvous hashing over the *configured*
//! members, never over who is connected now (that view differs between
//! nodes during a partition and would give a ticket two owners).

use std::fmt;

use crate::domain::{CouponCode, Email, OrderId, TicketId};

/// A configured cluster member: its name and its cluster (ractor) address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Unique in the cluster; requests are forwarded to a node by its name.
    pub name: String,
    /// `host:port` of its cluster listener (empty for a node run alone).
    pub addr: String,
}

impl Member {
    /// Parses `name@host:port`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (name, addr) = raw
            .trim()
            .split_once('@')
            .ok_or_else(|| format!("peer {raw:?} is not name@host:port"))?;
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !valid_name {
            return Err(format!(
                "peer name {name:?} must be letters, digits, '-', '_' or '.'"
            ));
        }
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("peer {raw:?} has no port"))?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(format!("peer {raw:?} is not name@host:port"));
        }
        Ok(Self {
            name: name.to_owned(),
            addr: addr.to_owned(),
        })
    }
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.addr)
    }
}

/// Every entity's home node, the same on every node that was given the
/// same members and shard count.
#[derive(Debug, Clone)]
pub struct Placement {
    shards: u16,
    /// Sorted by name, so every node computes the same answer.
    members: Vec<Member>,
    me: usize,
    /// `owner[shard]` = index into `members`.
    owner: Vec<usize>,
}

impl Placement {
    /// `me` names this node among `members`. Refuses zero shards,
    /// duplicate names, and a `me` that is not a member.
    pub fn new(shards: u16, mut members: Vec<Member>, me: &str) -> Result<Self, String> {
        if shards == 0 {
            return Err("the shard count must be at least 1".into());
        }
        members.sort_by(|a, b| a.name.cmp(&b.name));
        if members.windows(2).any(|w| w[0].name == w[1].name) {
            return Err("peer names must be unique".into());
        }
        let me = members
            .iter()
            .position(|m| m.name == me)
            .ok_or_else(|| format!("this node ({me}) is not in the peer list"))?;
        let owner = (0..shards)
            .map(|shard| {
                (0..members.len())
                    .max_by_key(|&i| fnv1a(&[members[i].name.as_bytes(), &shard.to_be_bytes()]))
                    .unwrap_or(0)
            })
            .collect();
        Ok(Self {
            shards,
            members,
            me,
            owner,
        })
    }

    /// A cluster of one: everything is local.
    pub fn single(name: &str) -> Self {
        Self::new(
            1,
            vec![Member {
                name: name.to_owned(),
                addr: String::new(),
            }],
            name,
        )
        .expect("a one-node placement is valid")
    }

    pub(crate) fn shards(&self) -> u16 {
        self.shards
    }

    pub(crate) fn members(&self) -> &[Member] {
        &self.members
    }

    pub(crate) fn me(&self) -> &Member {
        &self.members[self.me]
    }

    pub(crate) fn peers(&self) -> impl Iterator<Item = &Member> {
        self.members
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i != self.me)
            .map(|(_, m)| m)
    }

    /// More than one member: some entities live on other nodes.
    pub fn is_clustered(&self) -> bool {
        self.members.len() > 1
    }

    pub(crate) fn home_of_shard(&self, shard: u16) -> &Member {
        &self.members[self.owner[usize::from(shard % self.shards)]]
    }

    /// The node that decides every BUY of this ticket.
    pub fn ticket_home(&self, id: TicketId) -> &Member {
        self.home_of_shard(id.shard(self.shards))
    }

    /// Orders share their ticket's shard.
    pub fn order_home(&self, id: OrderId) -> &Member {
        self.home_of_shard(id.shard(self.shards))
    }

    /// Accounts live on the shard of their normalized email.
    pub fn account_home(&self, email: &Email) -> &Member {
        let h = fnv1a(&[email.as_str().as_bytes()]);
        self.home_of_shard((h % u64::from(self.shards)) as u16)
    }

    /// Coupons live on the shard of their normalized (upper-case) code.
    pub fn coupon_home(&self, code: CouponCode) -> &Member {
        let h = fnv1a(&[b"coupon:", code.as_str().as_bytes()]);
        self.home_of_shard((h % u64::from(self.shards)) as u16)
    }

    /// Shards whose home is `name`.
    pub fn shards_of(&self, name: &str) -> Vec<u16> {
        (0..self.shards)
            .filter(|&s| self.home_of_shard(s).name == name)
            .collect()
    }
}

/// FNV-1a plus a finalizer: tiny, and stable across builds and platforms (std's hasher is not
/// promised to be), which placement needs.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // FNV mixes short inputs that differ in one byte poorly; finish with
    // MurmurHash3's avalanche step.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(n: usize) -> Vec<Member> {
        (0..n)
            .map(|i| Member::parse(&format!("boxoffice-{i}@127.0.0.1:{}", 7000 + i)).unwrap())
            .collect()
    }

    #[test]
    fn every_node_computes_the_same_homes_whatever_the_peer_order() {
        let a = Placement::new(64, members(3), "boxoffice-0").unwrap();
        let mut reversed = members(3);
        reversed.reverse();
        let b = Placement::new(64, reversed, "boxoffice-2").unwrap();
        for s in 0..64 {
            assert_eq!(a.home_of_shard(s), b.home_of_shard(s));
        }
    }

    #[test]
    fn shards_spread_over_all_members() {
        let p = Placement::new(256, members(3), "boxoffice-1").unwrap();
        for m in p.members() {
            let n = p.shards_of(&m.name).len();
            assert!((50..=120).contains(&n), "{} owns {n} of 256", m.name);
        }
    }

    #[test]
    fn orders_live_with_their_ticket() {
        let p = Placement::new(64, members(3), "boxoffice-0").unwrap();
        for _ in 0..200 {
            let t = TicketId::new();
            assert_eq!(p.ticket_home(t), p.order_home(OrderId::for_ticket(t)));
        }
    }

    #[test]
    fn peer_lists_are_checked() {
        assert!(Member::parse("a@h:1").is_ok());
        assert!(Member::parse("a@[::1]:7000").is_ok());
        for bad in ["", "a", "a@h", "@h:1", "a@:1", "a@h:x", "a b@h:1"] {
            assert!(Member::parse(bad).is_err(), "{bad}");
        }
        assert!(Placement::new(8, members(2), "stranger").is_err());
        let mut dup = members(2);
        dup.push(dup[0].clone());
        assert!(Placement::new(8, dup, "boxoffice-0").is_err());
        assert!(Placement::new(0, members(2), "boxoffice-0").is_err());
    }

    #[test]
    fn a_single_node_owns_everything() {
        let p = Placement::single("solo");
        assert!(!p.is_clustered());
        assert_eq!(p.ticket_home(TicketId::new()).name, "solo");
        assert_eq!(p.peers().count(), 0);
    }
}
