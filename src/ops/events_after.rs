//! A node's event log after a sequence number: what every node's catalog
//! follows, and what operators read. Only events on disk are served.

use futures::{future::BoxFuture, FutureExt};
use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{error::Result, follow::EventSource, store::LogPage};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct EventsAfter {
    pub(crate) after: u64,
    pub(crate) limit: usize,
}

impl Operation for EventsAfter {
    const NAME: &'static str = "events_after";
    type Reply = LogPage;

    async fn apply(self, home: &Home) -> Result<LogPage> {
        Ok(home.store.events_after(self.after, self.limit)?)
    }
}

impl Ops {
    /// This node's own event log.
    pub(crate) fn events_after(&self, after: u64, limit: usize) -> Result<LogPage> {
        Ok(self.home.store.events_after(after, limit)?)
    }
}

impl EventSource for Ops {
    fn members(&self) -> Vec<String> {
        self.placement
            .members()
            .iter()
            .map(|m| m.name.clone())
            .collect()
    }

    fn events_after(
        &self,
        member: &str,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<LogPage>> {
        let member = self
            .placement
            .members()
            .iter()
            .find(|m| m.name == member)
            .cloned();
        async move {
            let member =
                member.ok_or_else(|| crate::error::Error::Internal("unknown member".into()))?;
            self.run(&member, EventsAfter { after, limit }).await
        }
        .boxed()
    }
}
