//! Per-worker counters: plain integers owned by one worker, summed when read ([`Counters::merge`]),
//! and a histogram of per-packet processing time.

use crate::decode::DecodeError;
use crate::inspect::namer::{NameSource, Proto};
use hdrhistogram::Histogram;

/// Highest processing time the latency histogram tracks (larger ones are clamped to it).
const LATENCY_MAX_NS: u64 = 1_000_000_000;

/// What a worker has seen.
#[derive(Clone, Debug)]
pub struct Counters {
    /// Frames handed to the worker.
    pub packets: u64,
    /// Their bytes on the wire.
    pub bytes: u64,
    /// Frames that decoded to a TCP/UDP packet of a tracked flow.
    pub tracked: u64,
    /// Flows created.
    pub flows: u64,
    /// Packets of flows whose verdict was block (dropped, or answered with a reset, inline).
    pub blocked_packets: u64,
    /// Flows ended, by protocol named (index: [`proto_index`]).
    pub named: [u64; 4],
    /// Flows ended whose name came from an earlier DNS answer.
    pub named_from_dns: u64,
    /// Frames or flows not processed, by reason; few distinct reasons, so a short list.
    pub reasons: Vec<(&'static str, u64)>,
    /// Frames of `unsupported_link_type`, by link type number (LINKTYPE_*), so that the summary
    /// can say which; in order of first sight.
    pub unsupported_links: Vec<(u32, u64)>,
    /// Most flows the worker's table held at once (summed over workers: an upper bound).
    pub peak_flows: u64,
    /// Bytes of the flow tables' own structures at their largest.
    pub flow_table_bytes: u64,
    /// Of which the timer wheels'.
    pub flow_wheel_bytes: u64,
    /// Threads the replay ran on, and how many of them were each kept on a CPU of its own
    /// ([`super::cores`]).
    pub threads: u64,
    pub pinned_threads: u64,
    /// Processing time per packet in nanoseconds, sampled (one packet in
    /// [`LATENCY_SAMPLE_EVERY`]).
    pub latency_ns: Histogram<u64>,
}

/// One packet in this many has its processing time measured: a measured packet pays two clock
/// reads and a histogram update, about 60 ns, a quarter of an average packet's work. One in 16
/// cost 2 % of a replay's time; one in 64 still gives ~17 000 samples per million packets, a
/// hundred and seventy of them above p99.
pub const LATENCY_SAMPLE_EVERY: u64 = 64;

impl Default for Counters {
    fn default() -> Self {
        Counters {
            packets: 0,
            bytes: 0,
            tracked: 0,
            flows: 0,
            blocked_packets: 0,
            named: [0; 4],
            named_from_dns: 0,
            reasons: Vec::new(),
            unsupported_links: Vec::new(),
            peak_flows: 0,
            flow_table_bytes: 0,
            flow_wheel_bytes: 0,
            threads: 0,
            pinned_threads: 0,
            latency_ns: Histogram::new_with_bounds(1, LATENCY_MAX_NS, 3)
                .expect("static histogram bounds are valid"),
        }
    }
}

/// Index of a protocol in [`Counters::named`].
pub fn proto_index(p: Proto) -> usize {
    match p {
        Proto::Tls => 0,
        Proto::Quic => 1,
        Proto::Http => 2,
        Proto::Dns => 3,
    }
}

pub const PROTOS: [Proto; 4] = [Proto::Tls, Proto::Quic, Proto::Http, Proto::Dns];

impl Counters {
    /// Counts one occurrence of `reason`.
    pub fn count(&mut self, reason: &'static str) {
        self.count_n(reason, 1);
    }

    /// Counts a frame that did not decode, by its reason (and, for an unsupported link type,
    /// by which one).
    pub fn count_decode_error(&mut self, e: DecodeError) {
        self.count(e.reason());
        if let DecodeError::UnsupportedLink(link) = e {
            count_in(&mut self.unsupported_links, link, 1);
        }
    }

    /// Records one sampled packet's processing time.
    pub fn record_latency(&mut self, ns: u64) {
        self.latency_ns
            .saturating_record(ns.clamp(1, LATENCY_MAX_NS));
    }

    pub fn count_n(&mut self, reason: &'static str, n: u64) {
        match self.reasons.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, c)) => *c += n,
            None => self.reasons.push((reason, n)),
        }
    }

    pub fn reason(&self, reason: &str) -> u64 {
        self.reasons
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, c)| *c)
    }

    /// Counts an ended flow's name.
    pub fn flow_named(&mut self, proto: Option<Proto>, source: Option<NameSource>) {
        match (proto, source) {
            (_, Some(NameSource::DnsAnswer)) => self.named_from_dns += 1,
            (Some(p), Some(_)) => self.named[proto_index(p)] += 1,
            _ => {}
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Counters) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.tracked += other.tracked;
        self.flows += other.flows;
        self.blocked_packets += other.blocked_packets;
        for (a, b) in self.named.iter_mut().zip(other.named) {
            *a += b;
        }
        self.named_from_dns += other.named_from_dns;
        self.peak_flows += other.peak_flows;
        self.flow_table_bytes += other.flow_table_bytes;
        self.flow_wheel_bytes += other.flow_wheel_bytes;
        self.threads += other.threads;
        self.pinned_threads += other.pinned_threads;
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency_ns.add(&other.latency_ns);
        for &(r, n) in &other.reasons {
            self.count_n(r, n);
        }
        for &(link, n) in &other.unsupported_links {
            count_in(&mut self.unsupported_links, link, n);
        }
        self.reasons.sort();
    }
}

/// Adds `n` to `key`'s count in a short list.
fn count_in<K: PartialEq>(list: &mut Vec<(K, u64)>, key: K, n: u64) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some((_, c)) => *c += n,
        None => list.push((key, n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_every_field_and_reason() {
        let mut a = Counters {
            packets: 1,
            bytes: 10,
            threads: 1,
            pinned_threads: 1,
            ..Default::default()
        };
        a.count("truncated");
        let mut b = Counters {
            packets: 2,
            bytes: 5,
            flows: 1,
            threads: 1,
            ..Default::default()
        };
        b.count("truncated");
        b.count("not_ip");
        b.flow_named(Some(Proto::Tls), Some(NameSource::Sni));
        a.record_latency(100);
        b.record_latency(300);
        a.merge(&b);
        assert_eq!(a.latency_ns.len(), 2);
        assert_eq!(a.latency_ns.max(), 300);
        assert_eq!((a.packets, a.bytes, a.flows), (3, 15, 1));
        assert_eq!((a.threads, a.pinned_threads), (2, 1));
        assert_eq!(a.reason("truncated"), 2);
        assert_eq!(a.reason("not_ip"), 1);
        assert_eq!(a.named[proto_index(Proto::Tls)], 1);
    }

    #[test]
    fn unsupported_link_types_are_counted_by_number_and_merged() {
        let mut a = Counters::default();
        a.count_decode_error(DecodeError::UnsupportedLink(147));
        a.count_decode_error(DecodeError::UnsupportedLink(147));
        a.count_decode_error(DecodeError::NotIp);
        let mut b = Counters::default();
        b.count_decode_error(DecodeError::UnsupportedLink(105));
        b.count_decode_error(DecodeError::UnsupportedLink(147));
        a.merge(&b);
        assert_eq!(a.reason("unsupported_link_type"), 4);
        assert_eq!(a.reason("not_ip"), 1);
        assert_eq!(a.unsupported_links, vec![(147, 3), (105, 1)]);
    }
}
