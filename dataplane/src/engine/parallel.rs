//! The parallel engine: one dispatcher and N workers.
//!
//! The dispatcher walks the memory-mapped captures in order, decodes each frame down to its
//! innermost flow, runs the DNS tap, hashes the 5-tuple symmetrically (both directions alike)
//! and appends the decoded packet to a batch for the worker that owns the flow. Batches travel over bounded crossbeam channels
//! and come back empty for reuse, so the steady state allocates nothing. A packet's bytes are
//! never copied: they stay in the mapping, which outlives the scoped worker threads (the one
//! exception is a datagram reassembled from IP fragments, copied once).
//!
//! A worker with no batch waiting maps in the capture's pages a few MB ahead of the dispatcher
//! ([`FaultAhead`]), so that the kernel's page faults, much of the cost of walking a mapped
//! capture, do not fall on the one thread every packet passes through.
//!
//! When the policy in force counts quotas, all flows of a listed subscriber go to one worker
//! (chosen by the subscriber, not the flow): quota minutes are shared by a subscriber's flows,
//! and one worker sees them in packet order, so a replay decides quotas the same way whatever
//! the number of workers.
//!
//! A flow is owned by exactly one worker for its life, so flow state needs no lock; each worker
//! counts into its own counters, summed at the end, and hands the flows it ends to the sink on
//! its own thread.

use super::counters::Counters;
use super::enforce::{Enforcer, Rules};
use super::replay::{ReplayConfig, ReplaySink, TICK_PACKETS};
use super::worker::{Worker, WorkerConfig};
use crate::capture::Capture;
use crate::decode::{Decoder, Packet};
use crate::flow::dns_cache::DnsCache;
use crate::flow::{EndReason, Flow};
use crate::policy::SubscriberRef;
use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Packets per batch.
const BATCH: usize = 256;
/// Batches in flight per worker.
const QUEUE: usize = 16;
/// Bytes of capture a waiting worker maps in at a time, and how far ahead of the dispatcher
/// workers map in pages at most.
const FAULT_CHUNK: usize = 256 << 10;
const FAULT_AHEAD: usize = 8 << 20;
/// Packets between two reports of the dispatcher's position to [`FaultAhead`].
const POSITION_EVERY: u32 = 256;

/// One packet handed to a worker.
struct Item<'a> {
    ts_ns: u64,
    orig_len: u32,
    packet: Packet<'a>,
    /// The payload when it is not inside its frame (reassembled from fragments).
    owned: Option<Box<[u8]>>,
}

type Batch<'a> = Vec<Item<'a>>;

/// Replays `captures` with `config.workers` workers; see the module documentation.
pub fn run<'a>(captures: &'a [Capture], config: &ReplayConfig, sink: &impl ReplaySink) -> Counters {
    let workers = config.workers.max(1);
    let dns = Arc::new(DnsCache::new(config.worker.dns_cache_entries));
    let ahead = FaultAhead::new(captures);
    std::thread::scope(|scope| {
        let mut lanes = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx, rx) = bounded::<Batch<'a>>(QUEUE);
            let (back_tx, back_rx) = bounded::<Batch<'a>>(QUEUE + 2);
            let dns = Arc::clone(&dns);
            let (worker, enforcer) = (config.worker, config.enforcer.clone());
            let ahead = &ahead;
            handles
                .push(scope.spawn(move || work(worker, enforcer, dns, rx, back_tx, ahead, sink)));
            lanes.push(Lane {
                tx,
                back: back_rx,
                batch: Vec::with_capacity(BATCH),
            });
        }
        let mut counters = dispatch(
            captures,
            &mut lanes,
            &dns,
            config.enforcer.as_deref(),
            &ahead,
            sink,
        );
        drop(lanes);
        for h in handles {
            match h.join() {
                Ok(c) => counters.merge(&c),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        let total = captures.iter().map(|c| c.len() as u64).sum();
        sink.tick(total, total);
        counters
    })
}

struct Lane<'a> {
    tx: Sender<Batch<'a>>,
    back: Receiver<Batch<'a>>,
    batch: Batch<'a>,
}

impl<'a> Lane<'a> {
    #[inline]
    fn push(&mut self, item: Item<'a>) {
        self.batch.push(item);
        if self.batch.len() == BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let spare = match self.back.try_recv() {
            Ok(b) => b,
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => Vec::with_capacity(BATCH),
        };
        let full = std::mem::replace(&mut self.batch, spare);
        // A worker only stops when its channel closes, so a send cannot fail while it runs;
        // if it died, its panic is raised when it is joined.
        let _ = self.tx.send(full);
    }
}

fn dispatch<'a>(
    captures: &'a [Capture],
    lanes: &mut [Lane<'a>],
    dns: &DnsCache,
    enforcer: Option<&Enforcer>,
    ahead: &FaultAhead<'_>,
    sink: &impl ReplaySink,
) -> Counters {
    let mut affinity = Affinity::new(enforcer);
    let mut counters = Counters::default();
    let mut decoder = Decoder::default();
    let n = lanes.len() as u64;
    let total: u64 = captures.iter().map(|c| c.len() as u64).sum();
    let mut done = 0u64;
    let mut seen = 0u32;
    for capture in captures {
        let mut packets = capture.packets();
        while let Some(item) = packets.next() {
            seen = seen.wrapping_add(1);
            if seen.is_multiple_of(POSITION_EVERY) {
                ahead.reached(done as usize + packets.offset());
                if seen.is_multiple_of(TICK_PACKETS) {
                    sink.tick(done + packets.offset() as u64, total);
                }
            }
            let raw = match item {
                Ok(raw) => raw,
                Err(skip) => {
                    counters.count(skip.as_str());
                    continue;
                }
            };
            let packet = match decoder.decode(raw.ts_ns, raw.link, raw.data) {
                Ok(p) => p,
                Err(e) => {
                    counters.packets += 1;
                    counters.bytes += u64::from(raw.orig_len);
                    counters.count(e.reason());
                    continue;
                }
            };
            super::dns_tap::tap(&packet, raw.ts_ns, dns);
            let lane = (affinity.lane_hash(&packet) % n) as usize;
            let item = match rebase(&packet, raw.data) {
                Some(payload) => Item {
                    ts_ns: raw.ts_ns,
                    orig_len: raw.orig_len,
                    packet: Packet { payload, ..packet },
                    owned: None,
                },
                None => Item {
                    ts_ns: raw.ts_ns,
                    orig_len: raw.orig_len,
                    packet: Packet {
                        payload: &[],
                        ..packet
                    },
                    owned: Some(packet.payload.into()),
                },
            };
            lanes[lane].push(item);
        }
        done += capture.len() as u64;
    }
    for lane in lanes.iter_mut() {
        lane.flush();
    }
    counters
}

/// How packets are spread over workers: by flow, or, when the policy counts quotas, by listed
/// subscriber.
struct Affinity<'e> {
    enforcer: Option<&'e Enforcer>,
    /// The rules last loaded, when their policy counts quotas.
    rules: Option<Arc<Rules>>,
    epoch: u64,
}

impl<'e> Affinity<'e> {
    fn new(enforcer: Option<&'e Enforcer>) -> Affinity<'e> {
        let mut a = Affinity {
            enforcer,
            rules: None,
            epoch: 0,
        };
        a.reload();
        a
    }

    fn reload(&mut self) {
        let Some(e) = self.enforcer else { return };
        let rules = e.rules();
        self.epoch = rules.epoch;
        let quotas = rules
            .policy
            .as_ref()
            .is_some_and(|s| s.policy.tracks_quotas());
        self.rules = quotas.then_some(rules);
    }

    /// The same for both directions of a flow, and for every flow of a listed subscriber when
    /// quotas are counted.
    #[inline]
    fn lane_hash(&mut self, p: &Packet<'_>) -> u64 {
        if let Some(e) = self.enforcer {
            if e.epoch() != self.epoch {
                self.reload();
            }
        }
        let Some(state) = self.rules.as_ref().and_then(|r| r.policy.as_ref()) else {
            return lane_hash(p);
        };
        let by = |ip| state.policy.subscriber_for(ip, p.teid);
        match (by(p.src), by(p.dst)) {
            (SubscriberRef::Listed(a), SubscriberRef::Default)
            | (SubscriberRef::Default, SubscriberRef::Listed(a)) => mix(u64::from(a)),
            (SubscriberRef::Listed(a), SubscriberRef::Listed(b)) if a == b => mix(u64::from(a)),
            _ => lane_hash(p),
        }
    }
}

/// A cheap hash that is the same for both directions of a flow: it only chooses the worker
/// (the worker's table hashes the full key itself).
#[inline]
fn lane_hash(p: &Packet<'_>) -> u64 {
    fn fold(ip: std::net::IpAddr) -> u64 {
        match ip {
            std::net::IpAddr::V4(a) => u64::from(u32::from(a)),
            std::net::IpAddr::V6(a) => {
                let x = u128::from(a);
                (x as u64) ^ ((x >> 64) as u64)
            }
        }
    }
    mix(fold(p.src) ^ fold(p.dst) ^ (u64::from(p.src_port ^ p.dst_port) << 32))
}

/// A multiplicative mix that spreads `x` over all bits before a modulo.
#[inline]
fn mix(x: u64) -> u64 {
    (x ^ (x >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 16
}

/// `payload` re-borrowed from `frame` with the frame's lifetime, when it lies inside it.
fn rebase<'a>(packet: &Packet<'_>, frame: &'a [u8]) -> Option<&'a [u8]> {
    let start = (packet.payload.as_ptr() as usize).checked_sub(frame.as_ptr() as usize)?;
    frame.get(start..start.checked_add(packet.payload.len())?)
}

/// Page faults of the mapped captures, taken by waiting workers ahead of the dispatcher: walking
/// a capture is the dispatcher's work, the one part of a replay that does not spread over
/// workers, and faulting the mapping in (the kernel maps a file's pages as they are first
/// touched) is much of it. The captures count as one run of bytes, laid end to end.
struct FaultAhead<'a> {
    captures: &'a [Capture],
    total: usize,
    /// Where the dispatcher is.
    reader: AtomicUsize,
    /// Where the pages not yet claimed by a worker start.
    claimed: AtomicUsize,
}

impl<'a> FaultAhead<'a> {
    fn new(captures: &'a [Capture]) -> FaultAhead<'a> {
        FaultAhead {
            captures,
            total: captures.iter().map(Capture::len).sum(),
            reader: AtomicUsize::new(0),
            claimed: AtomicUsize::new(0),
        }
    }

    /// The dispatcher has read up to `position`.
    fn reached(&self, position: usize) {
        self.reader.store(position, Ordering::Relaxed);
    }

    /// Maps in the next chunk ahead of the dispatcher, if one is within reach; returns whether
    /// there was one.
    fn step(&self) -> bool {
        let reader = self.reader.load(Ordering::Relaxed);
        // Pages the dispatcher has passed are mapped already.
        let start = self
            .claimed
            .fetch_max(reader, Ordering::Relaxed)
            .max(reader);
        if start >= self.total || start >= reader.saturating_add(FAULT_AHEAD) {
            return false;
        }
        let end = start.saturating_add(FAULT_CHUNK).min(self.total);
        if self
            .claimed
            .compare_exchange(start, end, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return true; // another worker took it: there may be more
        }
        let mut base = 0;
        for c in self.captures {
            let len = c.len();
            if start < base + len && end > base {
                c.fault_in(start.saturating_sub(base)..end - base);
            }
            base += len;
        }
        true
    }
}

fn work<'a>(
    config: WorkerConfig,
    enforcer: Option<Arc<Enforcer>>,
    dns: Arc<DnsCache>,
    rx: Receiver<Batch<'a>>,
    back: Sender<Batch<'a>>,
    ahead: &FaultAhead<'_>,
    sink: &impl ReplaySink,
) -> Counters {
    let mut worker = Worker::with_shared_dns(config, dns, false);
    if let Some(e) = enforcer {
        worker = worker.with_enforcer(e);
    }
    loop {
        // With no batch waiting, map in the capture ahead of the dispatcher, then wait.
        let mut batch = match rx.try_recv() {
            Ok(b) => b,
            Err(TryRecvError::Empty) if ahead.step() => continue,
            Err(TryRecvError::Empty) => match rx.recv() {
                Ok(b) => b,
                Err(_) => break,
            },
            Err(TryRecvError::Disconnected) => break,
        };
        // Read in place (an item is about 100 bytes: moving each out costs a copy).
        for item in &batch {
            let mut ended = |f: Flow, r: EndReason| sink.flow_ended(f, r);
            match &item.owned {
                None => worker.process_decoded(item.ts_ns, item.orig_len, &item.packet, &mut ended),
                Some(bytes) => {
                    let packet = Packet {
                        payload: bytes,
                        ..item.packet
                    };
                    worker.process_decoded(item.ts_ns, item.orig_len, &packet, &mut ended);
                }
            }
        }
        batch.clear();
        // The dispatcher may have stopped taking batches back; then this one is dropped.
        let _ = back.try_send(batch);
    }
    worker.finish(&mut |f, r| sink.flow_ended(f, r));
    worker.counters().clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pcap file header (little-endian, Ethernet) followed by zeros up to `len` bytes.
    fn capture(len: usize) -> Capture {
        let mut bytes = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&262_144u32.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.resize(len, 0);
        Capture::from_bytes("test", bytes).expect("a pcap header")
    }

    fn steps(ahead: &FaultAhead<'_>) -> usize {
        let mut n = 0;
        while ahead.step() {
            n += 1;
            assert!(n < 10_000, "step never stops");
        }
        n
    }

    #[test]
    fn waiting_workers_map_in_chunks_ahead_of_the_dispatcher_and_no_further() {
        let captures = [capture(3 * FAULT_CHUNK), capture(FAULT_AHEAD)];
        let total = 3 * FAULT_CHUNK + FAULT_AHEAD;
        let ahead = FaultAhead::new(&captures);
        assert_eq!(steps(&ahead), FAULT_AHEAD / FAULT_CHUNK, "up to the reach");
        ahead.reached(2 * FAULT_CHUNK);
        assert_eq!(steps(&ahead), 2, "the reach moved two chunks");
        // A dispatcher that got ahead of the claims: nothing behind it is mapped again.
        ahead.reached(total - FAULT_CHUNK / 2);
        assert_eq!(steps(&ahead), 1, "only what is left of the last chunk");
        assert_eq!(ahead.claimed.load(Ordering::Relaxed), total);
        assert!(!ahead.step());
    }
}
