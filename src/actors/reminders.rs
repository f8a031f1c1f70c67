//! The reminder service, one per node: what makes a hold lapse. It keeps
//! nothing per hold in memory; it reads the due end of the store's reminder
//! index (one entry per pending order, written in the order's own
//! transactions) and, at a deadline, starts the order's actor on demand and
//! tells it. The order actor still decides: expired or paid, never both.
//!
//! After a restart the index is simply read again: overdue reminders fire at
//! once. Expiries run in bounded batches, so a storm of holds falling due
//! together shares the node with the BUYs arriving meanwhile.

use std::{collections::HashSet, sync::Arc, time::Duration};

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::{ask, order::OrderMsg, Context};
use crate::{
    domain::{OrderId, Timestamp},
    error::Error,
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
                match ask(&ctx, order, OrderMsg::Expire).await.and_then(|r| r) {
                    Ok(()) => {}
                    Err(Error::NotFound(_)) => {
                        tracing::error!(%order, "a reminder for an order that is not stored; dropping it");
                        if let Err(e) = ctx.store.drop_stale_reminder(due_at, order).await {
                            tracing::error!(%order, error = %e, "dropping a stale reminder");
                        }
                    }
                    Err(e) => {
                        // Still in the index: tried again after a pause (the
                        // slot stays taken meanwhile, so a failing hold cannot spin).
                        tracing::warn!(%order, error = %e, "expiring a hold failed; will retry");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                let _ = me.cast(ReminderMsg::Done(order));
            });
        }
    }
}
