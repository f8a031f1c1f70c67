//! Parent of every ticket and order actor. It restarts a crashed child at
//! once (a pending order must get its timer back), and now and then makes
//! sure every overdue pending order has a live actor to expire it.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};

use super::{find_or_start, Context, EntityName};
use crate::domain::Timestamp;

pub(crate) struct Supervisor;

pub(crate) enum SupervisorMsg {
    /// Start the actor of any pending order whose deadline has passed.
    SweepOverdue,
}

impl ractor::Message for SupervisorMsg {}

pub(crate) struct SupervisorState {
    ctx: Arc<Context>,
    /// Recent restarts per actor name, to give up on a crash loop.
    restarts: HashMap<String, (Instant, u32)>,
}

const SWEEP_EVERY: Duration = Duration::from_secs(5);
const MAX_RESTARTS: u32 = 5;
const RESTART_WINDOW: Duration = Duration::from_secs(60);

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = Arc<Context>;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        ctx: Arc<Context>,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        myself.send_interval(SWEEP_EVERY, || SupervisorMsg::SweepOverdue);
        Ok(SupervisorState {
            ctx,
            restarts: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::SweepOverdue => {
                let now = Timestamp::now();
                let ids = match state.ctx.store.pending_orders() {
                    Ok(ids) => ids,
                    Err(e) => {
                        tracing::error!(error = %e, "reading pending orders");
                        return Ok(());
                    }
                };
                for (id, deadline) in ids {
                    if deadline <= now {
                        // Starting it is enough: a started pending order arms its timer.
                        spawn_detached(state.ctx.clone(), EntityName::Order(id));
                    }
                }
            }
        }
        Ok(())
    }

    // The default would stop the supervisor when any child dies.
    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let SupervisionEvent::ActorFailed(cell, err) = event else {
            // Started, or stopped on purpose (idle, shutdown): nothing to do.
            return Ok(());
        };
        let Some(name) = cell.get_name() else {
            return Ok(());
        };
        tracing::error!(actor = %name, error = %err, "actor crashed");
        let now = Instant::now();
        let entry = state.restarts.entry(name.clone()).or_insert((now, 0));
        if now.duration_since(entry.0) > RESTART_WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 > MAX_RESTARTS {
            tracing::error!(actor = %name, "crashing repeatedly; not restarting until next use");
            return Ok(());
        }
        state
            .restarts
            .retain(|_, (at, _)| now.duration_since(*at) <= RESTART_WINDOW);
        if let Some(entity) = EntityName::parse(&name) {
            spawn_detached(state.ctx.clone(), entity);
        }
        Ok(())
    }
}

/// Starts an entity's actor from a task of its own: the supervisor must not
/// wait on a child's start-up while children may be reporting to it.
fn spawn_detached(ctx: Arc<Context>, entity: EntityName) {
    tokio::spawn(async move {
        let result = match entity {
            EntityName::Ticket(id) => find_or_start(&ctx, id).await.map(drop),
            EntityName::Order(id) => find_or_start(&ctx, id).await.map(drop),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "restarting an actor");
        }
    });
}
