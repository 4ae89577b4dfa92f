//! One flow's records as the gateway writes them: `start` at the first packet (with the first
//! payload of each direction and, optionally, the name), an `update` every interval of the
//! flow's life with the counts so far (interim accounting), and `end` at the last packet with
//! the totals. Counts are IP packets and IP bytes of the subscriber's packets (inside the
//! tunnel), as a gateway's charging counts them.
//!
//! The first payload of a direction is its first flight: the payload of its data packets from
//! the first one until the other side sends data (TCP in sequence order, retransmissions
//! skipped; UDP datagrams concatenated, so a post-quantum QUIC Initial spread over two
//! datagrams arrives as two coalesced packets), at most [`Options::payload_max`] bytes from
//! the client and [`Options::payload_max_s2c`] from the server.

use control::traffic::record::{FlowEvent, TrafficRecord};
use dataplane::capture::LinkType;
use dataplane::decode::{Decoder, L4};

use crate::flow::{self, Flow};
use crate::packets::Direction;

use super::session::Session;

const SECOND: u64 = 1_000_000_000;

/// What goes into the records of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Seconds between two `update` records of a flow (default 60).
    pub update_interval_s: u64,
    /// Put the name the gateway saw (SNI, Host, DNS question) in the `start` record.
    pub with_names: bool,
    /// Leave MSISDN and IMSI out (the subscriber then comes from UE IP or TEID).
    pub without_msisdn: bool,
    /// Most client payload bytes kept (default 4096: a post-quantum ClientHello or two QUIC
    /// Initials; at most [`control::traffic::record::PAYLOAD_MAX`]).
    pub payload_max: usize,
    /// Most server payload bytes kept (default 1024: a DNS answer, the start of a ServerHello).
    pub payload_max_s2c: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            update_interval_s: 60,
            with_names: false,
            without_msisdn: false,
            payload_max: 4096,
            payload_max_s2c: 1024,
        }
    }
}

/// Collects the first flight of one direction.
#[derive(Debug, Default)]
enum Flight {
    #[default]
    NotStarted,
    Collecting {
        bytes: Vec<u8>,
        next_seq: u32,
    },
    Done(Vec<u8>),
}

impl Flight {
    fn take(self) -> Option<Vec<u8>> {
        match self {
            Flight::NotStarted => None,
            Flight::Collecting { bytes, .. } | Flight::Done(bytes) => Some(bytes),
        }
    }

    fn close(&mut self) {
        if let Flight::Collecting { bytes, .. } = self {
            *self = Flight::Done(std::mem::take(bytes));
        }
    }

    fn add(&mut self, l4: L4, seq: u32, payload: &[u8], max: usize) {
        let room = |bytes: &Vec<u8>| max.saturating_sub(bytes.len());
        match self {
            Flight::NotStarted => {
                let bytes = payload
                    .get(..payload.len().min(max))
                    .unwrap_or(&[])
                    .to_vec();
                *self = Flight::Collecting {
                    bytes,
                    next_seq: seq.wrapping_add(payload.len() as u32),
                };
            }
            Flight::Collecting { bytes, next_seq } => {
                if l4 == L4::Tcp && seq != *next_seq {
                    return; // a retransmission or a segment out of order
                }
                let take = payload.len().min(room(bytes));
                bytes.extend_from_slice(payload.get(..take).unwrap_or(&[]));
                *next_seq = seq.wrapping_add(payload.len() as u32);
            }
            Flight::Done(_) => {}
        }
    }
}

/// What the packets of a flow add up to, per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    bytes: [u64; 2],
    packets: [u64; 2],
}

/// The records of `flow`, whose frames are raw IP packets (built on a `Link::RawIp` path) in
/// time order, opened by the subscriber of `session` on the bearer with tunnel `teid`.
pub fn flow_records(
    flow: &Flow,
    flow_id: &str,
    session: &Session,
    opts: &Options,
) -> Vec<TrafficRecord<'static>> {
    let (Some(first), Some(last)) = (flow.frames.first(), flow.frames.last()) else {
        return Vec::new();
    };
    let (t0, t_end) = (first.ts_ns, last.ts_ns);
    let mut decoder = Decoder::default();
    let mut flights = [Flight::default(), Flight::default()];
    let mut counts = Counts::default();
    let mut start_counts = None;
    let interval = opts.update_interval_s.max(1).saturating_mul(SECOND);
    let mut next_update = t0.saturating_add(interval);
    let mut updates = Vec::new();
    for f in &flow.frames {
        while next_update <= f.ts_ns && next_update < t_end {
            updates.push((next_update, counts));
            next_update = next_update.saturating_add(interval);
        }
        let side = match f.dir {
            Direction::ClientToServer => 0,
            Direction::ServerToClient => 1,
        };
        if let Ok(p) = decoder.decode(f.ts_ns, LinkType::RAW, &f.bytes) {
            if !p.payload.is_empty() {
                if let Some(other) = flights.get_mut(1 - side) {
                    other.close();
                }
                let max = [opts.payload_max, opts.payload_max_s2c];
                if let (Some(mine), Some(&max)) = (flights.get_mut(side), max.get(side)) {
                    mine.add(p.l4, p.seq, p.payload, max);
                }
            }
        }
        if let (Some(b), Some(n)) = (counts.bytes.get_mut(side), counts.packets.get_mut(side)) {
            *b += f.bytes.len() as u64;
            *n += 1;
        }
        if start_counts.is_none() {
            start_counts = Some(counts);
        }
    }
    let [c2s, s2c] = flights;
    let base = TrafficRecord {
        event: FlowEvent::Start,
        flow_id: flow_id.to_owned().into(),
        ts_ns: t0,
        msisdn: (!opts.without_msisdn).then(|| session.msisdn.clone().into()),
        imsi: (!opts.without_msisdn).then(|| session.imsi.clone().into()),
        ue_ip: flow.client.ip(),
        teid: Some(session.teid),
        l4: match flow.l4 {
            flow::L4::Tcp => L4::Tcp,
            flow::L4::Udp => L4::Udp,
        },
        client: flow.client,
        server: flow.server,
        name: None,
        payload_c2s: None,
        payload_s2c: None,
        bytes: [0; 2],
        packets: [0; 2],
    };
    let at = |event, ts_ns, c: Counts| TrafficRecord {
        event,
        ts_ns,
        bytes: c.bytes,
        packets: c.packets,
        ..base.clone()
    };
    let mut out = Vec::with_capacity(updates.len() + 2);
    let mut start = at(FlowEvent::Start, t0, start_counts.unwrap_or_default());
    start.payload_c2s = c2s.take();
    start.payload_s2c = s2c.take();
    if opts.with_names {
        start.name = flow.app.name.clone().map(Into::into);
    }
    out.push(start);
    out.extend(
        updates
            .into_iter()
            .map(|(ts, c)| at(FlowEvent::Update, ts, c)),
    );
    out.push(at(FlowEvent::End, t_end, counts));
    out
}

/// Stretches a flow to last about `target_ns`: the frames after its first `keep` and before
/// its last `tail` (a TCP close) keep their order and come at even steps of at most
/// `max_gap_ns` (so no idle timeout ends the flow in packet mode); the last `tail` frames keep
/// their natural gaps (so the close stays within pcgate's closed-flow time). A flow with too
/// few frames for the target ends earlier.
pub fn lengthen(flow: &mut Flow, keep: usize, tail: usize, target_ns: u64, max_gap_ns: u64) {
    let n = flow.frames.len();
    let Some(anchor) = flow.frames.get(keep.saturating_sub(1)).map(|f| f.ts_ns) else {
        return;
    };
    let middle_end = n.saturating_sub(tail);
    let Some(old_last) = middle_end
        .checked_sub(1)
        .and_then(|i| flow.frames.get(i))
        .map(|f| f.ts_ns)
    else {
        return;
    };
    let rest = middle_end.saturating_sub(keep) as u64;
    if rest == 0 {
        return;
    }
    let step = (target_ns / rest).min(max_gap_ns);
    if step.saturating_mul(rest) <= old_last.saturating_sub(anchor) {
        return;
    }
    let new_last = anchor.saturating_add(step.saturating_mul(rest));
    for (i, f) in flow.frames.iter_mut().enumerate().skip(keep) {
        f.ts_ns = if i < middle_end {
            anchor.saturating_add(step.saturating_mul((i - keep) as u64 + 1))
        } else {
            new_last.saturating_add(f.ts_ns.saturating_sub(old_last))
        };
    }
}

/// Rounds every frame time down to a whole microsecond, the resolution of a pcap file, so
/// records and capture carry the same times.
pub fn to_microseconds(flow: &mut Flow) {
    for f in &mut flow.frames {
        f.ts_ns -= f.ts_ns % 1_000;
    }
}
