//! Parent of every ticket, order and coupon actor. It restarts a crashed child at
//! once, up to a limit, so the entity is back in memory with its state
//! reloaded from disk (deadlines need no actor: the reminder service has them).

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};

use super::{find_or_start, Context, EntityName};

pub(crate) struct Supervisor;

pub(crate) enum SupervisorMsg {}

impl ractor::Message for SupervisorMsg {}

pub(crate) struct SupervisorState {
    ctx: Arc<Context>,
    /// Recent restarts per actor name, to give up on a crash loop.
    restarts: HashMap<String, (Instant, u32)>,
}

const MAX_RESTARTS: u32 = 5;
const RESTART_WINDOW: Duration = Duration::from_secs(60);

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = Arc<Context>;

    async fn pre_start(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        ctx: Arc<Context>,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        Ok(SupervisorState {
            ctx,
            restarts: HashMap::new(),
        })
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
        let entity = EntityName::parse(&name);
        if let Some(EntityName::Reminders) = entity {
            // Without it no hold lapses: always back, after a pause.
            let ctx = state.ctx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                spawn_detached(ctx, EntityName::Reminders);
            });
            return Ok(());
        }
        if entry.1 > MAX_RESTARTS {
            tracing::error!(actor = %name, "crashing repeatedly; not restarting until next use");
            return Ok(());
        }
        state
            .restarts
            .retain(|_, (at, _)| now.duration_since(*at) <= RESTART_WINDOW);
        if let Some(entity) = entity {
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
            EntityName::Coupon(code) => find_or_start(&ctx, code).await.map(drop),
            EntityName::Reminders => super::start_reminders(&ctx).await,
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "restarting an actor");
        }
    });
}
