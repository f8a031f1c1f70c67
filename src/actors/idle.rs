//! Passivation, shared by every entity actor: an actor that has had nothing
//! to do for `idle_after` stops, and is started again from the store on its
//! next message. Only bytes on disk stay behind.

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
    /// Starts watching; the first check comes after `after`.
    pub(super) fn start<M: Passivating>(myself: &ActorRef<M>, after: Duration) -> Self {
        myself.send_after(after, M::idle_check);
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

    /// On the tick: stops the actor if it has been quiet long enough and
    /// `may_stop`, else looks again later.
    pub(super) fn check<M: Passivating>(&self, myself: &ActorRef<M>, may_stop: bool) {
        let quiet = self.last_active.elapsed();
        if quiet >= self.after && may_stop {
            myself.stop(Some("idle".into()));
        } else {
            let next = self.after.saturating_sub(quiet).max(self.after / 4);
            myself.send_after(next, M::idle_check);
        }
    }
}
