//! The reminder service, one per node: what makes a hold lapse. It keeps
//! nothing per hold in memory; it reads the due end of the store's reminder
//! index (one entry per pending order, written in the order's own
//! transactions) and, at a deadline, tells the order's actor if it is
//! running, or else the ticket's actor, which lapses the hold without an
//! order actor (see [`lapse`]). Either way one compare-and-set transaction
//! decides: expired or paid, never both.
//!
//! After a restart the index is simply read again: overdue reminders fire at
//! once. Expiries run in bounded batches, so a storm of holds falling due
//! together shares the node with the BUYs arriving meanwhile.

use std::{collections::HashSet, sync::Arc, time::Duration};

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::{ask, order::OrderMsg, Context, Entity, TicketMsg};
use crate::{
    domain::{Order, OrderId, Timestamp},
    error::{Error, Result},
};

/// How often the index is looked at; a hold lapses at most this late (plus
/// the time its batch takes).
const POLL: Duration = Duration::from_millis(200);
/// Expiries in flight at once: enough to fill the writer's batches.
const BATCH: usize = 512;

pub(crate) struct Reminders;

pub(crate) enum ReminderMsg {
    /// Look for due reminders.
    Tick,
    /// An expiry came back (done, or to be retried at a later tick).
    Done(OrderId),
}

impl ractor::Message for ReminderMsg {}

pub(crate) struct ReminderState {
    ctx: Arc<Context>,
    in_flight: HashSet<OrderId>,
    /// The last look found more due reminders than it could start.
    backlog: bool,
}

impl Actor for Reminders {
    type Msg = ReminderMsg;
    type State = ReminderState;
    type Arguments = Arc<Context>;

    async fn pre_start(
        &self,
        myself: ActorRef<ReminderMsg>,
        ctx: Arc<Context>,
    ) -> Result<ReminderState, ActorProcessingErr> {
        myself.send_interval(POLL, || ReminderMsg::Tick);
        // Overdue holds from before a restart lapse at once.
        myself.send_message(ReminderMsg::Tick)?;
        Ok(ReminderState {
            ctx,
            in_flight: HashSet::new(),
            backlog: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<ReminderMsg>,
        msg: ReminderMsg,
        state: &mut ReminderState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ReminderMsg::Tick => state.start_due(&myself),
            ReminderMsg::Done(order) => {
                state.in_flight.remove(&order);
                // Work through a backlog without waiting for the next poll,
                // half a batch at a time.
                if state.backlog && state.in_flight.len() <= BATCH / 2 {
                    state.start_due(&myself);
                }
            }
        }
        Ok(())
    }
}

impl ReminderState {
    fn start_due(&mut self, myself: &ActorRef<ReminderMsg>) {
        let room = BATCH - self.in_flight.len().min(BATCH);
        if room == 0 {
            return;
        }
        // Reminders already in flight are still in the index: skip them.
        let want = room + self.in_flight.len();
        let due = match self.ctx.store.due_reminders(Timestamp::now(), want) {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "reading due reminders");
                return;
            }
        };
        self.backlog = due.len() == want;
        for (due_at, order) in due {
            if self.in_flight.len() >= BATCH {
                break;
            }
            if !self.in_flight.insert(order) {
                continue;
            }
            let ctx = self.ctx.clone();
            let me = myself.clone();
            tokio::spawn(async move {
                if let Err(e) = lapse(&ctx, due_at, order).await {
                    // Still in the index: tried again after a pause (the
                    // slot stays taken meanwhile, so a failing hold cannot spin).
                    tracing::warn!(%order, error = %e, "expiring a hold failed; will retry");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                let _ = me.cast(ReminderMsg::Done(order));
            });
        }
    }
}

/// Lapses `order`'s hold, due at `due_at`. A running order actor decides
/// (it may be taking a payment that began before the deadline: that
/// payment wins, as it would have without a reminder). Otherwise nobody is
/// deciding anything about the order, so its ticket's actor lapses it
/// directly, without starting an order actor: a payment that could still
/// begin would start after the deadline and be refused, and the ticket
/// actor's compare-and-set on the stored order keeps it paid or expired,
/// never both, whatever the timing.
async fn lapse(ctx: &Arc<Context>, due_at: Timestamp, order: OrderId) -> Result<()> {
    let Some(stored) = pending(ctx, order)? else {
        return forget(ctx, due_at, order).await;
    };
    let decided = if ActorRef::<OrderMsg>::where_is(order.actor_name()).is_some() {
        ask(ctx, order, OrderMsg::Expire).await
    } else {
        let ticket = stored.ticket.id;
        let stored = Box::new(stored);
        ask(ctx, ticket, |reply| TicketMsg::Lapse {
            order: stored.clone(),
            reply,
        })
        .await
    };
    match decided.and_then(|answer| answer) {
        Ok(()) => Ok(()),
        // Its ticket or order is not stored: only a damaged store has that.
        Err(Error::NotFound(_)) => forget(ctx, due_at, order).await,
        // A payment or a cancel landed first: nothing is left to lapse.
        Err(_) if pending(ctx, order)?.is_none() => forget(ctx, due_at, order).await,
        Err(e) => Err(e),
    }
}

/// The stored order, if it is still pending.
fn pending(ctx: &Context, order: OrderId) -> Result<Option<Order>> {
    Ok(ctx.store.order(order)?.filter(Order::is_pending))
}

/// Drops the reminder of an order that is decided or gone. Its deciding
/// transaction normally cleared it already; one still there would fire
/// forever (a damaged store), so it is reported.
async fn forget(ctx: &Context, due_at: Timestamp, order: OrderId) -> Result<()> {
    if ctx.store.drop_stale_reminder(due_at, order).await? {
        tracing::error!(%order, "a reminder whose order is decided or gone, or whose ticket is gone; dropped it");
    }
    Ok(())
}
