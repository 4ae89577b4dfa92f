//! The parallel engine: a dispatcher and N workers on N threads.
//!
//! The dispatcher walks the memory-mapped captures in order, decodes each frame down to its
//! innermost flow, runs the DNS tap, hashes the 5-tuple symmetrically (both directions alike)
//! and gives the decoded packet to the worker that owns the flow. Every DNS answer goes to every
//! worker, in line with its packets: each worker learns it before the packets that came after
//! it, so its own answer cache is what one worker seeing every packet would have had. Worker 0
//! runs on the dispatcher's own thread, which works its packets at once; the other workers have
//! a thread each, and get their packets in batches over bounded crossbeam channels that come
//! back empty for reuse, so the steady state allocates nothing. A packet's bytes are never
//! copied: they stay in the mapping, which outlives the scoped worker threads (the one exception
//! is a datagram reassembled from IP fragments, copied once).
//!
//! The dispatcher's thread is the busiest, so its worker owns fewer flows than the others
//! ([`Spread`]): with two threads 15 % of them, and with three or more none (the dispatcher
//! alone then has about as much to do as each other thread). One thread per core keeps every
//! core busy: with a dispatcher besides two workers on two cores, a worker that was woken up
//! often waited behind the dispatcher on one core while the other idled, and two threads
//! replay the benchmark capture 8-20 % faster than three did (benches/README.md). For the same
//! reason, when there is a thread for every CPU, each is kept on a CPU of its own
//! ([`super::cores`]).
//!
//! The kernel's work on the mapping is spread over worker threads ([`Window`]): a worker with
//! no batch waiting maps in the capture's pages a few MB ahead of the dispatcher, so that page
//! faults, much of the cost of walking a mapped capture, do not fall on the one thread every
//! packet passes through; and the pages every worker is done with are unmapped, so that the
//! process's resident memory stays small whatever the capture's size and unmapping it does not
//! fall on the end of the replay. Every 32 MB the dispatcher sends each worker thread a batch
//! marked with its position: a worker that has worked a marked batch is done with everything
//! before the mark (worker 0 never lags behind the dispatcher), and unmaps what every worker is
//! done with.
//!
//! When the policy in force counts quotas, all flows of a listed subscriber go to one worker
//! (chosen by the subscriber, not the flow): quota minutes are shared by a subscriber's flows,
//! and one worker sees them in packet order, so a replay decides quotas the same way whatever
//! the number of workers. The subscriber is found as the policy finds a flow's
//! ([`crate::policy::Policy::subscriber_of_flow`]): the TEID, else whichever end is a listed
//! line's, so a connection to a child's phone goes where the phone's own connections go. A
//! flow between two different listed lines (UE to UE) cannot be placed by both: it goes by the
//! flow, and is the one case whose quota minutes may count in another order with more workers.
//!
//! A flow is owned by exactly one worker for its life, so flow state needs no lock; each worker
//! counts into its own counters, summed at the end, and hands the flows it ends to the sink on
//! its own thread.

use super::cores::{self, Pin};
use super::counters::Counters;
use super::enforce::{Enforcer, Rules};
use super::replay::{ReplayConfig, ReplaySink, TICK_PACKETS};
use super::window::{Window, RELEASE_EVERY};
use super::worker::Worker;
use crate::capture::Capture;
use crate::decode::{Decoder, Packet};
use crate::flow::dns_cache::Resolved;
use crate::flow::{EndReason, Flow};
use crate::policy::SubscriberRef;
use crate::streamed::Streamed;
use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError};
use std::sync::Arc;

/// The dispatcher's work per packet (walk, decode, DNS tap, hand-over) as a share of a
/// worker's, in tenths. It sets how many flows the dispatcher's own worker takes ([`Spread`]):
/// with 7, 15 % of them with two threads. On the benchmark capture 15 % was among the fastest
/// shares in every state of the page cache (benches/README.md): two workers took 6 % less time
/// than with a fifth on a fresh capture, 9 % less on one read back in order, and the same where
/// mapping pages in costs more (there anything from 10 to 35 % did about as well).
const DISPATCH_COST_TENTHS: u64 = 7;
/// Hash buckets that [`Spread`] deals out.
const BUCKETS: u64 = 1024;
/// Packets per batch.
const BATCH: usize = 256;
/// Batches in flight per worker.
const QUEUE: usize = 16;
/// Packets between two reports of the dispatcher's position to [`Window`].
const POSITION_EVERY: u32 = 256;

/// One packet handed to a worker.
struct Item<'a> {
    ts_ns: u64,
    orig_len: u32,
    packet: Packet<'a>,
    /// The payload when it is not inside its frame (reassembled from fragments).
    owned: Option<Box<[u8]>>,
}

/// Packets for one worker, in capture order.
struct Batch<'a> {
    items: Vec<Item<'a>>,
    /// DNS answers, each with the number of this batch's items that come before it: the worker
    /// learns each before it works the items after it, as one worker seeing every packet would.
    answers: Vec<(usize, Resolved)>,
    /// Set on the batch sent to every worker at a mark: the dispatcher's position then. Every
    /// packet of this worker before that position is in this batch or an earlier one.
    mark: Option<usize>,
}

/// Replays `captures` with `config.workers` workers (at least 2) on as many threads; see the
/// module documentation.
pub fn run<'a>(captures: &'a [Capture], config: &ReplayConfig, sink: &impl ReplaySink) -> Counters {
    let spread = Spread::new(config.workers);
    let threads = spread.threads as usize;
    let window = Window::new(captures, threads);
    // The CPU of each thread: the dispatcher's first, then the worker threads' in order.
    let cpus = cores::plan(config.placement, threads + 1);
    let cpu = |thread: usize| cpus.as_ref().map(|c| c[thread]);
    let worker = || {
        let w = Worker::told_answers(config.worker);
        match &config.enforcer {
            Some(e) => w.with_enforcer(Arc::clone(e)),
            None => w,
        }
    };
    std::thread::scope(|scope| {
        let mut lanes = Vec::with_capacity(threads);
        let mut handles = Vec::with_capacity(threads);
        for index in 0..threads {
            let (tx, rx) = bounded::<Batch<'a>>(QUEUE);
            let (back_tx, back_rx) = bounded::<Batch<'a>>(QUEUE + 2);
            let worker = worker();
            let window = &window;
            let cpu = cpu(index + 1);
            handles.push(scope.spawn(move || {
                let pin = cpu.and_then(Pin::current_thread);
                let mut counters = work(index, worker, rx, back_tx, window, sink);
                counters.threads = 1;
                counters.pinned_threads = u64::from(pin.is_some());
                counters
            }));
            lanes.push(Lane::new(tx, back_rx));
        }
        let pin = cpu(0).and_then(Pin::current_thread);
        let mut own = (spread.own > 0).then(worker);
        let mut counters = dispatch(
            captures,
            &spread,
            own.as_mut(),
            &mut lanes,
            config.enforcer.as_deref(),
            &window,
            sink,
        );
        drop(lanes);
        counters.threads = 1;
        counters.pinned_threads = u64::from(pin.is_some());
        // The calling thread runs where it did before once its part is done.
        drop(pin);
        if let Some(mut w) = own {
            w.finish(&mut |f, r| sink.flow_ended(f, r));
            counters.merge(w.counters());
        }
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

/// Which worker owns a flow, from its lane hash: the dispatcher's own worker takes `own` of
/// every [`BUCKETS`] buckets, and the worker threads share the others evenly.
///
/// With n threads, each worker thread's load is what the dispatcher's own worker does not
/// take, split n - 1 ways, and the dispatcher's thread carries its own work besides
/// ([`DISPATCH_COST_TENTHS`] of a worker's per packet). The two are equal when the
/// dispatcher's worker takes (1 - (n - 1) * cost) / n of the flows: 15 % with 2 threads,
/// none with 3 or more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Spread {
    /// Buckets the dispatcher's own worker owns.
    own: u64,
    /// Worker threads besides the dispatcher.
    threads: u64,
}

impl Spread {
    fn new(workers: usize) -> Spread {
        let n = workers.max(2) as u64;
        let spare_tenths = 10u64.saturating_sub((n - 1) * DISPATCH_COST_TENTHS);
        Spread {
            own: BUCKETS * spare_tenths / (10 * n),
            threads: n - 1,
        }
    }

    /// The owner of a flow whose lane hash is `h`: `None` for the dispatcher's own worker, else
    /// the index of a worker thread.
    #[inline]
    fn owner(&self, h: u64) -> Option<usize> {
        if h % BUCKETS < self.own {
            return None;
        }
        Some(((h / BUCKETS) % self.threads) as usize)
    }
}

/// The dispatcher's end of a worker thread's channels, with the batch being filled. Items are
/// written with non-temporal stores ([`Streamed`]): the batches come back from the worker, and
/// ordinary stores would first fetch each line back from the worker's cache.
struct Lane<'a> {
    tx: Sender<Batch<'a>>,
    back: Receiver<Batch<'a>>,
    items: Streamed<Item<'a>>,
    answers: Vec<(usize, Resolved)>,
}

impl<'a> Lane<'a> {
    fn new(tx: Sender<Batch<'a>>, back: Receiver<Batch<'a>>) -> Lane<'a> {
        Lane {
            tx,
            back,
            items: Streamed::new(Vec::with_capacity(BATCH)),
            answers: Vec::new(),
        }
    }

    /// A DNS answer, for the worker to learn before the packets pushed after it.
    fn learn(&mut self, answer: Resolved) {
        self.answers.push((self.items.len(), answer));
    }

    #[inline]
    fn push(&mut self, item: Item<'a>) {
        self.items.push(item);
        if self.items.len() == BATCH {
            self.flush();
        }
    }

    /// Sends the batch being filled, if it holds packets or answers.
    fn flush(&mut self) {
        if !self.items.is_empty() || !self.answers.is_empty() {
            self.send(None);
        }
    }

    /// Sends the batch being filled (empty or not) marked with the dispatcher's `position`.
    fn mark(&mut self, position: usize) {
        self.send(Some(position));
    }

    fn send(&mut self, mark: Option<usize>) {
        let spare = match self.back.try_recv() {
            Ok(b) => b,
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => Batch {
                items: Vec::with_capacity(BATCH),
                answers: Vec::new(),
                mark: None,
            },
        };
        let full = Batch {
            items: self.items.publish(),
            answers: std::mem::replace(&mut self.answers, spare.answers),
            mark,
        };
        self.items = Streamed::new(spare.items);
        // A worker only stops when its channel closes, so a send cannot fail while it runs;
        // if it died, its panic is raised when it is joined.
        let _ = self.tx.send(full);
    }
}

#[allow(clippy::too_many_arguments)]
fn dispatch<'a>(
    captures: &'a [Capture],
    spread: &Spread,
    mut own: Option<&mut Worker>,
    lanes: &mut [Lane<'a>],
    enforcer: Option<&Enforcer>,
    window: &Window<'_>,
    sink: &impl ReplaySink,
) -> Counters {
    let mut affinity = Affinity::new(enforcer);
    let mut counters = Counters::default();
    let mut decoder = Decoder::default();
    let total: u64 = captures.iter().map(|c| c.len() as u64).sum();
    let mut done = 0u64;
    let mut seen = 0u32;
    let mut next_mark = RELEASE_EVERY;
    for capture in captures {
        let mut packets = capture.packets();
        loop {
            seen = seen.wrapping_add(1);
            if seen.is_multiple_of(POSITION_EVERY) {
                // Where the next record starts: every packet handed out so far lies before it.
                let position = done as usize + packets.offset();
                window.reached(position);
                if position >= next_mark {
                    for lane in lanes.iter_mut() {
                        lane.mark(position);
                    }
                    next_mark = position + RELEASE_EVERY;
                }
                if seen.is_multiple_of(TICK_PACKETS) {
                    sink.tick(position as u64, total);
                }
            }
            let Some(item) = packets.next() else { break };
            let raw = match item {
                Ok(raw) => raw,
                Err(skip) => {
                    counters.count(skip.as_str());
                    continue;
                }
            };
            let packet = match decoder.decode_frame(raw.ts_ns, raw.link, raw.data, raw.orig_len) {
                Ok(p) => p,
                Err(e) => {
                    counters.packets += 1;
                    counters.bytes += u64::from(raw.orig_len);
                    counters.count_decode_error(e);
                    continue;
                }
            };
            super::dns_tap::tap(&packet, raw.ts_ns, |answer| {
                for lane in lanes.iter_mut() {
                    lane.learn(answer.clone());
                }
                if let Some(worker) = own.as_deref_mut() {
                    worker.learn(answer);
                }
            });
            let lane = match (
                spread.owner(affinity.lane_hash(&packet)),
                own.as_deref_mut(),
            ) {
                (Some(lane), _) => lane,
                (None, Some(worker)) => {
                    worker.process_decoded(raw.ts_ns, raw.orig_len, &packet, &mut |f, r| {
                        sink.flow_ended(f, r)
                    });
                    continue;
                }
                // `own` is set whenever the spread gives it flows.
                (None, None) => 0,
            };
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
    /// quotas are counted: by the TEID or whichever end is a listed line's.
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

/// Worker `index`'s thread: works the batches `rx` brings, and sends them `back` empty.
fn work<'a>(
    index: usize,
    mut worker: Worker,
    rx: Receiver<Batch<'a>>,
    back: Sender<Batch<'a>>,
    window: &Window<'_>,
    sink: &impl ReplaySink,
) -> Counters {
    loop {
        // With no batch waiting, keep the mapped window, then wait.
        let mut batch = match rx.try_recv() {
            Ok(b) => b,
            Err(TryRecvError::Empty) if window.step() => continue,
            Err(TryRecvError::Empty) => match rx.recv() {
                Ok(b) => b,
                Err(_) => break,
            },
            Err(TryRecvError::Disconnected) => break,
        };
        // The items before each answer, then the answer, and so on.
        let mut from = 0;
        for (at, answer) in batch.answers.drain(..) {
            work_items(
                &mut worker,
                batch.items.get(from..at).unwrap_or_default(),
                sink,
            );
            worker.learn(answer);
            from = at;
        }
        work_items(
            &mut worker,
            batch.items.get(from..).unwrap_or_default(),
            sink,
        );
        batch.items.clear();
        // The dispatcher may have stopped taking batches back; then this one is dropped.
        let mark = batch.mark.take();
        let _ = back.try_send(batch);
        if let Some(position) = mark {
            window.passed(index, position);
            // A busy worker is seldom waiting: unmap now what every worker is done with, so
            // that resident memory stays small when no worker has time to spare.
            while window.release_behind() {}
        }
    }
    worker.finish(&mut |f, r| sink.flow_ended(f, r));
    worker.counters().clone()
}

/// Works `items` in order, read in place (an item is about 100 bytes: moving each out costs a
/// copy).
fn work_items(worker: &mut Worker, items: &[Item<'_>], sink: &impl ReplaySink) {
    let mut ended = |f: Flow, r: EndReason| sink.flow_ended(f, r);
    for item in items {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shares of `BUCKETS * 64` spread hashes that go to the dispatcher's worker and to each
    /// worker thread.
    fn shares(workers: usize) -> (u64, Vec<u64>) {
        let spread = Spread::new(workers);
        let mut own = 0;
        let mut threads = vec![0; spread.threads as usize];
        for i in 0..BUCKETS * 64 {
            match spread.owner(mix(i)) {
                None => own += 1,
                Some(t) => threads[t] += 1,
            }
        }
        (own, threads)
    }

    #[test]
    fn with_two_threads_the_dispatcher_works_15_percent_of_the_flows() {
        let (own, threads) = shares(2);
        let all = BUCKETS * 64;
        assert!(own.abs_diff(all * 15 / 100) < all / 50, "{own} of {all}");
        assert_eq!(threads.len(), 1);
        assert_eq!(own + threads[0], all);
    }

    #[test]
    fn with_more_threads_the_dispatcher_only_dispatches_and_threads_share_evenly() {
        for workers in [3, 4, 8] {
            let (own, threads) = shares(workers);
            assert_eq!(own, 0, "{workers} workers");
            assert_eq!(threads.len(), workers - 1);
            let even = BUCKETS * 64 / (workers as u64 - 1);
            for t in threads {
                assert!(t.abs_diff(even) < even / 20, "{t} against {even}");
            }
        }
    }
}
