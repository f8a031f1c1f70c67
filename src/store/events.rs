//! The event log: runs of consecutive events, each under the sequence
//! number of its last event (big-endian, so it sorts). A run is a batch's
//! events, or part of them (a log written before runs holds one event per
//! entry, read the same way). Only events already on disk are served, so a
//! follower never holds an event that a crash can take back, nor a
//! sequence number that gets reused.

use super::{codec, writer::Overlay, Store, StoreError, T};
use crate::{
    domain::{Event, Timestamp, SESSION_TTL_SECS},
    records::{EventRecord, EventRun, RecordError, Recorded},
};

/// Puts `run` (consecutive events, not empty) in a batch's changes.
pub(super) fn log_run(overlay: &mut Overlay, run: &[Event]) {
    let Some(last) = run.last() else { return };
    let value = codec::encode(&EventRun(run.to_vec()));
    overlay.set(T::Events, &last.seq.to_be_bytes(), Some(value.into()));
}

/// An event's entry in the index of session events: one event under its
/// own number.
pub(super) fn session_entry(event: &Event) -> ([u8; 8], Vec<u8>) {
    (event.seq.to_be_bytes(), codec::encode(event))
}

fn read_run(bytes: &[u8]) -> Result<Vec<Event>, StoreError> {
    codec::decode::<EventRun>(bytes).map(|run| run.0)
}

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

/// How long session events (sign-outs, password changes, bans) are kept
/// beside the log: a restarting node rebuilds its revocations from them
/// instead of reading its whole log again. Tokens live `SESSION_TTL_SECS`;
/// twice that leaves room for clocks that disagree and a slow restart.
const SESSION_EVENTS_KEPT_SECS: u64 = 2 * SESSION_TTL_SECS;
/// Set once the session events of an older data dir's log are indexed.
pub(super) const SESSION_EVENTS_INDEXED: &str = "session_events_indexed";

/// At open, before the writer starts: indexes the session events of a log
/// written before the index existed (once), and forgets those too old to
/// matter. The index is small: sign-outs and account changes, not sales.
pub(super) fn keep_recent_session_events(
    events: &sled::Tree,
    index: &sled::Tree,
    meta: &sled::Tree,
) -> Result<(), StoreError> {
    if meta.get(SESSION_EVENTS_INDEXED)?.is_none() {
        for entry in events.iter() {
            for event in read_run(&entry?.1)? {
                if event.kind.touches_sessions() {
                    let (key, value) = session_entry(&event);
                    index.insert(key, value)?;
                }
            }
        }
        // On disk before the marker says it is there.
        index.flush()?;
        meta.insert(SESSION_EVENTS_INDEXED, &[][..])?;
    }
    // Measured back from the log's last event when the clock reads later
    // than that: a node booting with its clock far ahead must not forget
    // the sign-outs it will still need once the clock is put right.
    let last_written = match events.last()? {
        Some((_, bytes)) => read_run(&bytes)?.last().map_or(0, |e| e.at.as_secs()),
        None => 0,
    };
    let oldest = Timestamp::now()
        .as_secs()
        .min(last_written)
        .saturating_sub(SESSION_EVENTS_KEPT_SECS);
    for entry in index.iter() {
        let (key, bytes) = entry?;
        let event: Event = codec::decode(&bytes)?;
        // Not a `break` at the first recent one: a clock that jumped back
        // leaves times out of sequence order.
        if event.at.as_secs() < oldest {
            index.remove(key)?;
        }
    }
    meta.flush()?;
    Ok(())
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
        let head = self.committed.last_seq();
        let mut events = Vec::new();
        if after < head {
            // The first run that ends past `after` may begin before it; one
            // that ends past `head` is being applied, not yet published.
            let runs = self
                .tree(T::Events)
                .range((after + 1).to_be_bytes()..=head.to_be_bytes());
            for entry in runs {
                let run = read_run(&entry?.1)?;
                events.extend(run.into_iter().filter(|e| e.seq > after));
                if events.len() >= limit {
                    events.truncate(limit);
                    break;
                }
            }
        }
        Ok(LogPage {
            log_id: self.log_id,
            head,
            events,
        })
    }

    /// The name of this node's event log (see [`log_id`]).
    pub(crate) fn log_id(&self) -> u64 {
        self.log_id
    }

    /// The last sequence number on disk.
    pub(crate) fn last_event_seq(&self) -> u64 {
        self.committed.last_seq()
    }

    /// The session events on disk from the last half hour or so (see
    /// [`SESSION_EVENTS_KEPT_SECS`]), in log order: all a node needs of
    /// its own log to know which sessions have ended.
    pub(crate) fn recent_session_events(&self) -> Result<Vec<Event>, StoreError> {
        let head = self.committed.last_seq().to_be_bytes();
        self.tree(T::SessionEvents)
            .range(..=head)
            .map(|entry| codec::decode(&entry?.1))
            .collect()
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
