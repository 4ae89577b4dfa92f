//! Conversation builders: a TCP connection (three-way handshake, data in both directions with
//! correct sequence and acknowledgment numbers, FIN exchange; RFC 9293 section 3.5) and a UDP
//! exchange. Each returns the frames of one flow, with timestamps, ready for a capture.
//!
//! The client's first payload can be cut into segments and sent out of order, with a segment
//! sent twice (a retransmission): the cases a reassembler must get right.

use std::net::SocketAddr;

use thiserror::Error;

use crate::packets::{
    tcp_packet, udp_packet, Direction, Frame, PacketError, Path, TcpFlags, TcpSegment,
};

/// Errors of the conversation builders.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConversationError {
    /// A packet could not be built.
    #[error(transparent)]
    Packet(#[from] PacketError),
    /// The segment plan does not fit the payload.
    #[error("segment plan: {0}")]
    BadPlan(String),
    /// The conversation has no first client payload to split.
    #[error("a segment plan was given but the client sends no data")]
    NothingToSplit,
}

/// How the client's first payload is cut and in which order the pieces are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentPlan {
    /// Offsets (strictly increasing, inside the payload) where the payload is cut.
    pub cuts: Vec<usize>,
    /// Order the pieces are sent in, by index (0 = first piece). Every piece must appear;
    /// a piece that appears again is a retransmission.
    pub order: Vec<usize>,
}

impl SegmentPlan {
    /// Cuts the payload at the given offsets and sends the pieces in `order`.
    pub fn at(cuts: Vec<usize>, order: Vec<usize>) -> Self {
        SegmentPlan { cuts, order }
    }

    /// Cuts a payload of `len` bytes into `parts` nearly equal pieces sent in `order`.
    pub fn even(len: usize, parts: usize, order: Vec<usize>) -> Self {
        let parts = parts.max(1);
        let cuts = (1..parts).map(|i| len * i / parts).collect();
        SegmentPlan { cuts, order }
    }

    /// The `(offset, len)` pieces, checked against the payload length.
    fn pieces(&self, len: usize) -> Result<Vec<(usize, usize)>, ConversationError> {
        let mut pieces = Vec::with_capacity(self.cuts.len() + 1);
        let mut start = 0usize;
        for &c in &self.cuts {
            if c <= start || c >= len {
                return Err(ConversationError::BadPlan(format!(
                    "cut {c} is not inside the payload (after {start}, before {len})"
                )));
            }
            pieces.push((start, c - start));
            start = c;
        }
        pieces.push((start, len - start));
        for i in 0..pieces.len() {
            if !self.order.contains(&i) {
                return Err(ConversationError::BadPlan(format!(
                    "piece {i} is never sent"
                )));
            }
        }
        if let Some(bad) = self.order.iter().find(|&&i| i >= pieces.len()) {
            return Err(ConversationError::BadPlan(format!(
                "piece {bad} does not exist ({} pieces)",
                pieces.len()
            )));
        }
        Ok(pieces)
    }
}

/// Timing of generated packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// First packet's timestamp, in nanoseconds since the epoch.
    pub start_ns: u64,
    /// Gap between packets of the same side in a burst.
    pub gap_ns: u64,
    /// Gap before a packet of the other side (half a round trip).
    pub turn_ns: u64,
}

impl Timing {
    /// Starts at `start_ns` with a 100 µs gap and a 15 ms turn.
    pub const fn starting_at(start_ns: u64) -> Self {
        Timing {
            start_ns,
            gap_ns: 100_000,
            turn_ns: 15_000_000,
        }
    }
}

/// Maximum segment size used when a plan does not say otherwise.
pub const DEFAULT_MSS: usize = 1400;
/// TTL / hop limit of client packets.
const CLIENT_TTL: u8 = 64;
/// TTL / hop limit of server packets (as seen after a few hops).
const SERVER_TTL: u8 = 54;
/// Window advertised by both sides.
const WINDOW: u16 = 64240;

/// A TCP connection to build.
#[derive(Debug, Clone)]
pub struct TcpConversation {
    /// Client address (sends the SYN).
    pub client: SocketAddr,
    /// Server address.
    pub server: SocketAddr,
    /// Link layer and tunnel.
    pub path: Path,
    /// Timestamps.
    pub timing: Timing,
    /// Client initial sequence number.
    pub client_isn: u32,
    /// Server initial sequence number.
    pub server_isn: u32,
    /// Largest payload per segment.
    pub mss: usize,
    /// Application messages, in the order they are sent.
    pub messages: Vec<(Direction, Vec<u8>)>,
    /// How the client's first message is segmented (default: by `mss`, in order).
    pub first_client_plan: Option<SegmentPlan>,
    /// Whether the connection ends with a FIN exchange.
    pub close: bool,
}

impl TcpConversation {
    /// A connection from `client` to `server` on `path`, starting at `start_ns`.
    pub fn new(client: SocketAddr, server: SocketAddr, path: Path, start_ns: u64) -> Self {
        TcpConversation {
            client,
            server,
            path,
            timing: Timing::starting_at(start_ns),
            client_isn: 0x1000_0000,
            server_isn: 0x8000_0000,
            mss: DEFAULT_MSS,
            messages: Vec::new(),
            first_client_plan: None,
            close: true,
        }
    }

    /// Sets both initial sequence numbers.
    pub fn isns(mut self, client_isn: u32, server_isn: u32) -> Self {
        self.client_isn = client_isn;
        self.server_isn = server_isn;
        self
    }

    /// Appends a message from the client.
    pub fn client_sends(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.messages.push((Direction::ClientToServer, data.into()));
        self
    }

    /// Appends a message from the server.
    pub fn server_sends(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.messages.push((Direction::ServerToClient, data.into()));
        self
    }

    /// Segments the client's first message by `plan`.
    pub fn split_first_client_message(mut self, plan: SegmentPlan) -> Self {
        self.first_client_plan = Some(plan);
        self
    }

    /// Leaves the connection open at the end (no FIN).
    pub fn keep_open(mut self) -> Self {
        self.close = false;
        self
    }

    /// Builds the frames.
    pub fn build(&self) -> Result<Vec<Frame>, ConversationError> {
        let mut b = Builder {
            conv: self,
            frames: Vec::new(),
            now: self.timing.start_ns,
            last_dir: None,
            seq_c: self.client_isn,
            seq_s: self.server_isn,
        };
        let mss = u16::try_from(self.mss.min(usize::from(u16::MAX))).unwrap_or(u16::MAX);
        let c2s = Direction::ClientToServer;
        let s2c = Direction::ServerToClient;
        // Three-way handshake.
        b.emit(
            c2s,
            b.seq_c,
            TcpFlags {
                syn: true,
                ..TcpFlags::default()
            },
            Some(mss),
            &[],
        )?;
        b.seq_c = b.seq_c.wrapping_add(1);
        let f = TcpFlags {
            syn: true,
            ack: Some(b.seq_c),
            ..TcpFlags::default()
        };
        b.emit(s2c, b.seq_s, f, Some(mss), &[])?;
        b.seq_s = b.seq_s.wrapping_add(1);
        b.emit(c2s, b.seq_c, b.ack_flags(c2s), None, &[])?;

        let mut plan = self.first_client_plan.as_ref();
        if plan.is_some()
            && !self
                .messages
                .iter()
                .any(|(d, m)| *d == c2s && !m.is_empty())
        {
            return Err(ConversationError::NothingToSplit);
        }
        for (dir, data) in &self.messages {
            if data.is_empty() {
                continue;
            }
            let base = b.seq(*dir);
            let pieces: Vec<(usize, usize)> = match (dir, plan) {
                (Direction::ClientToServer, Some(p)) => {
                    plan = None;
                    let pieces = p.pieces(data.len())?;
                    p.order
                        .iter()
                        .filter_map(|&i| pieces.get(i).copied())
                        .collect()
                }
                _ => {
                    let step = self.mss.max(1);
                    (0..data.len())
                        .step_by(step)
                        .map(|o| (o, step.min(data.len() - o)))
                        .collect()
                }
            };
            let last = pieces.len().saturating_sub(1);
            for (n, &(off, len)) in pieces.iter().enumerate() {
                let seq = base.wrapping_add(off as u32);
                let mut flags = b.ack_flags(*dir);
                flags.psh = n == last;
                let chunk = data.get(off..off + len).unwrap_or(&[]);
                b.emit(*dir, seq, flags, None, chunk)?;
            }
            b.advance(*dir, data.len());
            // The receiver acknowledges the whole message.
            let other = other(*dir);
            b.emit(other, b.seq(other), b.ack_flags(other), None, &[])?;
        }

        if self.close {
            let f = TcpFlags {
                fin: true,
                ..b.ack_flags(c2s)
            };
            b.emit(c2s, b.seq_c, f, None, &[])?;
            b.seq_c = b.seq_c.wrapping_add(1);
            let f = TcpFlags {
                fin: true,
                ..b.ack_flags(s2c)
            };
            b.emit(s2c, b.seq_s, f, None, &[])?;
            b.seq_s = b.seq_s.wrapping_add(1);
            b.emit(c2s, b.seq_c, b.ack_flags(c2s), None, &[])?;
        }
        Ok(b.frames)
    }
}

fn other(dir: Direction) -> Direction {
    match dir {
        Direction::ClientToServer => Direction::ServerToClient,
        Direction::ServerToClient => Direction::ClientToServer,
    }
}

/// State while a TCP conversation is built.
struct Builder<'a> {
    conv: &'a TcpConversation,
    frames: Vec<Frame>,
    now: u64,
    last_dir: Option<Direction>,
    seq_c: u32,
    seq_s: u32,
}

impl Builder<'_> {
    fn seq(&self, dir: Direction) -> u32 {
        match dir {
            Direction::ClientToServer => self.seq_c,
            Direction::ServerToClient => self.seq_s,
        }
    }

    fn advance(&mut self, dir: Direction, len: usize) {
        let n = len as u32; // sequence space is modulo 2^32
        match dir {
            Direction::ClientToServer => self.seq_c = self.seq_c.wrapping_add(n),
            Direction::ServerToClient => self.seq_s = self.seq_s.wrapping_add(n),
        }
    }

    /// ACK flag acknowledging everything the other side sent so far.
    fn ack_flags(&self, dir: Direction) -> TcpFlags {
        TcpFlags {
            ack: Some(self.seq(other(dir))),
            ..TcpFlags::default()
        }
    }

    fn emit(
        &mut self,
        dir: Direction,
        seq: u32,
        flags: TcpFlags,
        mss: Option<u16>,
        payload: &[u8],
    ) -> Result<(), ConversationError> {
        let t = &self.conv.timing;
        if let Some(prev) = self.last_dir {
            self.now += if prev == dir { t.gap_ns } else { t.turn_ns };
        }
        self.last_dir = Some(dir);
        let (src, dst, ttl) = match dir {
            Direction::ClientToServer => (self.conv.client, self.conv.server, CLIENT_TTL),
            Direction::ServerToClient => (self.conv.server, self.conv.client, SERVER_TTL),
        };
        let seg = TcpSegment {
            seq,
            flags,
            window: WINDOW,
            mss,
            payload,
        };
        let ip = tcp_packet(src, dst, ttl, &seg)?;
        self.frames.push(Frame {
            ts_ns: self.now,
            dir,
            link_type: self.conv.path.link.link_type(),
            bytes: self.conv.path.frame(dir, &ip)?,
        });
        Ok(())
    }
}

/// A UDP exchange (DNS, QUIC) to build: datagrams in order.
#[derive(Debug, Clone)]
pub struct UdpExchange {
    /// Client address (sends the first datagram).
    pub client: SocketAddr,
    /// Server address.
    pub server: SocketAddr,
    /// Link layer and tunnel.
    pub path: Path,
    /// Timestamps.
    pub timing: Timing,
    /// Datagrams, in the order they are sent.
    pub datagrams: Vec<(Direction, Vec<u8>)>,
}

impl UdpExchange {
    /// An exchange between `client` and `server` on `path`, starting at `start_ns`.
    pub fn new(client: SocketAddr, server: SocketAddr, path: Path, start_ns: u64) -> Self {
        UdpExchange {
            client,
            server,
            path,
            timing: Timing::starting_at(start_ns),
            datagrams: Vec::new(),
        }
    }

    /// Appends a datagram from the client.
    pub fn client_sends(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.datagrams
            .push((Direction::ClientToServer, data.into()));
        self
    }

    /// Appends a datagram from the server.
    pub fn server_sends(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.datagrams
            .push((Direction::ServerToClient, data.into()));
        self
    }

    /// Builds the frames.
    pub fn build(&self) -> Result<Vec<Frame>, ConversationError> {
        let mut frames = Vec::with_capacity(self.datagrams.len());
        let mut now = self.timing.start_ns;
        let mut last: Option<Direction> = None;
        for (dir, data) in &self.datagrams {
            if let Some(prev) = last {
                now += if prev == *dir {
                    self.timing.gap_ns
                } else {
                    self.timing.turn_ns
                };
            }
            last = Some(*dir);
            let (src, dst, ttl) = match dir {
                Direction::ClientToServer => (self.client, self.server, CLIENT_TTL),
                Direction::ServerToClient => (self.server, self.client, SERVER_TTL),
            };
            let ip = udp_packet(src, dst, ttl, data)?;
            frames.push(Frame {
                ts_ns: now,
                dir: *dir,
                link_type: self.path.link.link_type(),
                bytes: self.path.frame(*dir, &ip)?,
            });
        }
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packets::Link;
    use etherparse::{SlicedPacket, TransportSlice};

    struct Seg {
        dir: Direction,
        seq: u32,
        ack: Option<u32>,
        syn: bool,
        fin: bool,
        payload: Vec<u8>,
    }

    fn segs(frames: &[Frame]) -> Vec<Seg> {
        frames
            .iter()
            .map(|f| {
                let p = SlicedPacket::from_ip(&f.bytes).unwrap();
                let Some(TransportSlice::Tcp(t)) = p.transport else {
                    panic!("not tcp")
                };
                Seg {
                    dir: f.dir,
                    seq: t.sequence_number(),
                    ack: t.ack().then(|| t.acknowledgment_number()),
                    syn: t.syn(),
                    fin: t.fin(),
                    payload: t.payload().to_vec(),
                }
            })
            .collect()
    }

    fn conv() -> TcpConversation {
        TcpConversation::new(
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:443".parse().unwrap(),
            Path::on(Link::RawIp),
            1_000_000_000,
        )
        .isns(100, 5000)
    }

    #[test]
    fn handshake_data_and_close_have_consistent_numbers() {
        let frames = conv()
            .client_sends(b"abc".to_vec())
            .server_sends(b"hello".to_vec())
            .build()
            .unwrap();
        let s = segs(&frames);
        // SYN, SYN-ACK, ACK, data, ACK, data, ACK, FIN, FIN, ACK
        assert_eq!(s.len(), 10);
        assert!(s[0].syn && s[0].seq == 100 && s[0].ack.is_none());
        assert!(s[1].syn && s[1].seq == 5000 && s[1].ack == Some(101));
        assert_eq!((s[2].seq, s[2].ack), (101, Some(5001)));
        assert_eq!((s[3].seq, s[3].payload.as_slice()), (101, &b"abc"[..]));
        assert_eq!(s[4].ack, Some(104));
        assert_eq!((s[5].seq, s[5].payload.as_slice()), (5001, &b"hello"[..]));
        assert_eq!(s[6].ack, Some(5006));
        assert!(s[7].fin && s[7].seq == 104);
        assert!(s[8].fin && s[8].seq == 5006 && s[8].ack == Some(105));
        assert_eq!((s[9].seq, s[9].ack), (105, Some(5007)));
        assert!(frames.windows(2).all(|w| w[0].ts_ns < w[1].ts_ns));
    }

    #[test]
    fn split_plan_sends_pieces_out_of_order_with_a_retransmission() {
        let data: Vec<u8> = (0..30u8).collect();
        let plan = SegmentPlan::even(30, 3, vec![2, 0, 1, 2]);
        let frames = conv()
            .client_sends(data.clone())
            .split_first_client_message(plan)
            .build()
            .unwrap();
        let s = segs(&frames);
        let data_segs: Vec<&Seg> = s.iter().filter(|x| !x.payload.is_empty()).collect();
        assert_eq!(data_segs.len(), 4);
        assert_eq!(data_segs[0].seq, 101 + 20);
        assert_eq!(data_segs[1].seq, 101);
        assert_eq!(data_segs[2].seq, 111);
        assert_eq!(data_segs[3].seq, 121);
        assert_eq!(data_segs[0].payload, data_segs[3].payload);
        let mut joined = Vec::new();
        for x in &data_segs[1..] {
            joined.extend_from_slice(&x.payload);
        }
        assert_eq!(joined, data);
        assert!(s
            .iter()
            .any(|x| x.dir == Direction::ServerToClient && x.ack == Some(131)));
    }

    #[test]
    fn bad_plans_are_refused() {
        let c = conv().client_sends(vec![0u8; 10]);
        let missing = c
            .clone()
            .split_first_client_message(SegmentPlan::at(vec![5], vec![0]));
        assert!(matches!(
            missing.build(),
            Err(ConversationError::BadPlan(_))
        ));
        let outside = c
            .clone()
            .split_first_client_message(SegmentPlan::at(vec![10], vec![0, 1]));
        assert!(matches!(
            outside.build(),
            Err(ConversationError::BadPlan(_))
        ));
        let nothing = conv().split_first_client_message(SegmentPlan::at(vec![], vec![0]));
        assert_eq!(nothing.build(), Err(ConversationError::NothingToSplit));
    }

    #[test]
    fn large_messages_are_cut_by_mss() {
        let frames = conv()
            .server_sends(vec![7u8; 3000])
            .keep_open()
            .build()
            .unwrap();
        let s = segs(&frames);
        let sizes: Vec<usize> = s
            .iter()
            .filter(|x| !x.payload.is_empty())
            .map(|x| x.payload.len())
            .collect();
        assert_eq!(sizes, vec![1400, 1400, 200]);
        assert!(!s.iter().any(|x| x.fin));
    }

    #[test]
    fn udp_exchange_alternates_directions() {
        let f = UdpExchange::new(
            "[2001:db8::1]:5353".parse().unwrap(),
            "[2001:db8::53]:53".parse().unwrap(),
            Path::on(Link::ethernet()),
            0,
        )
        .client_sends(b"q".to_vec())
        .server_sends(b"r".to_vec())
        .build()
        .unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].dir, Direction::ServerToClient);
        assert_eq!(f[1].ts_ns, 15_000_000);
        let p = SlicedPacket::from_ethernet(&f[1].bytes).unwrap();
        let Some(TransportSlice::Udp(u)) = p.transport else {
            panic!("not udp")
        };
        assert_eq!(u.source_port(), 53);
        assert_eq!(u.payload(), b"r");
    }
}
