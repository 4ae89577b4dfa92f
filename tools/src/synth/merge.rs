//! Merging the frames of the flows in progress into one capture in time order, without ever
//! holding more than those flows: a binary heap of the active flows keyed by the timestamp of
//! each one's next frame (ties broken by flow number, so the output is deterministic). A frame's
//! bytes are dropped as soon as it is written.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;

use crate::packets::Frame;

use super::writer::CaptureSink;

/// A flow whose frames are being written.
#[derive(Debug)]
struct Active {
    frames: Vec<Frame>,
    next: usize,
}

/// The flows in progress.
#[derive(Debug, Default)]
pub struct Merger {
    /// (next frame's timestamp, flow number, slot).
    heap: BinaryHeap<Reverse<(u64, u64, usize)>>,
    slots: Vec<Option<Active>>,
    free: Vec<usize>,
}

impl Merger {
    /// An empty merger.
    pub fn new() -> Merger {
        Merger::default()
    }

    /// Flows in progress.
    pub fn active(&self) -> usize {
        self.heap.len()
    }

    /// Adds flow number `seq` (numbers must grow in order of first timestamps) with its
    /// frames, which must be in time order.
    pub fn add(&mut self, seq: u64, frames: Vec<Frame>) {
        let Some(first) = frames.first().map(|f| f.ts_ns) else {
            return;
        };
        let active = Active { frames, next: 0 };
        let slot = match self.free.pop() {
            Some(s) => {
                if let Some(x) = self.slots.get_mut(s) {
                    *x = Some(active);
                }
                s
            }
            None => {
                self.slots.push(Some(active));
                self.slots.len() - 1
            }
        };
        self.heap.push(Reverse((first, seq, slot)));
    }

    /// Writes every pending frame earlier than `before` (all of them when `None`), in time
    /// order.
    pub fn write_until<W: Write>(
        &mut self,
        before: Option<u64>,
        sink: &mut CaptureSink<W>,
    ) -> std::io::Result<()> {
        while let Some(&Reverse((ts, seq, slot))) = self.heap.peek() {
            if before.is_some_and(|b| ts >= b) {
                break;
            }
            self.heap.pop();
            let Some(Some(active)) = self.slots.get_mut(slot) else {
                continue;
            };
            if let Some(frame) = active.frames.get_mut(active.next) {
                sink.write(frame.ts_ns, &frame.bytes)?;
                frame.bytes = Vec::new();
                active.next += 1;
            }
            match active.frames.get(active.next) {
                Some(next) => self.heap.push(Reverse((next.ts_ns.max(ts), seq, slot))),
                None => {
                    if let Some(s) = self.slots.get_mut(slot) {
                        *s = None;
                    }
                    self.free.push(slot);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packets::Direction;
    use crate::pcap_writer::LinkType;
    use crate::synth::writer::Format;

    fn frame(ts_ns: u64, tag: u8) -> Frame {
        Frame {
            ts_ns,
            dir: Direction::ClientToServer,
            link_type: LinkType::ETHERNET,
            bytes: vec![tag],
        }
    }

    /// The tags of the records of a pcap written by a sink, in file order.
    fn tags(pcap: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = 24;
        while at + 16 < pcap.len() {
            out.push(pcap[at + 16]);
            at += 17;
        }
        out
    }

    #[test]
    fn frames_of_overlapping_flows_come_out_in_time_order_ties_by_flow_number() {
        let mut sink = CaptureSink::new(Vec::new(), Format::Pcap, LinkType::ETHERNET).unwrap();
        let mut m = Merger::new();
        m.add(0, vec![frame(10, 1), frame(30, 3), frame(50, 6)]);
        m.write_until(Some(20), &mut sink).unwrap();
        m.add(1, vec![frame(20, 2), frame(30, 4), frame(40, 5)]);
        assert_eq!(m.active(), 2);
        m.write_until(None, &mut sink).unwrap();
        assert_eq!(m.active(), 0);
        assert_eq!(sink.packets(), 6);
        assert_eq!(tags(&sink.finish().unwrap()), vec![1, 2, 3, 4, 5, 6]);
    }
}
