//! The event log: sequence number (big-endian, so it sorts) → event.
//! Only events already on disk are served, so a follower never holds an
//! event that a crash can take back, nor a sequence number that gets reused.

use super::{codec, Store, StoreError, T};
use crate::{
    domain::Event,
    records::{EventRecord, RecordError, Recorded},
};

pub(super) fn last_seq(tree: &sled::Tree) -> Result<u64, StoreError> {
    match tree.last()? {
        None => Ok(0),
        Some((k, _)) => Ok(u64::from_be_bytes(
            k.as_ref()
                .try_into()
                .map_err(|_| StoreError::Corrupt("event key".into()))?,
        )),
    }
}

const LOG_ID: &str = "log_id";

/// The id of this data dir's event log, made when the log was created (a
/// data dir rebuilt by resharding gets a new one). Without fsync
/// (`durable == false`, benchmarks only) a crash can take back served
/// events, so every start is a new log.
pub(super) fn log_id(meta: &sled::Tree, durable: bool) -> Result<u64, StoreError> {
    let fresh = rand::random::<u64>().to_be_bytes();
    if !durable {
        meta.insert(LOG_ID, &fresh[..])?;
        return Ok(u64::from_be_bytes(fresh));
    }
    let id = match meta.compare_and_swap(LOG_ID, None as Option<&[u8]>, Some(&fresh[..]))? {
        Ok(()) => {
            meta.flush()?;
            fresh
        }
        Err(existing) => existing
            .current
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .ok_or_else(|| StoreError::Corrupt("log id".into()))?,
    };
    Ok(u64::from_be_bytes(id))
}

/// A stretch of a node's event log, and where the log stands.
#[derive(Debug, Clone)]
pub(crate) struct LogPage {
    /// Which log this is; see [`log_id`].
    pub log_id: u64,
    /// The last sequence number on disk: a follower past it is following
    /// another log (or one that went back) and must start over.
    pub head: u64,
    pub events: Vec<Event>,
}

impl Store {
    /// Up to `limit` events on disk with a sequence number above `after`, in order.
    pub(crate) fn events_after(&self, after: u64, limit: usize) -> Result<LogPage, StoreError> {
        let head = self.group.flushed_seq();
        let events = if after >= head {
            Vec::new()
        } else {
            let start = (after + 1).to_be_bytes();
            self.tree(T::Events)
                .range(start..=head.to_be_bytes())
                .take(limit)
                .map(|entry| codec::decode(&entry?.1))
                .collect::<Result<_, _>>()?
        };
        Ok(LogPage {
            log_id: self.log_id,
            head,
            events,
        })
    }

    /// The last sequence number on disk.
    pub(crate) fn last_event_seq(&self) -> u64 {
        self.group.flushed_seq()
    }
}

/// A log page as it travels to a follower on another node.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct LogPageRecord {
    log_id: u64,
    head: u64,
    events: Vec<EventRecord>,
}

impl Recorded for LogPage {
    type Record = LogPageRecord;

    fn to_record(&self) -> LogPageRecord {
        LogPageRecord {
            log_id: self.log_id,
            head: self.head,
            events: self.events.to_record(),
        }
    }

    fn from_record(r: LogPageRecord) -> Result<Self, RecordError> {
        Ok(Self {
            log_id: r.log_id,
            head: r.head,
            events: Vec::from_record(r.events)?,
        })
    }
}
