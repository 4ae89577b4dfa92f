//! Replaying capture files through one [`Worker`]: the loop that `pcgate replay`, the corpus test
//! and the benchmarks share. Damage inside a capture is counted and reading goes on; only a file
//! that cannot be opened at all is an error.

use super::{Counters, Worker, WorkerConfig};
use crate::capture::{Capture, CaptureError};
use crate::flow::{EndReason, Flow};
use std::path::Path;

/// Replays `paths` in order as one stream of packets (flows continue across files), handing each
/// flow to `ended` when it ends; all flows still open at the end are ended too. `progress` is
/// called now and then with (bytes read, bytes in all files). With more than one worker the
/// parallel engine runs; the flows and counters are the same whatever the number of workers
/// (only the order in which flows end may differ).
pub fn replay_files(
    paths: &[&Path],
    workers: usize,
    config: WorkerConfig,
    mut ended: impl FnMut(Flow, EndReason),
    mut progress: impl FnMut(u64, u64),
) -> Result<Counters, CaptureError> {
    let captures = paths
        .iter()
        .map(|p| Capture::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    if workers > 1 {
        let mut counters =
            super::parallel::run(&captures, workers, config, &mut ended, &mut progress);
        counters.reasons.sort();
        return Ok(counters);
    }
    let total: u64 = captures.iter().map(|c| c.len() as u64).sum();
    let mut worker = Worker::new(config);
    let mut done = 0u64;
    for capture in &captures {
        let mut packets = capture.packets();
        let mut n = 0u32;
        while let Some(item) = packets.next() {
            match item {
                Ok(raw) => worker.process(&raw, &mut ended),
                Err(skip) => worker.count_skip(skip.as_str()),
            }
            n = n.wrapping_add(1);
            if n.is_multiple_of(65_536) {
                progress(done + packets.offset() as u64, total);
            }
        }
        done += capture.len() as u64;
        progress(done, total);
    }
    worker.finish(&mut ended);
    let mut counters = worker.counters().clone();
    counters.reasons.sort();
    Ok(counters)
}
