//! The redo journal: a batch is on disk, whole, before sled sees any of it.
//!
//! A sled transaction over many trees takes a lock that sled's flush also
//! holds while it waits for the disk, so every commit queued behind every
//! fsync (docs/BENCHMARKS.md, sessions 6 to 8). Instead the writer appends
//! each batch's changes here and syncs them, then gives them to sled as
//! plain writes; nobody hears of a batch before both. A crash can leave
//! sled with part of a batch, or without batches it was given: opening the
//! store replays the journal, oldest batch first, which completes every
//! batch it holds (a change is a whole value or a removal, so replaying one
//! that sled already has changes nothing). When a segment fills, the next
//! batch goes to a new one. Older segments are deleted once a sled flush
//! begun after their last batch has ended and sled has recorded, durably,
//! the last batch that flush covered: a segment that comes back after its
//! deletion is then skipped, not replayed over newer state.
//!
//! A segment is a file named by its first batch's number; a frame in it is
//! `len: u32, crc32: u32` (little-endian) and `len` bytes: the format, the
//! batch's number (gap-free across segments), then per tree its name and
//! changes. A frame cut short or failing its checksum can only be the last
//! one written, whose sync never returned: that batch was never applied
//! nor acknowledged, and is left out.

use std::{
    collections::HashMap,
    fs::{self, File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
    sync::mpsc,
    thread,
};

use sled::IVec;

use super::{
    databases::{Databases, Part},
    StoreError,
};

/// The frame layout this code writes and reads.
const FORMAT: u8 = 1;
/// A segment this long gets no more batches: sled is flushed, and it goes.
const SEGMENT_BYTES: u64 = 8 << 20;
const SUFFIX: &str = "journal";
/// The tree and key under which sled records the last batch a completed
/// flush put on disk, before any segment holding it is deleted.
const META: &str = "meta";
const APPLIED: &str = "journal_applied_through";

/// One batch's changes, by tree name: `None` removes the key.
pub(super) type Changes<'a> = Vec<(&'a str, Vec<(&'a [u8], Option<&'a IVec>)>)>;

pub(super) struct Journal {
    dir: PathBuf,
    /// The databases the journal's batches go to (flushed on close).
    dbs: Databases,
    file: File,
    len: u64,
    /// The next batch's number.
    next: u64,
    /// Whether a batch is synced before it is applied (not with the
    /// benchmark-only `--unsafe-no-fsync`).
    sync: bool,
    buf: Vec<u8>,
    trimmer: Option<Trimmer>,
}

/// The thread that flushes sled and then deletes the segments it covers.
struct Trimmer {
    /// Segments named below the number sent are covered by the next flush.
    below: mpsc::Sender<u64>,
    thread: thread::JoinHandle<()>,
}

/// A journal write that failed.
pub(super) enum AppendError {
    /// Nothing of the batch is in the journal: refuse it, go on.
    NotWritten(io::Error),
    /// The sync failed: whether the batch is on disk is unknown, and a
    /// retried sync may lie about it. Only a restart can tell.
    Unknown(io::Error),
}

impl Journal {
    /// Replays whatever an unclean stop left into `dbs`, makes it durable
    /// there, and starts an empty journal. Returns it with the number of
    /// batches replayed.
    pub(super) fn open(dir: &Path, dbs: &Databases, sync: bool) -> Result<(Self, u64), StoreError> {
        let data_dir = dir;
        let dir = dir.join("journal");
        if !dir.exists() {
            fs::create_dir_all(&dir).map_err(|e| io_error("creating the journal", e))?;
            sync_dir(data_dir)?;
        }
        let applied = applied_through(&dbs.open_tree(META)?)?;
        let segments = segments(&dir)?
            .into_iter()
            .map(|(first, path)| {
                let bytes = fs::read(&path).map_err(|e| io_error("reading the journal", e))?;
                Ok((first, path, bytes))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // A torn frame can only end the last segment written to; a later
        // one may exist, empty, if starting it failed half-way.
        let last = segments.iter().rposition(|(_, _, bytes)| !bytes.is_empty());
        let mut next = applied + 1;
        let mut due = Vec::new();
        for (i, (first, _, bytes)) in segments.iter().enumerate() {
            for (n, frame) in frames(bytes, Some(i) == last)?.into_iter().enumerate() {
                let batch = batch_of(frame)?;
                if n == 0 && batch != *first {
                    return Err(StoreError::Corrupt(format!(
                        "journal: segment {first} starts with batch {batch}"
                    )));
                }
                // Older than the last flush recorded: sled has it (a
                // deleted segment that came back, say).
                if batch < next {
                    continue;
                }
                if batch != next {
                    return Err(StoreError::Corrupt(format!(
                        "journal: batch {batch} follows {}",
                        next - 1
                    )));
                }
                due.push(frame);
                next = batch + 1;
            }
        }
        // Each database's changes in order, both databases at once.
        let replayed = due.len() as u64;
        thread::scope(|s| {
            let log = s.spawn(|| replay(&due, dbs, Part::Second));
            let main = replay(&due, dbs, Part::Main);
            let log = log.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            main.and(log)
        })?;
        if !segments.is_empty() {
            settle(dbs, next - 1)?;
            for (_, path, _) in &segments {
                remove(path)?;
            }
            sync_dir(&dir)?;
        }
        let file = create_segment(&dir, next)?;
        let (below, asks) = mpsc::channel();
        let trim_dbs = dbs.clone();
        let trim_dir = dir.clone();
        let thread = thread::Builder::new()
            .name("store-trim".into())
            .spawn(move || trim(&trim_dir, &trim_dbs, &asks))
            .map_err(|e| io_error("starting the journal's trimmer", e))?;
        Ok((
            Self {
                dir,
                dbs: dbs.clone(),
                file,
                len: 0,
                next,
                sync,
                buf: Vec::new(),
                trimmer: Some(Trimmer { below, thread }),
            },
            replayed,
        ))
    }

    /// Writes one batch and syncs it. The batch must not be applied to
    /// sled unless this returns `Ok`.
    pub(super) fn append(&mut self, changes: &Changes<'_>) -> Result<(), AppendError> {
        self.encode(changes);
        if let Err(e) = self.file.write_all(&self.buf) {
            // Take back whatever part of the frame got in, so the next
            // batch does not follow a torn frame.
            return match self.file.set_len(self.len) {
                Ok(()) => Err(AppendError::NotWritten(e)),
                Err(_) => Err(AppendError::Unknown(e)),
            };
        }
        if self.sync {
            self.file.sync_data().map_err(AppendError::Unknown)?;
        }
        self.len += self.buf.len() as u64;
        self.next += 1;
        Ok(())
    }

    /// Once the batches written so far are in sled: starts a new segment
    /// if this one is full, and has the full one trimmed. A failure leaves
    /// the journal in the old segment, growing, and is tried again after
    /// the next batch.
    pub(super) fn roll_if_full(&mut self) {
        if self.len < SEGMENT_BYTES {
            return;
        }
        match create_segment(&self.dir, self.next) {
            Ok(file) => {
                self.file = file;
                self.len = 0;
                if let Some(trimmer) = &self.trimmer {
                    let _ = trimmer.below.send(self.next);
                }
            }
            Err(e) => tracing::error!(error = %e, "starting a journal segment failed"),
        }
    }

    /// On a clean stop, once every batch is in sled: flushes sled and
    /// empties the journal, so the next open has nothing to replay.
    pub(super) fn close(&mut self) -> Result<(), StoreError> {
        self.stop_trimmer();
        settle(&self.dbs, self.next - 1)?;
        for (_, path) in segments(&self.dir)? {
            remove(&path)?;
        }
        sync_dir(&self.dir)
    }

    /// Lets the trimmer finish, and with it its handle on the database.
    fn stop_trimmer(&mut self) {
        if let Some(Trimmer { below, thread }) = self.trimmer.take() {
            drop(below);
            let _ = thread.join();
        }
    }

    fn encode(&mut self, changes: &Changes<'_>) {
        let buf = &mut self.buf;
        buf.clear();
        buf.extend_from_slice(&[0; 8]);
        buf.push(FORMAT);
        buf.extend_from_slice(&self.next.to_le_bytes());
        for (tree, entries) in changes {
            buf.push(tree.len() as u8);
            buf.extend_from_slice(tree.as_bytes());
            buf.extend_from_slice(&(entries.len() as u32).to_le_bytes());
            for (key, value) in entries {
                buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
                buf.extend_from_slice(key);
                match value {
                    None => buf.push(0),
                    Some(value) => {
                        buf.push(1);
                        buf.extend_from_slice(&(value.len() as u32).to_le_bytes());
                        buf.extend_from_slice(value);
                    }
                }
            }
        }
        let len = (buf.len() - 8) as u32;
        let crc = crc32fast::hash(&buf[8..]);
        buf[..4].copy_from_slice(&len.to_le_bytes());
        buf[4..8].copy_from_slice(&crc.to_le_bytes());
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.stop_trimmer();
    }
}

/// Flushes sled for every segment handed over, then deletes those below.
fn trim(dir: &Path, dbs: &Databases, asks: &mpsc::Receiver<u64>) {
    while let Ok(mut below) = asks.recv() {
        while let Ok(later) = asks.try_recv() {
            below = later;
        }
        // Until sled has them on disk, the segments are the only copy; and
        // after a failed fsync a retried one may succeed without the pages
        // it dropped. Only a restart, replaying them, can be sure.
        if let Err(e) = settle(dbs, below - 1) {
            tracing::error!(error = %e, "flushing sled failed; stopping the process");
            std::process::abort();
        }
        let deleted = segments(dir).and_then(|all| {
            all.iter()
                .filter(|(first, _)| *first < below)
                .try_for_each(|(_, path)| remove(path))?;
            sync_dir(dir)
        });
        if let Err(e) = deleted {
            tracing::error!(error = %e, "deleting journal segments failed");
        }
    }
}

/// The segments in `dir`, oldest first.
fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_error("listing the journal", e))? {
        let path = entry
            .map_err(|e| io_error("listing the journal", e))?
            .path();
        let first = path
            .extension()
            .filter(|ext| *ext == SUFFIX)
            .and_then(|_| path.file_stem()?.to_str()?.parse::<u64>().ok());
        if let Some(first) = first {
            found.push((first, path));
        }
    }
    found.sort();
    Ok(found)
}

/// The frames of one segment. Only the last segment written to may end
/// in a torn frame (its batch's sync never returned): one whose length
/// runs past the end, or a header cut short. A bad frame with more after
/// it, or anywhere else, is damage.
fn frames(bytes: &[u8], last: bool) -> Result<Vec<&[u8]>, StoreError> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let header = rest.get(..8).map(|h| {
            let len = u32::from_le_bytes(h[..4].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_le_bytes(h[4..].try_into().expect("4 bytes"));
            (len, crc)
        });
        match header {
            Some((len, crc)) => match rest.get(8..8 + len) {
                Some(body) if crc32fast::hash(body) == crc => {
                    out.push(body);
                    rest = &rest[8 + len..];
                }
                Some(_) if last && rest.len() == 8 + len => break,
                None if last => break,
                _ => return Err(StoreError::Corrupt("journal: a damaged frame".into())),
            },
            None if last => break,
            None => return Err(StoreError::Corrupt("journal: a damaged frame".into())),
        }
    }
    Ok(out)
}

/// A frame's batch number, after checking its format.
fn batch_of(frame: &[u8]) -> Result<u64, StoreError> {
    let mut r = Reader(frame);
    if r.u8()? != FORMAT {
        return Err(StoreError::Corrupt(
            "journal: written by a newer version".into(),
        ));
    }
    r.u64()
}

fn applied_through(meta: &sled::Tree) -> Result<u64, StoreError> {
    match meta.get(APPLIED)? {
        None => Ok(0),
        Some(v) => <[u8; 8]>::try_from(v.as_ref())
            .map(u64::from_be_bytes)
            .map_err(|_| StoreError::Corrupt("journal: the last batch applied".into())),
    }
}

/// Flushes both databases, which hold every batch up to `through`, then
/// records that durably (a second flush of the one that records it): only
/// then may segments go. Relies on nothing but a completed flush covering
/// the writes made before it.
fn settle(dbs: &Databases, through: u64) -> Result<(), StoreError> {
    dbs.flush()?;
    dbs.open_tree(META)?
        .insert(APPLIED, &through.to_be_bytes())?;
    dbs.main().flush()?;
    Ok(())
}

/// Applies the changes `frames` make to the trees of one database, in
/// order (their format and numbers checked already).
fn replay(frames: &[&[u8]], dbs: &Databases, part: Part) -> Result<(), StoreError> {
    let mut trees: HashMap<&[u8], sled::Tree> = HashMap::new();
    for frame in frames {
        let mut r = Reader(frame);
        r.bytes(9)?;
        while !r.0.is_empty() {
            let name_len = r.u8()? as usize;
            let name = r.bytes(name_len)?;
            let mine = Part::of(name) == part;
            let tree = match trees.get(name) {
                Some(tree) => Some(tree),
                None if mine => Some(&*trees.entry(name).or_insert(dbs.open_tree(name)?)),
                None => None,
            };
            for _ in 0..r.u32()? {
                let key_len = r.u32()? as usize;
                let key = r.bytes(key_len)?;
                let value = match r.u8()? {
                    0 => None,
                    1 => {
                        let len = r.u32()? as usize;
                        Some(r.bytes(len)?)
                    }
                    _ => return Err(StoreError::Corrupt("journal: a change".into())),
                };
                match (tree, value) {
                    (None, _) => {}
                    (Some(tree), None) => {
                        tree.remove(key)?;
                    }
                    (Some(tree), Some(value)) => {
                        tree.insert(key, value)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Reads a frame's fields; a short frame passed its checksum, so it is
/// damage, not a torn write.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.0.len() < n {
            return Err(StoreError::Corrupt("journal: a frame ends early".into()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.bytes(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        Ok(u32::from_le_bytes(
            self.bytes(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, StoreError> {
        Ok(u64::from_le_bytes(
            self.bytes(8)?.try_into().expect("8 bytes"),
        ))
    }
}

/// A new segment whose first batch is `first`, its name made durable.
fn create_segment(dir: &Path, first: u64) -> Result<File, StoreError> {
    let path = dir.join(format!("{first:020}.{SUFFIX}"));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| io_error("creating a journal segment", e))?;
    if let Err(e) = sync_dir(dir) {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    Ok(file)
}

fn remove(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(io_error("deleting a journal segment", e))
        }
        _ => Ok(()),
    }
}

/// Makes the directory's entries (a new segment, deleted ones) durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("syncing the journal's directory", e))
}

fn io_error(what: &str, e: io::Error) -> StoreError {
    StoreError::Flush(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn db(dir: &Path) -> Databases {
        Databases::open(dir, 1 << 20).unwrap()
    }

    fn set<'a>(tree: &'a str, key: &'a [u8], value: &'a IVec) -> Changes<'a> {
        vec![(tree, vec![(key, Some(value))])]
    }

    #[test]
    fn a_crash_after_the_sync_is_completed_at_open_and_a_torn_frame_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (IVec::from(&b"one"[..]), IVec::from(&b"two"[..]));
        {
            let db = db(dir.path());
            let (mut journal, replayed) = Journal::open(dir.path(), &db, true).unwrap();
            assert_eq!(replayed, 0);
            journal.append(&set("t", b"a", &one)).ok().unwrap();
            // One batch over both databases.
            let both = vec![
                ("t", vec![(&b"a"[..], Some(&two)), (&b"b"[..], None)]),
                ("events", vec![(&b"e"[..], Some(&one))]),
            ];
            journal.append(&both).ok().unwrap();
            // The crash: sled got neither batch; a third was being written.
            journal.append(&set("t", b"c", &one)).ok().unwrap();
            let torn = journal.len - 3;
            journal.file.set_len(torn).unwrap();
            db.open_tree("t").unwrap().insert("b", "stale").unwrap();
            db.flush().unwrap();
        }
        let db = db(dir.path());
        let (mut journal, replayed) = Journal::open(dir.path(), &db, true).unwrap();
        assert_eq!(replayed, 2, "the two whole batches, not the torn one");
        let t = db.open_tree("t").unwrap();
        assert_eq!(t.get("a").unwrap(), Some(two.clone()), "in order");
        assert_eq!(t.get("b").unwrap(), None, "removals replayed too");
        let events = db.open_tree("events").unwrap();
        assert_eq!(
            events.get("e").unwrap(),
            Some(one.clone()),
            "in both databases"
        );
        assert_eq!(t.get("c").unwrap(), None, "a torn batch is left out");
        assert_eq!(journal.next, 3, "numbering goes on");
        assert_eq!(segments(&journal.dir).unwrap().len(), 1, "replayed ones go");
        journal.close().unwrap();
        assert!(segments(&journal.dir).unwrap().is_empty());
    }

    #[test]
    fn a_full_segment_goes_once_sled_has_its_batches() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (IVec::from(&b"one"[..]), IVec::from(&b"two"[..]));
        {
            let db = db(dir.path());
            let (mut journal, _) = Journal::open(dir.path(), &db, true).unwrap();
            journal.append(&set("t", b"a", &one)).ok().unwrap();
            db.open_tree("t").unwrap().insert("a", one.clone()).unwrap();
            journal.len = SEGMENT_BYTES;
            journal.roll_if_full();
            journal.append(&set("t", b"b", &two)).ok().unwrap();
            // Batch 2 never reaches sled: the crash comes first.
            for _ in 0..100 {
                if segments(&journal.dir).unwrap().len() == 1 {
                    break;
                }
                thread::sleep(Duration::from_millis(50));
            }
            assert_eq!(
                segments(&journal.dir).unwrap()[0].0,
                2,
                "the full segment went, the one in use stays"
            );
            assert_eq!(applied_through(&db.open_tree(META).unwrap()).unwrap(), 1);
        }
        let db = db(dir.path());
        let (_, replayed) = Journal::open(dir.path(), &db, true).unwrap();
        assert_eq!(replayed, 1, "only what the trim did not cover");
        let t = db.open_tree("t").unwrap();
        assert_eq!(t.get("a").unwrap(), Some(one));
        assert_eq!(t.get("b").unwrap(), Some(two));
    }

    #[test]
    fn a_segment_older_than_the_last_flush_is_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (IVec::from(&b"old"[..]), IVec::from(&b"new"[..]));
        let kept = dir.path().join("kept");
        {
            let db = db(dir.path());
            let (mut journal, _) = Journal::open(dir.path(), &db, true).unwrap();
            journal.append(&set("t", b"a", &old)).ok().unwrap();
            let (first, _) = segments(&journal.dir).unwrap().remove(0);
            fs::copy(journal.dir.join(format!("{first:020}.{SUFFIX}")), &kept).unwrap();
            journal.append(&set("t", b"a", &new)).ok().unwrap();
            db.open_tree("t").unwrap().insert("a", new.clone()).unwrap();
            journal.close().unwrap();
        }
        // The deleted segment comes back (its unlink did not last).
        fs::copy(
            &kept,
            dir.path()
                .join("journal")
                .join(format!("{:020}.{SUFFIX}", 1)),
        )
        .unwrap();
        let db = db(dir.path());
        let (journal, replayed) = Journal::open(dir.path(), &db, true).unwrap();
        assert_eq!(replayed, 0);
        assert_eq!(db.open_tree("t").unwrap().get("a").unwrap(), Some(new));
        assert_eq!(journal.next, 3, "numbers are not used twice");
    }

    #[test]
    fn a_bad_frame_with_more_after_it_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let value = IVec::from(&b"v"[..]);
        {
            let db = db(dir.path());
            let (mut journal, _) = Journal::open(dir.path(), &db, true).unwrap();
            journal.append(&set("t", b"a", &value)).ok().unwrap();
            journal.append(&set("t", b"b", &value)).ok().unwrap();
        }
        let (_, path) = segments(&dir.path().join("journal")).unwrap().remove(0);
        refuses_with_byte_flipped(dir.path(), &path, 10);
    }

    #[test]
    fn damage_before_the_last_segment_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let value = IVec::from(&b"v"[..]);
        {
            let db = db(dir.path());
            let (mut journal, _) = Journal::open(dir.path(), &db, true).unwrap();
            // No trimmer: the full segment stays, as after a crash.
            journal.stop_trimmer();
            journal.append(&set("t", b"a", &value)).ok().unwrap();
            journal.len = SEGMENT_BYTES;
            journal.roll_if_full();
            journal.append(&set("t", b"b", &value)).ok().unwrap();
        }
        let all = segments(&dir.path().join("journal")).unwrap();
        assert_eq!(all.len(), 2);
        let first = &all[0].1;
        let last_byte = fs::metadata(first).unwrap().len() as usize - 1;
        refuses_with_byte_flipped(dir.path(), first, last_byte);
    }

    /// Damages one byte of `segment`; the journal must then refuse to open.
    fn refuses_with_byte_flipped(dir: &Path, segment: &Path, at: usize) {
        let mut bytes = fs::read(segment).unwrap();
        bytes[at] ^= 0xff;
        fs::write(segment, bytes).unwrap();
        let db = db(dir);
        assert!(matches!(
            Journal::open(dir, &db, true),
            Err(StoreError::Corrupt(_))
        ));
    }
}
