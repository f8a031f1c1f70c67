//! Every node follows every other node's event log and feeds what it reads
//! to its read models: the catalog and the session revocations. A
//! follower task pulls each log from where it left off, which is also how
//! a node catches up after a restart or a reconnect. A node's own changes
//! reach its read models straight from its store, once on disk and before
//! the writer's 2xx, and a start fills them from the store: reading its
//! own log back as well would only repeat them. Events carry versions, so
//! reading one twice is harmless.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::future::BoxFuture;

use crate::{domain::Event, error::Result, store::LogPage};

/// A view built from events. It must tolerate repeats and any order
/// between nodes' logs (each log is read in order).
pub(crate) trait ReadModel: Send + Sync + 'static {
    fn apply(&self, event: &Event);
}

/// Where the follower reads every node's event log; given by whoever starts
/// the node, so the read models need nothing above them.
pub(crate) trait EventSource: Send + Sync + 'static {
    /// Every node of the cluster, this one included (its own log is not
    /// followed).
    fn members(&self) -> Vec<String>;
    /// Up to `limit` of `member`'s events after `after`.
    fn events_after(
        &self,
        member: &str,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<LogPage>>;
}

/// Events fetched per pull.
const PAGE: usize = 1000;
/// How long a change on one node takes at most, plus the pull itself, to
/// reach the read models of every other node.
pub(crate) const PULL_EVERY: Duration = Duration::from_millis(200);

/// The read models one node keeps.
pub(crate) type Models = Arc<[Arc<dyn ReadModel>]>;

/// The logs not yet read to their end since this node started: until
/// they are, its read models may lack what they say (a session ended
/// elsewhere, say), so the node does not call itself ready.
#[derive(Clone)]
pub(crate) struct Progress(Arc<Mutex<BTreeSet<String>>>);

impl Progress {
    pub(crate) fn new(members: impl IntoIterator<Item = String>) -> Self {
        Self(Arc::new(Mutex::new(members.into_iter().collect())))
    }

    /// The members whose log has not been read to its end yet.
    pub(crate) fn unread(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    fn read_to_end(&self, member: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(member);
    }
}

/// Follows every node's event log but `own`'s, from the start, until the
/// returned [`Follower`] is stopped or dropped.
pub(crate) fn follow(
    source: impl EventSource,
    models: Models,
    progress: Progress,
    own: String,
) -> Follower {
    let mut cursors: HashMap<String, Cursor> = HashMap::new();
    Follower(tokio::spawn(async move {
        loop {
            for member in source.members().into_iter().filter(|m| *m != own) {
                let cursor = cursors.entry(member.clone()).or_default();
                if catch_up(&source, &models, &member, cursor).await {
                    progress.read_to_end(&member);
                }
            }
            tokio::time::sleep(PULL_EVERY).await;
        }
    }))
}

/// Reads `member`'s log from `cursor` to its end (true) or until it fails.
async fn catch_up(
    source: &impl EventSource,
    models: &Models,
    member: &str,
    cursor: &mut Cursor,
) -> bool {
    loop {
        let page = match source.events_after(member, cursor.seq, PAGE).await {
            Ok(page) => page,
            // Unreachable for now: catch up after it is back.
            Err(_) => return false,
        };
        if cursor.log_id != Some(page.log_id) || page.head < cursor.seq {
            let read_from_start = cursor.seq == 0;
            if cursor.log_id.is_some() {
                // Another log (a rebuilt data dir) or one that went back:
                // read it again from the start; versions make repeats
                // harmless.
                tracing::warn!(%member, "event log changed; re-reading it from the start");
            }
            *cursor = Cursor {
                log_id: Some(page.log_id),
                seq: 0,
            };
            if !read_from_start {
                continue;
            }
        }
        for e in &page.events {
            for model in models.iter() {
                model.apply(e);
            }
        }
        if let Some(last) = page.events.last() {
            cursor.seq = last.seq;
        }
        let lag = page.head.saturating_sub(cursor.seq);
        metrics::gauge!(crate::metrics::FOLLOWER_LAG, "node" => member.to_owned()).set(lag as f64);
        if page.events.len() < PAGE {
            return true;
        }
    }
}

/// Where a follower is in one node's log.
#[derive(Debug, Default)]
struct Cursor {
    log_id: Option<u64>,
    seq: u64,
}

/// The follower task: stopped on shutdown (or when dropped).
pub(crate) struct Follower(tokio::task::JoinHandle<()>);

impl Follower {
    pub(crate) async fn stop(mut self) {
        self.0.abort();
        let _ = (&mut self.0).await;
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.0.abort();
    }
}
