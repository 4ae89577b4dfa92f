//! Naming one flow: the per-flow state that picks an extractor from the first bytes each side
//! sends, feeds it (reassembling TCP streams and QUIC CRYPTO data), and stops as soon as a name
//! is known or there is nothing more to learn.
//!
//! Segmentation cannot wear naming out: what bounds it is the 16 KiB of each side's stream that
//! reassembly keeps. Packets are capped only to bound work, and generously: a hello in 2,048
//! segments that each bring new bytes is still read, and retransmissions, overlaps and the
//! other side's packets (which bring nothing new) have a cap of their own and cost no re-parse.
//! A flow that shows signs of evasion is marked ([`Evasion`]): segments that overlap with
//! different bytes (also after naming: until the other side answers, a later copy of the TCP
//! hello or QUIC CRYPTO data that named the flow is read again, so that a decoy hello sent first
//! and the real one after it are caught),
//! a ClientHello or request head larger than the stream limit, or a hello that began and was
//! never completed (the caps ran out, the server answered a hello naming never
//! saw whole, the QUIC client moved on to 1-RTT packets, or the flow ended). The policy decides
//! what an evasive flow gets (the profile's `evasion` option).
//!
//! Both sides are inspected independently, so a flow whose first packets were missed (and whose
//! client was guessed wrong) is still named from the ClientHello or request it carries. DNS
//! answers are not collected here but by the engine's DNS tap, which sees packets in capture
//! order before they reach a worker.

use super::stream::TcpStream;
use super::tls::Alpn;
use super::{dns, http, quic, tls};
use crate::decode::L4;
use std::sync::Arc;

/// Bytes of each side's stream kept for naming: enough for a post-quantum ClientHello spread
/// over several records.
const STREAM_LIMIT: u32 = 16 * 1024;
/// Packets that bring new bytes (or a datagram to read) a flow is inspected for, at most: each
/// re-reads the hello so far, so this bounds work; the byte limit above is what bounds naming.
/// A hello in 2,048 one-byte segments is still read.
const FRESH_PACKETS: u16 = 2048;
/// Packets with payload that bring nothing new (retransmissions, overlaps, the other side's
/// data, Initials without new CRYPTO data) a flow is inspected for, at most. They cost a
/// comparison of the bytes they overlap and no re-parse.
const STALE_PACKETS: u16 = 2048;
/// The well-known DNS port; DNS is only looked for on flows that use it.
const DNS_PORT: u16 = 53;

/// The application protocol a name came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tls,
    Quic,
    Http,
    Dns,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tls => "tls",
            Proto::Quic => "quic",
            Proto::Http => "http",
            Proto::Dns => "dns",
        }
    }
}

/// Where a flow's name was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameSource {
    Sni,
    QuicSni,
    Host,
    DnsQuery,
    /// Not in the flow itself: the client resolved the server's address earlier.
    DnsAnswer,
}

impl NameSource {
    pub fn as_str(self) -> &'static str {
        match self {
            NameSource::Sni => "sni",
            NameSource::QuicSni => "quic_sni",
            NameSource::Host => "host",
            NameSource::DnsQuery => "dns_query",
            NameSource::DnsAnswer => "dns_answer",
        }
    }
}

/// What is known about a flow's application.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowName {
    pub proto: Option<Proto>,
    pub name: Option<Arc<str>>,
    pub source: Option<NameSource>,
    pub alpn: Alpn,
}

/// The packet fields naming looks at.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    /// 0 client -> server, 1 server -> client.
    pub side: usize,
    pub l4: L4,
    pub client_port: u16,
    pub server_port: u16,
    pub seq: u32,
    pub flags: u8,
    pub payload: &'a [u8],
}

/// What a side of the flow turned out to carry.
#[derive(Debug, Default)]
enum SideState {
    /// Nothing seen yet.
    #[default]
    Undecided,
    Tls(TcpStream),
    Http(TcpStream),
    DnsTcp(TcpStream),
    /// TCP bytes seen, protocol not yet recognisable (too few bytes).
    Pending(TcpStream),
    Quic(Box<quic::QuicState>),
    /// A hello or request head that named the flow, kept until the other side answers: a
    /// later copy of it that differs (a decoy sent first, that the server never kept) makes
    /// the flow evasive.
    Check(TcpStream),
    /// The same for a hello read in place (in one segment): no copy is made unless a later
    /// segment lies over it.
    CheckNamed(Named),
    /// The same for a QUIC client: its Initials' CRYPTO stream, until the server's first
    /// datagram.
    CheckQuic(Box<quic::QuicState>),
    /// This side carries nothing nameable.
    Done,
}

/// A hello or request head read where it lay (one segment) that named the flow: where it lay
/// and the name it gave. A later segment over the same place is reassembled apart and read
/// again; different bytes or a different name make the flow evasive.
#[derive(Debug)]
struct Named {
    /// Sequence number of its first byte.
    base: u32,
    len: u32,
    http: bool,
    name: Option<Arc<str>>,
    /// The copy sent again, while it is incomplete.
    again: Option<Box<TcpStream>>,
}

impl Named {
    /// Takes a later segment of the side: `Some(true)` when it is another copy that says
    /// something else, `Some(false)` when the copy is complete and says the same, `None`
    /// otherwise. The `bool` is whether the segment brought new bytes to the copy.
    fn segment(&mut self, seg: &Segment<'_>) -> (Option<bool>, bool) {
        let rel = i64::from(seg.seq.wrapping_sub(self.base) as i32);
        if rel + seg.payload.len() as i64 <= 0 || rel >= i64::from(self.len) {
            return (None, false); // not over the bytes that named the flow
        }
        let base = self.base;
        let again = self.again.get_or_insert_with(|| {
            Box::new(TcpStream::after_syn(base.wrapping_sub(1), STREAM_LIMIT))
        });
        let before = again.contiguous().len();
        let added = again.segment(seg.seq, seg.flags, seg.payload) > 0;
        if again.mismatched() {
            return (Some(true), added);
        }
        if again.contiguous().len() <= before {
            return (None, added);
        }
        let (bytes, full) = (again.contiguous(), again.is_full());
        let same = if self.http {
            match http::parse_request_host(bytes) {
                Err(http::HttpError::Incomplete) if !full => None,
                Ok(host) => Some(host == self.name),
                Err(_) => Some(false),
            }
        } else {
            match tls::parse_client_hello_records(bytes) {
                Err(tls::TlsError::Incomplete) if !full => None,
                Ok(hello) => Some(hello.sni == self.name),
                Err(_) => Some(false),
            }
        };
        if same == Some(true) {
            self.again = None; // a faithful copy: wait for the next, if any
        }
        (same.map(|s| !s), added)
    }
}

/// What a side's first bytes look like.
enum Kind {
    Tls,
    Http,
    Other,
}

/// What the first bytes of a side say it carries; `None` while they are too few to tell (none
/// yet, or a prefix of a request method while more can come).
fn first_bytes(bytes: &[u8], full: bool) -> Option<Kind> {
    match bytes.first()? {
        0x16 => Some(Kind::Tls),
        _ if http::looks_like_request(bytes) && bytes.len() < 8 && !full => None,
        _ if http::looks_like_request(bytes) => Some(Kind::Http),
        _ => Some(Kind::Other),
    }
}

/// Why a side stopped; counted by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    Tls(tls::TlsError),
    Http(http::HttpError),
    Dns(dns::DnsError),
    Quic(quic::QuicError),
}

impl Failure {
    pub fn reason(&self) -> &'static str {
        match self {
            Failure::Tls(tls::TlsError::BadName(_))
            | Failure::Http(http::HttpError::BadName(_))
            | Failure::Dns(dns::DnsError::BadName(_))
            | Failure::Quic(quic::QuicError::BadName(_)) => "bad_name",
            Failure::Tls(_) => "tls_malformed",
            Failure::Http(_) => "http_malformed",
            Failure::Dns(_) => "dns_malformed",
            Failure::Quic(quic::QuicError::DecryptFailed) => "quic_decrypt_failed",
            Failure::Quic(quic::QuicError::UnsupportedVersion(_)) => "quic_unsupported_version",
            Failure::Quic(_) => "quic_malformed",
        }
    }
}

/// Why a flow is taken for an attempt to get around naming. Counted by [`Evasion::reason`]; the
/// policy decides what an evasive flow gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evasion {
    /// TCP segments overlapped bytes already seen with different bytes.
    TcpOverlapMismatch,
    /// QUIC CRYPTO frames overlapped bytes already seen with different bytes.
    QuicCryptoMismatch,
    /// A ClientHello larger than the stream limit: its name cannot be read.
    TlsHelloTooLarge,
    /// A request head larger than the stream limit.
    HttpHeadTooLarge,
    /// A hello or request began and naming ended before it was complete.
    Abandoned(Hello),
}

/// What a side had begun to send when naming ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hello {
    Tls,
    Http,
    Quic,
    /// TCP bytes not yet recognisable (too few, or after a gap at the start).
    Tcp,
}

impl Evasion {
    pub fn reason(self) -> &'static str {
        match self {
            Evasion::TcpOverlapMismatch => "tcp_overlap_mismatch",
            Evasion::QuicCryptoMismatch => "quic_crypto_mismatch",
            Evasion::TlsHelloTooLarge => "tls_hello_too_large",
            Evasion::HttpHeadTooLarge => "http_head_too_large",
            Evasion::Abandoned(Hello::Tls) => "naming_abandoned_tls",
            Evasion::Abandoned(Hello::Http) => "naming_abandoned_http",
            Evasion::Abandoned(Hello::Quic) => "naming_abandoned_quic",
            Evasion::Abandoned(Hello::Tcp) => "naming_abandoned_tcp",
        }
    }
}

/// Per-flow naming state.
#[derive(Debug)]
pub struct Namer {
    sides: [SideState; 2],
    /// Packets left that may bring new bytes ([`FRESH_PACKETS`]).
    fresh_left: u16,
    /// Packets left that bring nothing new ([`STALE_PACKETS`]).
    stale_left: u16,
    is_dns: bool,
    /// The protocol recognised so far, even without a name (a hello without SNI).
    proto: Option<Proto>,
    named: bool,
    /// Naming stopped before a name was found (evasion seen).
    stopped: bool,
    /// The first failure seen, for counting.
    pub failure: Option<Failure>,
    /// The first sign of evasion seen while naming ran (see also [`Namer::evasion`]).
    evasion: Option<Evasion>,
}

impl Default for Namer {
    fn default() -> Self {
        Namer {
            sides: [SideState::Undecided, SideState::Undecided],
            fresh_left: FRESH_PACKETS,
            stale_left: STALE_PACKETS,
            is_dns: false,
            proto: None,
            named: false,
            stopped: false,
            failure: None,
            evasion: None,
        }
    }
}

impl Namer {
    /// A namer for a flow whose client SYN carried sequence number `client_isn`, if it was
    /// seen: the client's stream then starts right after it.
    pub fn new(client_isn: Option<u32>) -> Namer {
        let mut n = Namer::default();
        if let Some(isn) = client_isn {
            n.sides[0] = SideState::Pending(TcpStream::after_syn(isn, STREAM_LIMIT));
        }
        n
    }
}

/// What one packet did.
#[derive(Debug, Default)]
pub struct Step {
    /// A name found in this packet.
    pub name: Option<FlowName>,
}

impl Namer {
    /// The protocol recognised so far.
    pub fn proto(&self) -> Option<Proto> {
        self.proto
    }

    /// Whether inspection has ended (named, stopped, out of packets, or nothing more to
    /// learn): drop the namer.
    pub fn is_done(&self) -> bool {
        if self.stopped || self.fresh_left == 0 || self.stale_left == 0 {
            return true;
        }
        if self.named {
            return !self.sides.iter().any(|s| {
                matches!(
                    s,
                    SideState::Check(_) | SideState::CheckNamed(_) | SideState::CheckQuic(_)
                )
            });
        }
        self.sides.iter().all(|s| matches!(s, SideState::Done))
    }

    /// Whether a name was found (the namer may still check the hello it came from).
    pub fn is_named(&self) -> bool {
        self.named
    }

    /// The sign of evasion that naming ended with, if any: one seen while it ran, or, when
    /// naming ends now without a name, a hello that a side began and did not complete. Call it
    /// once naming ends (done, or the flow ended).
    pub fn evasion(&self) -> Option<Evasion> {
        if self.evasion.is_some() || self.named {
            return self.evasion;
        }
        self.sides
            .iter()
            .find_map(begun_hello)
            .map(Evasion::Abandoned)
    }

    /// Feeds one packet of the flow.
    pub fn feed(&mut self, seg: &Segment<'_>) -> Step {
        if self.is_dns_flow(seg) {
            if !seg.payload.is_empty() {
                self.fresh_left = self.fresh_left.saturating_sub(1);
            }
            return self.feed_dns(seg);
        }
        if self.stopped || (seg.payload.is_empty() && seg.flags == 0) {
            return Step::default();
        }
        let (found, fresh) = match seg.l4 {
            _ if self.named => (None, self.check(seg)),
            L4::Tcp => self.feed_tcp(seg),
            L4::Udp => self.feed_udp(seg),
        };
        if !seg.payload.is_empty() {
            let left = if fresh {
                &mut self.fresh_left
            } else {
                &mut self.stale_left
            };
            *left = left.saturating_sub(1);
        }
        if found.is_some() {
            self.named = true;
        }
        Step { name: found }
    }

    /// After naming: compares what a side sends again with the hello that named the flow,
    /// until the other side answers. Returns whether the segment brought new bytes.
    fn check(&mut self, seg: &Segment<'_>) -> bool {
        if seg.payload.is_empty() {
            return false;
        }
        let Some(checked) = self.sides.iter().position(|s| {
            matches!(
                s,
                SideState::Check(_) | SideState::CheckNamed(_) | SideState::CheckQuic(_)
            )
        }) else {
            return false;
        };
        if seg.side != checked {
            // The other side answered: what it answered has passed.
            self.sides[checked] = SideState::Done;
            return false;
        }
        match &mut self.sides[checked] {
            SideState::Check(s) => {
                let added = s.segment(seg.seq, seg.flags, seg.payload);
                if s.mismatched() {
                    self.stop(Evasion::TcpOverlapMismatch);
                }
                added > 0
            }
            SideState::CheckNamed(n) => {
                let (differs, added) = n.segment(seg);
                if differs == Some(true) {
                    self.stop(Evasion::TcpOverlapMismatch);
                }
                added
            }
            SideState::CheckQuic(q) => {
                let held = q.handshake_held();
                // What the datagram says beyond its CRYPTO data no longer matters.
                let _ = q.feed(seg.payload);
                let added = q.handshake_held() > held;
                if q.handshake_mismatched() {
                    self.stop(Evasion::QuicCryptoMismatch);
                }
                added
            }
            _ => false,
        }
    }

    /// Keeps the stream of a side whose hello named the flow, to check later copies of it.
    fn keep_for_check(&mut self, side: usize, stream: TcpStream) {
        if self.named {
            if let Some(slot) = self.sides.get_mut(side) {
                *slot = SideState::Check(stream);
            }
        }
    }

    /// Stops naming for a sign of evasion.
    fn stop(&mut self, why: Evasion) {
        self.evasion.get_or_insert(why);
        self.stopped = true;
    }

    fn is_dns_flow(&mut self, seg: &Segment<'_>) -> bool {
        if !self.is_dns
            && (seg.client_port == DNS_PORT || seg.server_port == DNS_PORT)
            && !seg.payload.is_empty()
        {
            let looks = match seg.l4 {
                L4::Udp => dns::looks_like_dns(seg.payload),
                L4::Tcp => seg.payload.get(2..).is_some_and(dns::looks_like_dns),
            };
            if looks {
                self.is_dns = true;
                self.proto = Some(Proto::Dns);
            }
        }
        self.is_dns
    }

    fn feed_dns(&mut self, seg: &Segment<'_>) -> Step {
        if seg.payload.is_empty() && seg.l4 == L4::Udp {
            return Step::default();
        }
        let parsed = match seg.l4 {
            L4::Udp => dns::parse(seg.payload),
            L4::Tcp => {
                let side = &mut self.sides[seg.side];
                if !matches!(side, SideState::DnsTcp(_)) {
                    *side = SideState::DnsTcp(TcpStream::new(STREAM_LIMIT));
                }
                let SideState::DnsTcp(stream) = side else {
                    return Step::default();
                };
                stream.segment(seg.seq, seg.flags, seg.payload);
                let parsed = dns::parse_tcp(stream.contiguous());
                if matches!(parsed, Err(dns::DnsError::Truncated)) && !stream.is_full() {
                    return Step::default();
                }
                *side = SideState::Done;
                parsed
            }
        };
        let msg = match parsed {
            Ok(msg) => msg,
            Err(e) => {
                self.failure.get_or_insert(Failure::Dns(e));
                return Step::default();
            }
        };
        // The query names the flow; a response names it too when the query was missed.
        match msg.qname {
            Some(q) => {
                self.named = true;
                Step {
                    name: Some(FlowName {
                        proto: Some(Proto::Dns),
                        name: Some(q),
                        source: Some(NameSource::DnsQuery),
                        alpn: Default::default(),
                    }),
                }
            }
            None => Step::default(),
        }
    }

    /// One TCP segment: the name if it completes a hello, and whether it brought new bytes.
    fn feed_tcp(&mut self, seg: &Segment<'_>) -> (Option<FlowName>, bool) {
        if seg.side == 1 && !seg.payload.is_empty() {
            // The server answering a hello or request naming has not seen whole: the server saw
            // one (whatever the capture shows), so naming was evaded.
            if let Some(hello @ (Hello::Tls | Hello::Http)) = begun_hello(&self.sides[0]) {
                self.stop(Evasion::Abandoned(hello));
                return (None, false);
            }
        }
        if let Some(found) = self.feed_tcp_in_place(seg) {
            return (found, true);
        }
        let side = &mut self.sides[seg.side];
        match side {
            SideState::Done
            | SideState::Quic(_)
            | SideState::DnsTcp(_)
            | SideState::Check(_)
            | SideState::CheckNamed(_)
            | SideState::CheckQuic(_) => return (None, false),
            SideState::Undecided => *side = SideState::Pending(TcpStream::new(STREAM_LIMIT)),
            SideState::Tls(_) | SideState::Http(_) | SideState::Pending(_) => {}
        }
        let (added, grew, mismatched) = match side {
            SideState::Tls(s) | SideState::Http(s) | SideState::Pending(s) => {
                let before = s.contiguous().len();
                let added = s.segment(seg.seq, seg.flags, seg.payload);
                (added, s.contiguous().len() > before, s.mismatched())
            }
            _ => (0, false, false),
        };
        let fresh = added > 0;
        if mismatched {
            self.stop(Evasion::TcpOverlapMismatch);
            return (None, fresh);
        }
        if !grew {
            // Nothing new at the front: the answer cannot have changed.
            return (None, fresh);
        }
        let side = &mut self.sides[seg.side];
        if let SideState::Pending(s) = side {
            let bytes = s.contiguous();
            let Some(kind) = first_bytes(bytes, s.is_full()) else {
                return (None, true);
            };
            let SideState::Pending(s) = std::mem::take(side) else {
                return (None, true);
            };
            *side = match kind {
                Kind::Tls => SideState::Tls(s),
                Kind::Http => SideState::Http(s),
                Kind::Other => SideState::Done,
            };
        }
        let found = match side {
            SideState::Tls(s) => {
                let full = s.is_full();
                match tls::parse_client_hello_records(s.contiguous()) {
                    Err(tls::TlsError::Incomplete) if !full => None,
                    Err(tls::TlsError::Incomplete) => {
                        self.sides[seg.side] = SideState::Done;
                        self.stop(Evasion::TlsHelloTooLarge);
                        None
                    }
                    parsed => {
                        let stream = std::mem::take(side);
                        let found = self.tls_read(seg.side, parsed);
                        if let (Some(_), SideState::Tls(s)) = (&found, stream) {
                            self.named = true;
                            self.keep_for_check(seg.side, s);
                        }
                        found
                    }
                }
            }
            SideState::Http(s) => {
                let full = s.is_full();
                match http::parse_request_host(s.contiguous()) {
                    Err(http::HttpError::Incomplete) if !full => None,
                    Err(http::HttpError::NotHttp) if full => {
                        self.sides[seg.side] = SideState::Done;
                        self.stop(Evasion::HttpHeadTooLarge);
                        None
                    }
                    parsed => {
                        let stream = std::mem::take(side);
                        let found = self.http_read(seg.side, parsed);
                        if let (Some(_), SideState::Http(s)) = (&found, stream) {
                            self.named = true;
                            self.keep_for_check(seg.side, s);
                        }
                        found
                    }
                }
            }
            _ => None,
        };
        (found, true)
    }

    /// A side's first segment, read where it lies: most hellos and requests fit in one segment,
    /// and then no stream buffer is made for them. `None` when the segment is not the first
    /// bytes of its side, or does not hold a whole hello or request: the stream takes it. Reads
    /// exactly what the stream would hold, so the outcome is the same either way.
    fn feed_tcp_in_place(&mut self, seg: &Segment<'_>) -> Option<Option<FlowName>> {
        let starts = match &self.sides[seg.side] {
            SideState::Undecided => seg.flags & crate::decode::tcp_flags::SYN == 0,
            SideState::Pending(s) => s.would_start_with(seg.seq, seg.flags),
            _ => false,
        };
        if !starts {
            return None;
        }
        let bytes = &seg.payload[..seg.payload.len().min(STREAM_LIMIT as usize)];
        let full = bytes.len() >= STREAM_LIMIT as usize;
        let (found, http) = match first_bytes(bytes, full)? {
            Kind::Tls => match tls::parse_client_hello_records(bytes) {
                Err(tls::TlsError::Incomplete) => return None,
                parsed => (self.tls_read(seg.side, parsed), false),
            },
            Kind::Http => match http::parse_request_host(bytes) {
                Err(http::HttpError::Incomplete) => return None,
                parsed => (self.http_read(seg.side, parsed), true),
            },
            Kind::Other => {
                self.sides[seg.side] = SideState::Done;
                return Some(None);
            }
        };
        if let Some(f) = &found {
            // Named: remember where, to check a later copy (no copy is made now).
            self.named = true;
            self.sides[seg.side] = SideState::CheckNamed(Named {
                base: seg.seq,
                len: bytes.len() as u32,
                http,
                name: f.name.clone(),
                again: None,
            });
        }
        Some(found)
    }

    /// A side's ClientHello read to the end (or failed): the side is done.
    fn tls_read(
        &mut self,
        side: usize,
        parsed: Result<tls::ClientHello, tls::TlsError>,
    ) -> Option<FlowName> {
        self.sides[side] = SideState::Done;
        match parsed {
            Ok(hello) => {
                self.proto = Some(Proto::Tls);
                Some(FlowName {
                    proto: Some(Proto::Tls),
                    source: hello.sni.is_some().then_some(NameSource::Sni),
                    name: hello.sni,
                    alpn: hello.alpn,
                })
            }
            Err(e) => {
                if e != tls::TlsError::NotClientHello {
                    self.failure.get_or_insert(Failure::Tls(e));
                }
                None
            }
        }
    }

    /// A side's request read to the end of its headers (or failed): the side is done.
    fn http_read(
        &mut self,
        side: usize,
        parsed: Result<Option<std::sync::Arc<str>>, http::HttpError>,
    ) -> Option<FlowName> {
        self.sides[side] = SideState::Done;
        match parsed {
            Ok(host) => {
                self.proto = Some(Proto::Http);
                Some(FlowName {
                    proto: Some(Proto::Http),
                    source: host.is_some().then_some(NameSource::Host),
                    name: host,
                    alpn: Default::default(),
                })
            }
            Err(e) => {
                self.failure.get_or_insert(Failure::Http(e));
                None
            }
        }
    }

    /// One datagram: the name if it completes a hello, and whether it brought new bytes.
    fn feed_udp(&mut self, seg: &Segment<'_>) -> (Option<FlowName>, bool) {
        let side = &mut self.sides[seg.side];
        if let SideState::Undecided = side {
            // The server's Initials are encrypted with keys naming cannot derive.
            *side = if seg.side == 0 && quic::looks_like_initial(seg.payload) {
                SideState::Quic(Box::default())
            } else if seg.side == 0 && is_long_header(seg.payload) {
                // 0-RTT or Handshake before the Initial in capture order: keep waiting.
                return (None, false);
            } else {
                SideState::Done
            };
        }
        let SideState::Quic(state) = side else {
            return (None, false);
        };
        if state.has_partial_hello() && quic::is_short_header(seg.payload) {
            // 1-RTT packets: the handshake is over, with a hello naming never saw whole.
            self.stop(Evasion::Abandoned(Hello::Quic));
            return (None, false);
        }
        let held = state.handshake_held();
        let progress = state.feed(seg.payload);
        let fresh = state.handshake_held() > held;
        if state.handshake_mismatched() {
            self.stop(Evasion::QuicCryptoMismatch);
            return (None, fresh);
        }
        let found = match progress {
            Ok(quic::QuicProgress::NeedMore) => None,
            Ok(quic::QuicProgress::Hello(hello)) => {
                // Kept until the server's first datagram: a decoy Initial sent first, and the
                // real one after it, differ in their CRYPTO data.
                if let SideState::Quic(state) = std::mem::take(side) {
                    *side = SideState::CheckQuic(state);
                }
                self.proto = Some(Proto::Quic);
                Some(FlowName {
                    proto: Some(Proto::Quic),
                    source: hello.sni.is_some().then_some(NameSource::QuicSni),
                    name: hello.sni,
                    alpn: hello.alpn,
                })
            }
            Err(quic::QuicError::NotQuic) => {
                // A later datagram that is not an Initial (server data, a packet of another
                // kind) ends nothing: the ClientHello may still complete in the next Initial.
                None
            }
            Err(e) => {
                self.failure.get_or_insert(Failure::Quic(e));
                *side = SideState::Done;
                None
            }
        };
        (found, fresh)
    }
}

/// What a side had begun to send and not completed, if anything.
fn begun_hello(side: &SideState) -> Option<Hello> {
    match side {
        SideState::Tls(_) => Some(Hello::Tls),
        SideState::Http(_) => Some(Hello::Http),
        SideState::Pending(s) if !s.is_empty() => Some(Hello::Tcp),
        SideState::Quic(q) if q.has_partial_hello() => Some(Hello::Quic),
        _ => None,
    }
}

/// A QUIC long header (form and fixed bits set, a version that is not version negotiation).
fn is_long_header(datagram: &[u8]) -> bool {
    match datagram {
        [first, v0, v1, v2, v3, ..] => first & 0xc0 == 0xc0 && [*v0, *v1, *v2, *v3] != [0; 4],
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tcp_flags::{ACK, SYN};
    use crate::inspect::tls::tests::{client_hello, HelloSpec};

    fn seg(side: usize, l4: L4, seq: u32, flags: u8, payload: &[u8]) -> Segment<'_> {
        Segment {
            side,
            l4,
            client_port: 50000,
            server_port: 443,
            seq,
            flags,
            payload,
        }
    }

    fn record(msg: &[u8]) -> Vec<u8> {
        let mut r = vec![0x16, 0x03, 0x01];
        r.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        r.extend_from_slice(msg);
        r
    }

    #[test]
    fn client_hello_in_three_segments_out_of_order_is_named_when_complete() {
        let hello = record(&client_hello(&HelloSpec {
            post_quantum: true,
            ..Default::default()
        }));
        assert!(hello.len() > 1500);
        let third = hello.len() / 3;
        let parts = [
            &hello[..third],
            &hello[third..2 * third],
            &hello[2 * third..],
        ];
        let isn = 7_000u32;
        let mut n = Namer::default();
        assert!(n.feed(&seg(0, L4::Tcp, isn, SYN, b"")).name.is_none());
        // Third, then first (and a retransmission of it), then second.
        let seq = |i: usize| isn + 1 + (i * third) as u32;
        assert!(n
            .feed(&seg(0, L4::Tcp, seq(2), ACK, parts[2]))
            .name
            .is_none());
        assert!(n
            .feed(&seg(0, L4::Tcp, seq(0), ACK, parts[0]))
            .name
            .is_none());
        assert!(n
            .feed(&seg(0, L4::Tcp, seq(0), ACK, parts[0]))
            .name
            .is_none());
        assert!(!n.is_done());
        let name = n
            .feed(&seg(0, L4::Tcp, seq(1), ACK, parts[1]))
            .name
            .expect("named");
        assert_eq!(name.name.as_deref(), Some("www.example.com"));
        assert_eq!(name.source, Some(NameSource::Sni));
        assert_eq!(name.proto, Some(Proto::Tls));
        assert_eq!(name.alpn.iter().collect::<Vec<_>>(), ["h2", "http/1.1"]);
        assert!(n.is_named());
        // The hello is kept until the server answers, then naming is over.
        assert!(!n.is_done());
        n.feed(&seg(1, L4::Tcp, 1, ACK, &[0x16, 3, 3, 0, 80, 2]));
        assert!(n.is_done());
        assert_eq!(n.evasion(), None);
    }

    #[test]
    fn namer_seeded_with_the_client_isn_waits_for_the_first_segment() {
        let hello = record(&client_hello(&HelloSpec::default()));
        let (a, b) = hello.split_at(40);
        let mut n = Namer::new(Some(99));
        // The second piece first: a gap at the start, so nothing is decided yet.
        assert!(n.feed(&seg(0, L4::Tcp, 100 + 40, ACK, b)).name.is_none());
        assert!(!n.is_done());
        let name = n.feed(&seg(0, L4::Tcp, 100, ACK, a)).name.expect("named");
        assert_eq!(name.name.as_deref(), Some("www.example.com"));
    }

    #[test]
    fn http_host_split_across_segments_is_named() {
        let req = b"GET / HTTP/1.1\r\nHost: Example.org:8080\r\nAccept: */*\r\n\r\n";
        let mut n = Namer::default();
        assert!(n
            .feed(&seg(0, L4::Tcp, 100, ACK, &req[..24]))
            .name
            .is_none());
        let name = n
            .feed(&seg(0, L4::Tcp, 124, ACK, &req[24..]))
            .name
            .expect("named");
        assert_eq!(name.name.as_deref(), Some("example.org"));
        assert_eq!(name.source, Some(NameSource::Host));
    }

    #[test]
    fn unnameable_tcp_stops_after_both_sides_spoke() {
        let mut n = Namer::default();
        n.feed(&seg(1, L4::Tcp, 1, ACK, b"SSH-2.0-OpenSSH_9.6\r\n"));
        assert!(!n.is_done());
        n.feed(&seg(0, L4::Tcp, 1, ACK, b"SSH-2.0-libssh\r\n"));
        assert!(n.is_done());
        assert_eq!(n.proto(), None);
    }

    #[test]
    fn dns_query_over_udp_names_the_flow() {
        // id 0x1234, RD, one question: www.Example.com A IN
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in ["www", "Example", "com"] {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        let mut n = Namer::default();
        let s = Segment {
            side: 0,
            l4: L4::Udp,
            client_port: 40000,
            server_port: 53,
            seq: 0,
            flags: 0,
            payload: &q,
        };
        let name = n.feed(&s).name.expect("named");
        assert_eq!(name.name.as_deref(), Some("www.example.com"));
        assert_eq!(name.source, Some(NameSource::DnsQuery));
        assert!(n.is_done());
    }

    /// Feeds `pieces` (stream offset, bytes) of the client's stream after a SYN at `isn`;
    /// returns the name found, if any.
    fn feed_client(n: &mut Namer, isn: u32, pieces: &[(usize, &[u8])]) -> Option<FlowName> {
        let mut found = None;
        for &(off, bytes) in pieces {
            let step = n.feed(&seg(0, L4::Tcp, isn + 1 + off as u32, ACK, bytes));
            found = found.or(step.name);
        }
        found
    }

    fn pq_hello() -> Vec<u8> {
        record(&client_hello(&HelloSpec {
            post_quantum: true,
            ..Default::default()
        }))
    }

    #[test]
    fn hello_in_one_byte_segments_is_named() {
        let hello = pq_hello();
        assert!(hello.len() > 1000, "{} bytes", hello.len());
        let pieces: Vec<(usize, &[u8])> = (0..hello.len()).map(|i| (i, &hello[i..=i])).collect();
        let mut n = Namer::new(Some(1000));
        let name = feed_client(&mut n, 1000, &pieces).expect("named");
        assert_eq!(name.name.as_deref(), Some("www.example.com"));
        assert_eq!(n.evasion(), None);
    }

    #[test]
    fn hello_in_33_segments_is_named() {
        // 32 segments was where naming used to give up.
        let hello = pq_hello();
        let step = hello.len().div_ceil(33);
        let pieces: Vec<(usize, &[u8])> = hello
            .chunks(step)
            .enumerate()
            .map(|(i, c)| (i * step, c))
            .collect();
        assert_eq!(pieces.len(), 33);
        let mut n = Namer::new(Some(5));
        let name = feed_client(&mut n, 5, &pieces).expect("named");
        assert_eq!(name.name.as_deref(), Some("www.example.com"));
    }

    #[test]
    fn retransmitted_first_bytes_do_not_use_up_naming() {
        let hello = pq_hello();
        let mut pieces: Vec<(usize, &[u8])> = vec![(0, &hello[..5]); 1000];
        pieces.push((0, &hello));
        let mut n = Namer::new(Some(77));
        let name = feed_client(&mut n, 77, &pieces).expect("named");
        assert_eq!(name.name.as_deref(), Some("www.example.com"));
        assert_eq!(n.evasion(), None);
    }

    #[test]
    fn endless_retransmissions_of_a_hello_start_end_naming_as_abandoned() {
        let hello = pq_hello();
        let pieces: Vec<(usize, &[u8])> = vec![(0, &hello[..5]); usize::from(STALE_PACKETS) + 1];
        let mut n = Namer::new(Some(77));
        assert!(feed_client(&mut n, 77, &pieces).is_none());
        assert!(n.is_done());
        assert_eq!(n.evasion(), Some(Evasion::Abandoned(Hello::Tls)));
        assert_eq!(
            n.evasion().map(Evasion::reason),
            Some("naming_abandoned_tls")
        );
    }

    #[test]
    fn hello_in_more_segments_than_the_cap_is_abandoned() {
        // A record announcing a hello of 4,000 bytes, sent one byte a segment: the cap on
        // packets that bring new bytes ends naming before the hello does, and says so.
        let mut stream = vec![0x16, 3, 1, 0x0f, 0xa0, 1, 0, 0x0f, 0x9c, 3, 3];
        stream.resize(4005, 0);
        let pieces: Vec<(usize, &[u8])> = (0..usize::from(FRESH_PACKETS))
            .map(|i| (i, &stream[i..=i]))
            .collect();
        let mut n = Namer::new(Some(0));
        assert!(feed_client(&mut n, 0, &pieces[..pieces.len() - 1]).is_none());
        assert!(!n.is_done());
        assert!(feed_client(&mut n, 0, &pieces[pieces.len() - 1..]).is_none());
        assert!(n.is_done());
        assert_eq!(n.evasion(), Some(Evasion::Abandoned(Hello::Tls)));
    }

    #[test]
    fn overlapping_segments_with_the_same_bytes_are_named() {
        let hello = pq_hello();
        // Segments of 100 bytes every 60: each overlaps the one before by 40 bytes.
        let pieces: Vec<(usize, &[u8])> = (0..hello.len())
            .step_by(60)
            .map(|o| (o, &hello[o..(o + 100).min(hello.len())]))
            .collect();
        let mut n = Namer::new(Some(9));
        let name = feed_client(&mut n, 9, &pieces).expect("named");
        assert_eq!(name.name.as_deref(), Some("www.example.com"));
        assert_eq!(n.evasion(), None);
    }

    #[test]
    fn overlapping_segments_with_different_bytes_end_naming_as_evasion() {
        let hello = record(&client_hello(&HelloSpec::default()));
        let at = hello
            .windows(15)
            .position(|w| w == b"www.Example.COM")
            .expect("the name in the hello");
        // The first copy names another host; the second, as the server may keep it, differs.
        let mut decoy = hello[..at + 15].to_vec();
        decoy[at..at + 3].copy_from_slice(b"xyz");
        let mut n = Namer::new(Some(9));
        assert!(feed_client(&mut n, 9, &[(0, &decoy)]).is_none());
        assert!(!n.is_done());
        let found = feed_client(&mut n, 9, &[(0, &hello)]);
        assert!(found.is_none(), "{found:?}");
        assert!(n.is_done());
        assert_eq!(n.evasion(), Some(Evasion::TcpOverlapMismatch));
        assert_eq!(
            n.evasion().map(Evasion::reason),
            Some("tcp_overlap_mismatch")
        );
    }

    #[test]
    fn server_answering_an_unfinished_hello_ends_naming_as_abandoned() {
        let hello = pq_hello();
        let mut n = Namer::new(Some(9));
        assert!(feed_client(&mut n, 9, &[(0, &hello[..300])]).is_none());
        assert!(!n.is_done());
        // Empty ACKs from the server are fine.
        n.feed(&seg(1, L4::Tcp, 501, ACK, b""));
        assert!(!n.is_done());
        n.feed(&seg(1, L4::Tcp, 501, ACK, &[0x16, 3, 3, 0, 80, 2]));
        assert!(n.is_done());
        assert_eq!(n.evasion(), Some(Evasion::Abandoned(Hello::Tls)));
    }

    #[test]
    fn flow_ending_mid_request_is_abandoned_and_a_named_one_is_not() {
        let req = b"GET / HTTP/1.1\r\nHost: www.pornhub.com\r\nAccept: */*\r\n\r\n";
        let mut n = Namer::new(Some(0));
        assert!(feed_client(&mut n, 0, &[(0, &req[..30])]).is_none());
        assert!(!n.is_done());
        assert_eq!(n.evasion(), Some(Evasion::Abandoned(Hello::Http)));
        let pieces: Vec<(usize, &[u8])> = (30..req.len()).map(|i| (i, &req[i..=i])).collect();
        let name = feed_client(&mut n, 0, &pieces).expect("named");
        assert_eq!(name.name.as_deref(), Some("www.pornhub.com"));
        assert_eq!(n.evasion(), None);
    }

    #[test]
    fn hello_larger_than_the_stream_limit_is_counted_as_too_large() {
        // A handshake message of 20,000 bytes in two records: more than naming keeps.
        let mut msg = vec![1, 0, 0x4e, 0x1c];
        msg.extend_from_slice(&[3, 3]);
        msg.resize(20_004, 0);
        let mut stream = Vec::new();
        for chunk in msg.chunks(16_384) {
            stream.extend_from_slice(&record(chunk));
        }
        let mut n = Namer::new(Some(0));
        let pieces: Vec<(usize, &[u8])> = stream
            .chunks(1400)
            .enumerate()
            .map(|(i, c)| (i * 1400, c))
            .collect();
        assert!(feed_client(&mut n, 0, &pieces).is_none());
        assert!(n.is_done());
        assert_eq!(n.evasion(), Some(Evasion::TlsHelloTooLarge));
        assert_eq!(n.failure, None);
    }

    #[test]
    fn other_sides_data_is_no_progress() {
        // An SSH-like server banner and a client still mid-hello: the banner brings nothing
        // new to the client's stream, and counts as such.
        let mut n = Namer::default();
        n.feed(&seg(0, L4::Tcp, 1, ACK, &[0x16, 3, 1, 0x3f, 0xff, 1]));
        let fresh = n.fresh_left;
        n.feed(&seg(0, L4::Tcp, 1, ACK, &[0x16, 3, 1, 0x3f, 0xff, 1]));
        assert_eq!(n.fresh_left, fresh, "a retransmission is not progress");
        assert_eq!(n.stale_left, STALE_PACKETS - 1);
    }

    #[test]
    fn a_decoy_hello_followed_by_a_different_one_is_evasion_after_naming() {
        // The decoy, sent so that only the middlebox keeps it, names the flow first; the real
        // hello at the same place differs, which naming sees while it waits for the server.
        let real = record(&client_hello(&HelloSpec {
            sni: Some(b"www.pornhub.com"),
            ..Default::default()
        }));
        let decoy = record(&client_hello(&HelloSpec {
            sni: Some(b"www.example.com"),
            ..Default::default()
        }));
        for in_place in [true, false] {
            let mut n = Namer::new(Some(9));
            let name = if in_place {
                feed_client(&mut n, 9, &[(0, &decoy)])
            } else {
                feed_client(&mut n, 9, &[(0, &decoy[..100]), (100, &decoy[100..])])
            };
            assert_eq!(
                name.and_then(|n| n.name).as_deref(),
                Some("www.example.com")
            );
            assert!(!n.is_done(), "in place: {in_place}");
            // The same bytes again are a retransmission.
            assert!(feed_client(&mut n, 9, &[(0, &decoy[..50])]).is_none());
            assert!(!n.is_done());
            assert!(feed_client(&mut n, 9, &[(0, &real)]).is_none());
            assert!(n.is_done());
            assert_eq!(
                n.evasion(),
                Some(Evasion::TcpOverlapMismatch),
                "in place: {in_place}"
            );
        }
    }

    #[test]
    fn a_named_request_is_checked_only_until_the_server_answers() {
        let req = b"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n";
        let mut n = Namer::new(Some(0));
        assert!(feed_client(&mut n, 0, &[(0, req)]).is_some());
        assert!(!n.is_done());
        n.feed(&seg(1, L4::Tcp, 1, ACK, b"HTTP/1.1 200 OK\r\n"));
        assert!(n.is_done());
        assert_eq!(n.evasion(), None);
    }

    #[test]
    fn a_faithful_copy_of_a_hello_read_in_place_is_no_evasion() {
        let hello = record(&client_hello(&HelloSpec::default()));
        let mut n = Namer::new(Some(9));
        assert!(feed_client(&mut n, 9, &[(0, &hello)]).is_some());
        // Sent again in two pieces, the second first, as a lossy path might.
        assert!(feed_client(&mut n, 9, &[(60, &hello[60..]), (0, &hello[..60])]).is_none());
        // And the whole of it once more.
        assert!(feed_client(&mut n, 9, &[(0, &hello)]).is_none());
        assert!(!n.is_done());
        n.feed(&seg(1, L4::Tcp, 1, ACK, &[0x16, 3, 3, 0, 80, 2]));
        assert!(n.is_done());
        assert_eq!(n.evasion(), None);
    }

    #[test]
    fn a_copy_of_a_hello_read_in_place_that_names_another_host_is_evasion() {
        let decoy = record(&client_hello(&HelloSpec {
            sni: Some(b"www.example.com"),
            ..Default::default()
        }));
        let real = record(&client_hello(&HelloSpec {
            sni: Some(b"a-much-longer-name.example.org"),
            ..Default::default()
        }));
        let mut n = Namer::new(Some(9));
        assert!(feed_client(&mut n, 9, &[(0, &decoy)]).is_some());
        let cut = real.len() / 2;
        assert!(feed_client(&mut n, 9, &[(cut, &real[cut..])]).is_none());
        assert!(!n.is_done(), "half a copy says nothing yet");
        assert!(feed_client(&mut n, 9, &[(0, &real[..cut])]).is_none());
        assert!(n.is_done());
        assert_eq!(n.evasion(), Some(Evasion::TcpOverlapMismatch));
    }
}
