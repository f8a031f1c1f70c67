//! Passivation, shared by every entity actor: an actor that has had nothing
//! to do for `idle_after` stops, and is started again from the store on its
//! next message. Only bytes on disk stay behind. One whose entity is
//! unlikely to be asked again soon (a ticket no longer for sale, a decided
//! order, a ticket whose actor only settled an expiry) stops ten times
//! sooner: in a rush of distinct tickets, each won once, or a storm of
//! expiries, that is most of them.

use std::time::{Duration, Instant};

use ractor::{ActorRef, Message};

/// A message type with an idle-check tick.
pub(super) trait Passivating: Message + Sized {
    fn idle_check() -> Self;
    fn is_idle_check(&self) -> bool;
}

/// When the actor last did something.
pub(super) struct Idle {
    after: Duration,
    last_active: Instant,
}

impl Idle {
    /// Starts watching; the first check comes after the short wait.
    pub(super) fn start<M: Passivating>(myself: &ActorRef<M>, after: Duration) -> Self {
        myself.send_after(after / 10, M::idle_check);
        Self {
            after,
            last_active: Instant::now(),
        }
    }

    /// Notes `msg`: anything but the tick itself counts as activity.
    pub(super) fn saw<M: Passivating>(&mut self, msg: &M) {
        if !msg.is_idle_check() {
            self.last_active = Instant::now();
        }
    }

    /// On the tick: stops the actor if it has been quiet long enough (a
    /// tenth as long when its entity is `settled`), else looks again later.
    pub(super) fn check<M: Passivating>(&self, myself: &ActorRef<M>, settled: bool) {
        let limit = if settled { self.after / 10 } else { self.after };
        let quiet = self.last_active.elapsed();
        if quiet >= limit {
            myself.stop(Some("idle".into()));
        } else {
            let next = limit.saturating_sub(quiet).max(self.after / 40);
            myself.send_after(next, M::idle_check);
        }
    }
}
