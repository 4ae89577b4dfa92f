//! A durable append-only spool of outbound messages, kept on disk while a sink (Kafka's brokers)
//! cannot take them, and delivered in order once it can.
//!
//! Layout: a directory of segment files `<base>.seg`, where `<base>` (20 decimal digits) is the
//! logical position of the segment's first byte in the spool's one byte stream, and a file
//! `read.pos` holding the logical position up to which entries were delivered and acknowledged
//! ([`Spool::ack`]). A restart resumes from `read.pos`: what was read but not acknowledged is read
//! again (at-least-once; some messages may be sent twice, none is lost).
//!
//! Each entry is framed as
//!
//! ```text
//! body length  u32 LE   (bytes after the CRC)
//! CRC-32       u32 LE   (IEEE, of the body)
//! body:  topic u8 (OutTopic code) | key length u32 LE | key | payload
//! ```
//!
//! A torn or corrupt entry (a crash in the middle of a write, a bad disk block) fails its length
//! or CRC check. It is counted and logged, never a panic: at open, a torn tail of the last
//! segment is cut off and appending goes on after the last good entry; met while reading, the
//! rest of that segment is skipped and reading goes on with the next segment.
//!
//! The spool is bounded by `max_bytes` (bytes not yet acknowledged). When full, [`Spool::append`]
//! returns [`SpoolError::Full`] and drops nothing: the caller pauses until entries are acked.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::traffic::OutTopic;

/// Bytes of the frame header: body length and CRC.
const HEADER_LEN: usize = 8;
/// Offset of the CRC in the frame header.
const CRC_OFFSET: usize = 4;
/// Bytes of the body before the key: topic code and key length.
const BODY_PREFIX_LEN: usize = 5;
/// The largest body accepted (a larger length field is taken as corruption).
pub const MAX_ENTRY_BODY: usize = 64 * 1024 * 1024;
/// Name of the file holding the acknowledged read position.
const READ_POS_FILE: &str = "read.pos";
/// Suffix of segment files.
const SEGMENT_SUFFIX: &str = ".seg";

/// Errors of the spool.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {dir}: {op}: {source}")]
    Io {
        dir: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("spool full: {used} bytes held, limit {limit} bytes (waiting for delivery)")]
    Full { used: u64, limit: u64 },
    #[error("spool entry too large: {0} bytes (limit {MAX_ENTRY_BODY})")]
    EntryTooLarge(usize),
    #[error("spool {path}: unreadable read position file")]
    BadReadPos { path: PathBuf },
}

/// When appended entries are forced to disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// After every append (slow, safest).
    Always,
    /// Only when [`Spool::sync`] is called (the pipeline calls it before committing offsets).
    #[default]
    OnSync,
    /// Never (tests; a crash may lose entries the OS had not written).
    Never,
}

/// Spool settings.
#[derive(Clone, Debug)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    /// Bound on bytes not yet acknowledged.
    pub max_bytes: u64,
    /// A new segment is started once the current one holds this many bytes.
    pub segment_bytes: u64,
    pub fsync: FsyncPolicy,
}

impl SpoolConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SpoolConfig {
            dir: dir.into(),
            max_bytes: 1 << 30,
            segment_bytes: 64 << 20,
            fsync: FsyncPolicy::OnSync,
        }
    }
}

/// Counters of the spool, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Bytes held (appended, not yet acknowledged).
    pub bytes: u64,
    /// Entries held.
    pub entries: u64,
    /// Entries appended since open.
    pub appended: u64,
    /// Entries acknowledged since open.
    pub acked: u64,
    /// Times `append` found the spool full.
    pub full_events: u64,
    /// Corrupt or torn entries found (each ends the reading of its segment).
    pub corrupt: u64,
}

/// One entry read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpoolEntry {
    pub topic: OutTopic,
    pub key: String,
    pub payload: Vec<u8>,
    /// The logical position just after this entry: pass it to [`Spool::ack`] once delivered.
    pub end: u64,
}

fn topic_code(topic: OutTopic) -> u8 {
    match topic {
        OutTopic::Decisions => 0,
        OutTopic::Blocked => 1,
        OutTopic::DeadLetter => 2,
    }
}

fn topic_from_code(code: u8) -> Option<OutTopic> {
    match code {
        0 => Some(OutTopic::Decisions),
        1 => Some(OutTopic::Blocked),
        2 => Some(OutTopic::DeadLetter),
        _ => None,
    }
}

/// The reading cursor: a segment and the offset in it.
struct Cursor {
    /// Index into `segments`' bases of the segment read.
    base: u64,
    /// Logical position of the next entry.
    pos: u64,
    file: Option<io::BufReader<File>>,
}

/// The spool. Single owner; not shared between threads.
pub struct Spool {
    cfg: SpoolConfig,
    /// Bases of the segments, oldest first; the last is the one appended to.
    segments: VecDeque<u64>,
    writer: BufWriter<File>,
    /// Logical end of the stream (position of the next append).
    write_pos: u64,
    /// Acknowledged position.
    acked_pos: u64,
    /// Entries between the acknowledged position and the end.
    entries: u64,
    /// Entry sizes (end positions) not yet acknowledged, to count entries on ack.
    entry_ends: VecDeque<u64>,
    cursor: Cursor,
    stats: SpoolStats,
    was_full: bool,
    dirty: bool,
}

fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}{SEGMENT_SUFFIX}"))
}

/// Outcome of decoding one frame from a byte source.
enum Frame {
    Entry {
        topic: OutTopic,
        key: String,
        payload: Vec<u8>,
        len: u64,
    },
    /// Clean end of data.
    End,
    /// Torn or corrupt data.
    Corrupt(&'static str),
}

/// Reads exactly `buf.len()` bytes, or reports how many were there (for a torn tail).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let Some(rest) = buf.get_mut(got..) else {
            break;
        };
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn read_frame(r: &mut impl Read) -> io::Result<Frame> {
    let mut header = [0u8; HEADER_LEN];
    let got = read_full(r, &mut header)?;
    if got == 0 {
        return Ok(Frame::End);
    }
    if got < HEADER_LEN {
        return Ok(Frame::Corrupt("torn frame header"));
    }
    let body_len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([
        header[CRC_OFFSET],
        header[CRC_OFFSET + 1],
        header[CRC_OFFSET + 2],
        header[CRC_OFFSET + 3],
    ]);
    if !(BODY_PREFIX_LEN..=MAX_ENTRY_BODY).contains(&body_len) {
        return Ok(Frame::Corrupt("impossible body length"));
    }
    let mut body = vec![0u8; body_len];
    if read_full(r, &mut body)? < body_len {
        return Ok(Frame::Corrupt("torn body"));
    }
    if crc32fast::hash(&body) != crc {
        return Ok(Frame::Corrupt("CRC mismatch"));
    }
    let Some(topic) = body.first().copied().and_then(topic_from_code) else {
        return Ok(Frame::Corrupt("unknown topic code"));
    };
    let key_len = match body.get(1..BODY_PREFIX_LEN) {
        Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize,
        None => return Ok(Frame::Corrupt("short body")),
    };
    let key_end = BODY_PREFIX_LEN.saturating_add(key_len);
    let Some(key) = body.get(BODY_PREFIX_LEN..key_end) else {
        return Ok(Frame::Corrupt("key length past body"));
    };
    let Ok(key) = String::from_utf8(key.to_vec()) else {
        return Ok(Frame::Corrupt("key not UTF-8"));
    };
    let payload = body.get(key_end..).unwrap_or_default().to_vec();
    Ok(Frame::Entry {
        topic,
        key,
        payload,
        len: (HEADER_LEN + body_len) as u64,
    })
}

impl Spool {
    /// Opens (or creates) the spool in `cfg.dir`, checking what it holds: a torn tail of the
    /// last segment is cut off (counted in `corrupt`, logged).
    pub fn open(cfg: SpoolConfig) -> Result<Spool, SpoolError> {
        let dir = cfg.dir.clone();
        let io_err = |op: &'static str| {
            let dir = dir.clone();
            move |source| SpoolError::Io { dir, op, source }
        };
        fs::create_dir_all(&dir).map_err(io_err("create directory"))?;
        let mut bases: Vec<u64> = Vec::new();
        for ent in fs::read_dir(&dir).map_err(io_err("list directory"))? {
            let ent = ent.map_err(io_err("list directory"))?;
            let name = ent.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(num) = name.strip_suffix(SEGMENT_SUFFIX) {
                if let Ok(base) = num.parse::<u64>() {
                    bases.push(base);
                }
            }
        }
        bases.sort_unstable();

        let pos_path = dir.join(READ_POS_FILE);
        let mut acked_pos = match fs::read(&pos_path) {
            Ok(b) => match <[u8; 8]>::try_from(b.as_slice()) {
                Ok(a) => u64::from_le_bytes(a),
                Err(_) => return Err(SpoolError::BadReadPos { path: pos_path }),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_err("read position")(e)),
        };

        let mut stats = SpoolStats::default();
        // Scan every segment from the acknowledged position: count entries, find the end, cut
        // a torn tail of the last one.
        let mut entry_ends = VecDeque::new();
        let mut write_pos = acked_pos;
        let mut kept: VecDeque<u64> = VecDeque::new();
        let n = bases.len();
        for (i, &base) in bases.iter().enumerate() {
            let path = segment_path(&dir, base);
            let size = fs::metadata(&path).map_err(io_err("stat segment"))?.len();
            let is_last = i + 1 == n;
            if base.saturating_add(size) <= acked_pos && !is_last {
                fs::remove_file(&path).map_err(io_err("remove delivered segment"))?;
                continue;
            }
            let mut r = io::BufReader::new(File::open(&path).map_err(io_err("open segment"))?);
            let mut at = base;
            // Skip entries already acknowledged.
            loop {
                match read_frame(&mut r).map_err(io_err("read segment"))? {
                    Frame::Entry { len, .. } => {
                        at += len;
                        if at > acked_pos {
                            entry_ends.push_back(at);
                        }
                    }
                    Frame::End => break,
                    Frame::Corrupt(why) => {
                        stats.corrupt += 1;
                        if is_last {
                            tracing::warn!(
                                segment = %path.display(), at, why,
                                "spool: torn or corrupt tail cut off; appending after the last good entry"
                            );
                            let f = OpenOptions::new()
                                .write(true)
                                .open(&path)
                                .map_err(io_err("open segment"))?;
                            f.set_len(at - base).map_err(io_err("truncate torn tail"))?;
                            f.sync_all().map_err(io_err("sync segment"))?;
                        } else {
                            tracing::warn!(
                                segment = %path.display(), at, why,
                                "spool: corrupt entry; the rest of this segment is skipped"
                            );
                        }
                        break;
                    }
                }
            }
            write_pos = if is_last {
                at
            } else {
                base.saturating_add(size)
            };
            kept.push_back(base);
        }
        if acked_pos > write_pos {
            acked_pos = write_pos;
        }
        if kept.is_empty() {
            kept.push_back(write_pos);
        }
        // Entries that ended in a skipped corrupt part are not counted; a segment's skipped
        // rest is jumped over by the reader.
        let entries = entry_ends.len() as u64;
        let last = *kept.back().unwrap_or(&write_pos);
        let last_path = segment_path(&dir, last);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&last_path)
            .map_err(io_err("open segment for append"))?;
        let mut spool = Spool {
            cursor: Cursor {
                base: *kept.front().unwrap_or(&last),
                pos: acked_pos,
                file: None,
            },
            cfg,
            segments: kept,
            writer: BufWriter::with_capacity(256 * 1024, file),
            write_pos,
            acked_pos,
            entries,
            entry_ends,
            stats,
            was_full: false,
            dirty: false,
        };
        spool.stats.bytes = spool.write_pos - spool.acked_pos;
        spool.stats.entries = spool.entries;
        if spool.entries > 0 {
            tracing::info!(
                dir = %spool.cfg.dir.display(), entries = spool.entries, bytes = spool.stats.bytes,
                "spool: opened with undelivered entries; they are sent first"
            );
        }
        Ok(spool)
    }

    fn io_err(&self, op: &'static str) -> impl FnOnce(io::Error) -> SpoolError + '_ {
        move |source| SpoolError::Io {
            dir: self.cfg.dir.clone(),
            op,
            source,
        }
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.write_pos == self.acked_pos
    }

    /// Bytes held.
    pub fn used_bytes(&self) -> u64 {
        self.write_pos - self.acked_pos
    }

    pub fn stats(&self) -> SpoolStats {
        self.stats
    }

    /// True when the next append of `extra` bytes would not fit.
    pub fn is_full(&self) -> bool {
        self.used_bytes() >= self.cfg.max_bytes
    }

    /// Appends one entry. Fails with [`SpoolError::Full`] (nothing written) when the spool holds
    /// `max_bytes` already; the first such failure after room was available logs a warning.
    pub fn append(&mut self, topic: OutTopic, key: &str, payload: &[u8]) -> Result<(), SpoolError> {
        let body_len = BODY_PREFIX_LEN + key.len() + payload.len();
        if body_len > MAX_ENTRY_BODY {
            return Err(SpoolError::EntryTooLarge(body_len));
        }
        let frame_len = (HEADER_LEN + body_len) as u64;
        let used = self.used_bytes();
        if used.saturating_add(frame_len) > self.cfg.max_bytes {
            self.stats.full_events += 1;
            if !self.was_full {
                self.was_full = true;
                tracing::warn!(
                    dir = %self.cfg.dir.display(), used, limit = self.cfg.max_bytes,
                    "spool full: consumption pauses until the brokers take messages again"
                );
            }
            return Err(SpoolError::Full {
                used,
                limit: self.cfg.max_bytes,
            });
        }
        self.was_full = false;
        let seg_base = *self.segments.back().unwrap_or(&0);
        if self.write_pos - seg_base >= self.cfg.segment_bytes {
            self.roll()?;
        }
        let key_len = key.len() as u32;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&[topic_code(topic)]);
        crc.update(&key_len.to_le_bytes());
        crc.update(key.as_bytes());
        crc.update(payload);
        let mut head = [0u8; HEADER_LEN + BODY_PREFIX_LEN];
        head[..4].copy_from_slice(&(body_len as u32).to_le_bytes());
        head[CRC_OFFSET..HEADER_LEN].copy_from_slice(&crc.finalize().to_le_bytes());
        head[HEADER_LEN] = topic_code(topic);
        head[HEADER_LEN + 1..].copy_from_slice(&key_len.to_le_bytes());
        let w = &mut self.writer;
        let res = w
            .write_all(&head)
            .and_then(|_| w.write_all(key.as_bytes()))
            .and_then(|_| w.write_all(payload));
        res.map_err(self.io_err("append"))?;
        self.write_pos += frame_len;
        self.entries += 1;
        self.entry_ends.push_back(self.write_pos);
        self.stats.appended += 1;
        self.stats.bytes = self.used_bytes();
        self.stats.entries = self.entries;
        self.dirty = true;
        if self.cfg.fsync == FsyncPolicy::Always {
            self.sync()?;
        }
        Ok(())
    }

    /// Starts a new segment at the current end.
    fn roll(&mut self) -> Result<(), SpoolError> {
        self.sync()?;
        let path = segment_path(&self.cfg.dir, self.write_pos);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(self.io_err("create segment"))?;
        self.writer = BufWriter::with_capacity(256 * 1024, file);
        self.segments.push_back(self.write_pos);
        Ok(())
    }

    /// Writes buffered entries to the file and, unless the policy is `Never`, forces them to
    /// disk.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        if !self.dirty {
            return Ok(());
        }
        self.writer.flush().map_err(self.io_err("flush"))?;
        if self.cfg.fsync != FsyncPolicy::Never {
            self.writer
                .get_ref()
                .sync_data()
                .map_err(self.io_err("fsync"))?;
        }
        self.dirty = false;
        Ok(())
    }

    /// Reads up to `max` entries after the read cursor, in order. Entries read are not gone
    /// until acknowledged; [`Spool::rewind`] reads them again.
    pub fn read(&mut self, max: usize) -> Result<Vec<SpoolEntry>, SpoolError> {
        self.writer.flush().map_err(self.io_err("flush"))?;
        let mut out = Vec::new();
        while out.len() < max && self.cursor.pos < self.write_pos {
            // Which segment holds the cursor: the last base <= pos.
            let seg_idx = self
                .segments
                .iter()
                .rposition(|&b| b <= self.cursor.pos)
                .unwrap_or(0);
            let base = self.segments.get(seg_idx).copied().unwrap_or(0);
            let seg_end = self
                .segments
                .get(seg_idx + 1)
                .copied()
                .unwrap_or(self.write_pos);
            if self.cursor.file.is_none() || self.cursor.base != base {
                let path = segment_path(&self.cfg.dir, base);
                let mut f = File::open(&path).map_err(self.io_err("open segment"))?;
                f.seek(SeekFrom::Start(self.cursor.pos.saturating_sub(base)))
                    .map_err(self.io_err("seek segment"))?;
                self.cursor.file = Some(io::BufReader::with_capacity(256 * 1024, f));
                self.cursor.base = base;
            }
            let Some(r) = self.cursor.file.as_mut() else {
                break;
            };
            let frame = read_frame(r).map_err(|source| SpoolError::Io {
                dir: self.cfg.dir.clone(),
                op: "read segment",
                source,
            })?;
            match frame {
                Frame::Entry {
                    topic,
                    key,
                    payload,
                    len,
                } if self.cursor.pos + len <= seg_end => {
                    self.cursor.pos += len;
                    out.push(SpoolEntry {
                        topic,
                        key,
                        payload,
                        end: self.cursor.pos,
                    });
                }
                Frame::End if seg_end > self.cursor.pos && seg_idx + 1 == self.segments.len() => {
                    // The writer's data is flushed; nothing more yet.
                    break;
                }
                other => {
                    let why = match other {
                        Frame::Corrupt(why) => why,
                        Frame::End => "segment shorter than expected",
                        Frame::Entry { .. } => "entry runs past its segment",
                    };
                    self.stats.corrupt += 1;
                    tracing::warn!(
                        dir = %self.cfg.dir.display(), segment = base, at = self.cursor.pos, why,
                        "spool: corrupt entry; skipping to the next segment"
                    );
                    self.cursor.pos = seg_end;
                    self.cursor.file = None;
                    // Entries that ended in the skipped part are dropped from the count.
                    while self.entry_ends.front().is_some_and(|&e| e <= seg_end) {
                        let Some(e) = self.entry_ends.pop_front() else {
                            break;
                        };
                        if e > self.acked_pos {
                            self.entries = self.entries.saturating_sub(1);
                        }
                    }
                    if seg_idx + 1 == self.segments.len() {
                        // Corruption inside the active segment: start a fresh one after it.
                        self.roll()?;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Moves the read cursor back to the acknowledged position.
    pub fn rewind(&mut self) {
        self.cursor.pos = self.acked_pos;
        self.cursor.file = None;
    }

    /// Acknowledges everything before logical position `end` (an entry's `end`): persisted, so
    /// a restart does not send it again; segments wholly before it are removed.
    pub fn ack(&mut self, end: u64) -> Result<(), SpoolError> {
        let end = end.min(self.write_pos);
        if end <= self.acked_pos {
            return Ok(());
        }
        self.acked_pos = end;
        if self.cursor.pos < end {
            self.cursor.pos = end;
            self.cursor.file = None;
        }
        while self.entry_ends.front().is_some_and(|&e| e <= end) {
            self.entry_ends.pop_front();
            self.entries = self.entries.saturating_sub(1);
            self.stats.acked += 1;
        }
        // Remove segments wholly acknowledged (never the active one).
        while self.segments.len() > 1 {
            let next = self.segments.get(1).copied().unwrap_or(u64::MAX);
            if next > end {
                break;
            }
            if let Some(base) = self.segments.pop_front() {
                let path = segment_path(&self.cfg.dir, base);
                fs::remove_file(&path).map_err(self.io_err("remove delivered segment"))?;
            }
        }
        let tmp = self.cfg.dir.join("read.pos.tmp");
        fs::write(&tmp, end.to_le_bytes()).map_err(self.io_err("write read position"))?;
        fs::rename(&tmp, self.cfg.dir.join(READ_POS_FILE))
            .map_err(self.io_err("rename read position"))?;
        self.stats.bytes = self.used_bytes();
        self.stats.entries = self.entries;
        Ok(())
    }

    /// The directory of the spool.
    pub fn dir(&self) -> &Path {
        &self.cfg.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path) -> SpoolConfig {
        SpoolConfig {
            dir: dir.to_path_buf(),
            max_bytes: 1 << 20,
            segment_bytes: 300,
            fsync: FsyncPolicy::Never,
        }
    }

    fn fill(s: &mut Spool, n: usize) {
        for i in 0..n {
            let topic = OutTopic::ALL[i % 3];
            s.append(
                topic,
                &format!("sub-{i}"),
                format!("payload {i}").as_bytes(),
            )
            .unwrap();
        }
    }

    #[test]
    fn round_trip_keeps_order_topic_key_and_payload_across_segments() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Spool::open(cfg(d.path())).unwrap();
        fill(&mut s, 40);
        assert!(
            s.segments.len() > 2,
            "segments rolled: {}",
            s.segments.len()
        );
        let got = s.read(1000).unwrap();
        assert_eq!(got.len(), 40);
        for (i, e) in got.iter().enumerate() {
            assert_eq!(e.topic, OutTopic::ALL[i % 3]);
            assert_eq!(e.key, format!("sub-{i}"));
            assert_eq!(e.payload, format!("payload {i}").into_bytes());
        }
        assert_eq!(s.stats().entries, 40);
        s.ack(got.last().unwrap().end).unwrap();
        assert!(s.is_empty());
        assert_eq!(s.stats().entries, 0);
        assert_eq!(s.segments.len(), 1, "delivered segments removed");
    }

    #[test]
    fn restart_replays_what_was_not_acked() {
        let d = tempfile::tempdir().unwrap();
        {
            let mut s = Spool::open(cfg(d.path())).unwrap();
            fill(&mut s, 20);
            let got = s.read(7).unwrap();
            s.ack(got[6].end).unwrap();
            // Read further but do not ack: must come back after a restart.
            assert_eq!(s.read(5).unwrap().len(), 5);
            s.sync().unwrap();
        }
        let mut s = Spool::open(cfg(d.path())).unwrap();
        assert_eq!(s.stats().entries, 13);
        let got = s.read(100).unwrap();
        assert_eq!(got.len(), 13);
        assert_eq!(got[0].key, "sub-7");
        assert_eq!(got[12].key, "sub-19");
        // Appending after the restart goes after what was there.
        s.append(OutTopic::Blocked, "late", b"x").unwrap();
        let more = s.read(100).unwrap();
        assert_eq!(more.len(), 1);
        assert_eq!(more[0].key, "late");
    }

    #[test]
    fn rewind_reads_unacked_entries_again() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Spool::open(cfg(d.path())).unwrap();
        fill(&mut s, 5);
        let a = s.read(3).unwrap();
        s.ack(a[0].end).unwrap();
        s.rewind();
        let b = s.read(10).unwrap();
        assert_eq!(b.len(), 4);
        assert_eq!(b[0].key, "sub-1");
    }

    #[test]
    fn torn_tail_is_cut_counted_and_appending_continues() {
        let d = tempfile::tempdir().unwrap();
        let mut c = cfg(d.path());
        c.segment_bytes = 1 << 20;
        {
            let mut s = Spool::open(c.clone()).unwrap();
            fill(&mut s, 3);
            s.sync().unwrap();
        }
        // A crash in the middle of the fourth write: half a frame at the end.
        let seg = segment_path(d.path(), 0);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, 0, 3]).unwrap();
        drop(f);
        let mut s = Spool::open(c).unwrap();
        assert_eq!(s.stats().corrupt, 1);
        assert_eq!(s.stats().entries, 3);
        s.append(OutTopic::Decisions, "after", b"ok").unwrap();
        let got = s.read(10).unwrap();
        let keys: Vec<_> = got.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["sub-0", "sub-1", "sub-2", "after"]);
    }

    #[test]
    fn corrupt_entry_in_old_segment_skips_rest_of_it_without_panic() {
        let d = tempfile::tempdir().unwrap();
        {
            let mut s = Spool::open(cfg(d.path())).unwrap();
            fill(&mut s, 40);
            s.sync().unwrap();
        }
        // Flip a payload byte of the second entry of the first segment.
        let seg = segment_path(d.path(), 0);
        let mut bytes = fs::read(&seg).unwrap();
        let first_len = HEADER_LEN + BODY_PREFIX_LEN + "sub-0".len() + "payload 0".len();
        let i = first_len + HEADER_LEN + 3;
        bytes[i] ^= 0xff;
        fs::write(&seg, &bytes).unwrap();
        let mut s = Spool::open(cfg(d.path())).unwrap();
        let got = s.read(1000).unwrap();
        assert_eq!(got[0].key, "sub-0");
        assert!(got.len() < 39 && got.len() > 25, "got {}", got.len());
        assert!(s.stats().corrupt >= 1);
        assert_eq!(got.last().unwrap().key, "sub-39");
    }

    #[test]
    fn full_spool_refuses_append_and_accepts_again_after_ack() {
        let d = tempfile::tempdir().unwrap();
        let mut c = cfg(d.path());
        c.max_bytes = 200;
        let mut s = Spool::open(c).unwrap();
        let mut n = 0;
        let err = loop {
            match s.append(OutTopic::Decisions, "k", &[7u8; 30]) {
                Ok(()) => n += 1,
                Err(e) => break e,
            }
        };
        assert!(matches!(err, SpoolError::Full { .. }), "{err}");
        assert_eq!(n, 4);
        assert_eq!(s.stats().full_events, 1);
        assert!(s.append(OutTopic::Decisions, "k", &[7u8; 30]).is_err());
        assert_eq!(s.stats().full_events, 2);
        let got = s.read(2).unwrap();
        assert_eq!(got.len(), 2);
        s.ack(got[1].end).unwrap();
        s.append(OutTopic::Decisions, "k", &[7u8; 30]).unwrap();
        assert_eq!(s.stats().entries, 3);
    }

    #[test]
    fn garbage_files_do_not_panic_open() {
        let d = tempfile::tempdir().unwrap();
        fs::write(segment_path(d.path(), 0), [0xffu8; 100]).unwrap();
        let mut s = Spool::open(cfg(d.path())).unwrap();
        assert_eq!(s.stats().corrupt, 1);
        assert!(s.is_empty());
        assert!(s.read(10).unwrap().is_empty());
    }
}
