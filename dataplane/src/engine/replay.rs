//! Replaying capture files through the engine: the loop that `pcgate replay`, the corpus test
//! and the benchmarks share. Damage inside a capture is counted and reading goes on; only a file
//! that cannot be opened at all is an error.

use super::cores::Placement;
use super::enforce::Enforcer;
use super::{parallel, Counters, Worker, WorkerConfig};
use crate::capture::{Capture, CaptureError};
use crate::flow::{EndReason, Flow};
use std::path::Path;
use std::sync::Arc;

/// Packets between two calls of [`ReplaySink::tick`].
pub(crate) const TICK_PACKETS: u32 = 65_536;

/// How to replay.
#[derive(Clone, Debug, Default)]
pub struct ReplayConfig {
    /// Workers, each with its own flow table, on as many threads: the calling thread
    /// dispatches packets and runs one of them. 0 or 1 runs everything on the calling thread.
    pub workers: usize,
    pub worker: WorkerConfig,
    /// Decide flows with these rules; `None` only names them.
    pub enforcer: Option<Arc<Enforcer>>,
    /// Whether the parallel engine keeps each of its threads on a CPU of its own.
    pub placement: Placement,
}

/// Where a replay's results go. Shared by the workers: a flow's end is handed over on the
/// thread of the worker that owned the flow (once per flow, never per packet), so that thread
/// also formats and frees it; `tick` runs on the replaying thread.
pub trait ReplaySink: Sync {
    /// A flow ended (idle, closed, reused, or end of input).
    fn flow_ended(&self, flow: Flow, reason: EndReason);

    /// Called every so often and once at the end: bytes of capture read so far and in all. A
    /// place to drain queues and move a progress bar.
    fn tick(&self, _done: u64, _total: u64) {}
}

/// Replays `paths` in order as one stream of packets (flows continue across files). With more
/// than one worker the parallel engine runs; the flows and counters are the same whatever the
/// number of workers (only the order in which flows end may differ).
pub fn replay_files(
    paths: &[&Path],
    config: &ReplayConfig,
    sink: &impl ReplaySink,
) -> Result<Counters, CaptureError> {
    let captures = paths
        .iter()
        .map(|p| Capture::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut counters = if config.workers > 1 {
        parallel::run(&captures, config, sink)
    } else {
        replay_on_this_thread(&captures, config, sink)
    };
    counters.reasons.sort();
    Ok(counters)
}

fn replay_on_this_thread(
    captures: &[Capture],
    config: &ReplayConfig,
    sink: &impl ReplaySink,
) -> Counters {
    let total: u64 = captures.iter().map(|c| c.len() as u64).sum();
    let mut worker = Worker::new(config.worker);
    if let Some(e) = &config.enforcer {
        worker = worker.with_enforcer(e.clone());
    }
    let mut done = 0u64;
    for capture in captures {
        let mut packets = capture.packets();
        let mut n = 0u32;
        while let Some(item) = packets.next() {
            match item {
                Ok(raw) => worker.process(&raw, &mut |f, r| sink.flow_ended(f, r)),
                Err(skip) => worker.count_skip(skip.as_str()),
            }
            n = n.wrapping_add(1);
            if n.is_multiple_of(TICK_PACKETS) {
                let offset = packets.offset();
                sink.tick(done + offset as u64, total);
                // Nothing before here is read again: keep the resident memory small.
                capture.release_before(offset);
            }
        }
        done += capture.len() as u64;
    }
    worker.finish(&mut |f, r| sink.flow_ended(f, r));
    sink.tick(total, total);
    let mut counters = worker.counters().clone();
    counters.threads = 1;
    counters
}
