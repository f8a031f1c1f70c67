//! Passivation, shared by every entity actor: an actor that has had nothing
//! to do for `idle_after` stops, and is started again from the store on its
//! next message. Only bytes on disk stay behind. One whose entity is
//! unlikely to be asked again soon (a ticket no longer for sale, a decided
//! order, an expired coupon) stops after a hundredth of that quiet time; a
//! ticket or an order is looked at as soon as it settles, a coupon at its
//! next check. In a rush of distinct tickets, each won once, that is most
//! of them, and keeping each for seconds after its win cost a rush about a
//! tenth of its wins (the actors' memory came fresh from the kernel instead
//! of being reused). An actor started only to lapse an expired hold stops
//! at once (see the ticket actor).

use std::time::{Duration, Instant};

use ractor::{ActorRef, Message};

/// A message type with an idle-check tick.
pub(super) trait Passivating: Message + Sized {
    fn idle_check() -> Self;
    fn is_idle_check(&self) -> bool;
}

/// A settled entity's actor stops once quiet for `after / SETTLED`.
const SETTLED: u32 = 100;

/// When the actor last did something, and how many ticks are on their way.
pub(super) struct Idle {
    after: Duration,
    last_active: Instant,
    /// Ticks sent and not yet seen: only the last one to arrive sends the
    /// next, so extra checks (see [`Idle::settled`]) never pile up.
    ticks: u32,
}

impl Idle {
    /// Starts watching; the first check comes after a tenth of the idle time.
    pub(super) fn start<M: Passivating>(myself: &ActorRef<M>, after: Duration) -> Self {
        myself.send_after(after / 10, M::idle_check);
        Self {
            after,
            last_active: Instant::now(),
            ticks: 1,
        }
    }

    /// Notes `msg`: anything but the tick itself counts as activity.
    pub(super) fn saw<M: Passivating>(&mut self, msg: &M) {
        if !msg.is_idle_check() {
            self.last_active = Instant::now();
        }
    }

    /// The entity has just settled: look again once the short quiet time
    /// has passed, not at the next regular tick.
    pub(super) fn settled<M: Passivating>(&mut self, myself: &ActorRef<M>) {
        self.ticks += 1;
        myself.send_after(self.after / SETTLED, M::idle_check);
    }

    /// On the tick: stops the actor if it has been quiet long enough (a
    /// hundredth as long when its entity is `settled`), else looks again
    /// later (unless another tick is still coming).
    pub(super) fn check<M: Passivating>(&mut self, myself: &ActorRef<M>, settled: bool) {
        self.ticks = self.ticks.saturating_sub(1);
        let short = self.after / SETTLED;
        let limit = if settled { short } else { self.after };
        let quiet = self.last_active.elapsed();
        if quiet >= limit {
            myself.stop(Some("idle".into()));
        } else if self.ticks == 0 {
            self.ticks = 1;
            let next = limit.saturating_sub(quiet).max(short);
            myself.send_after(next, M::idle_check);
        }
    }
}
