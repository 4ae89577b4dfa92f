//! End-to-end, as a hostile user would try it: a TLS ClientHello, an HTTP request and a QUIC
//! Initial hello for `www.pornhub.com` (blocked by the embedded default policy) cut into 33, 100
//! and 1,000 segments, into 1-byte segments, after 32 retransmissions of its first 5 bytes, in
//! segments that overlap with the same bytes or with different ones, after a decoy hello (or
//! QUIC Initial) for another site, and begun but never finished. Each is replayed with `pcgate replay --policy default` and must come out named and
//! blocked, or blocked as evasion with its counted reason; either way the packets after the
//! decision are blocked.

use pcgate_tools::packets::{tcp_packet, udp_packet, Direction, Link, TcpFlags, TcpSegment};
use pcgate_tools::pcap_writer::{Endian, LinkType, PcapWriter, TsResolution};
use pcgate_tools::quic::{client_transport_parameters, short_header_filler, ClientInitials};
use pcgate_tools::rng::Rng;
use pcgate_tools::tls::ClientHello;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

/// Blocked by the default policy's baseline profile (`app:pornhub`).
const HOST: &str = "www.pornhub.com";
/// A line the policy does not list: the default profile applies.
const CLIENT: &str = "10.99.0.5:51000";
const CLIENT_ISN: u32 = 0x1000_0000;
const SERVER_ISN: u32 = 0x8000_0000;
const T0: u64 = 1_700_000_000_000_000_000;
/// Data segments the server sends once the client is done (blocked when the flow is).
const ANSWER_SEGMENTS: usize = 4;

/// A capture being written: Ethernet frames, 100 µs apart.
struct Capture {
    pcap: PcapWriter,
    ts: u64,
}

impl Capture {
    fn new() -> Capture {
        Capture {
            pcap: PcapWriter::new(
                LinkType::ETHERNET,
                TsResolution::Nano,
                Endian::Little,
                65_535,
            ),
            ts: T0,
        }
    }

    fn ip(&mut self, dir: Direction, ip: &[u8]) {
        let frame = Link::ethernet().frame_ip(dir, ip).expect("a frame");
        self.pcap.write_packet(self.ts, &frame).expect("a record");
        self.ts += 100_000;
    }

    fn tcp(&mut self, dir: Direction, server: SocketAddr, seq: u32, flags: TcpFlags, data: &[u8]) {
        let client: SocketAddr = CLIENT.parse().unwrap();
        let (src, dst) = match dir {
            Direction::ClientToServer => (client, server),
            Direction::ServerToClient => (server, client),
        };
        let seg = TcpSegment {
            seq,
            flags,
            window: 64_240,
            mss: None,
            payload: data,
        };
        self.ip(dir, &tcp_packet(src, dst, 64, &seg).expect("a TCP packet"));
    }

    fn udp(&mut self, dir: Direction, server: SocketAddr, data: &[u8]) {
        let client: SocketAddr = CLIENT.parse().unwrap();
        let (src, dst) = match dir {
            Direction::ClientToServer => (client, server),
            Direction::ServerToClient => (server, client),
        };
        self.ip(dir, &udp_packet(src, dst, 64, data).expect("a UDP packet"));
    }

    fn write(self, name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pcgate-evasion-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.pcap"));
        std::fs::write(&path, self.pcap.into_bytes()).unwrap();
        path
    }
}

/// A TCP connection to `server`: the handshake, the client's `pieces` (offset in its stream,
/// bytes) in the order given, then the server's answer in [`ANSWER_SEGMENTS`] segments and a
/// FIN each way.
fn tcp_capture(name: &str, server: &str, pieces: &[(usize, Vec<u8>)]) -> PathBuf {
    let server: SocketAddr = server.parse().unwrap();
    let c2s = Direction::ClientToServer;
    let s2c = Direction::ServerToClient;
    let ack = |n: u32| TcpFlags {
        ack: Some(n),
        ..TcpFlags::default()
    };
    let mut cap = Capture::new();
    let syn = TcpFlags {
        syn: true,
        ..TcpFlags::default()
    };
    cap.tcp(c2s, server, CLIENT_ISN, syn, &[]);
    let syn_ack = TcpFlags {
        syn: true,
        ack: Some(CLIENT_ISN + 1),
        ..TcpFlags::default()
    };
    cap.tcp(s2c, server, SERVER_ISN, syn_ack, &[]);
    cap.tcp(c2s, server, CLIENT_ISN + 1, ack(SERVER_ISN + 1), &[]);
    let mut sent = 0usize;
    for (off, bytes) in pieces {
        let seq = CLIENT_ISN + 1 + *off as u32;
        cap.tcp(c2s, server, seq, ack(SERVER_ISN + 1), bytes);
        sent = sent.max(off + bytes.len());
    }
    let client_next = CLIENT_ISN + 1 + sent as u32;
    let mut server_seq = SERVER_ISN + 1;
    for _ in 0..ANSWER_SEGMENTS {
        let answer = [
            0x16, 0x03, 0x03, 0x00, 0x10, 2, 0, 0, 0x0c, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        cap.tcp(s2c, server, server_seq, ack(client_next), &answer);
        server_seq += answer.len() as u32;
    }
    let fin = |n| TcpFlags {
        fin: true,
        ack: Some(n),
        ..TcpFlags::default()
    };
    cap.tcp(c2s, server, client_next, fin(server_seq), &[]);
    cap.tcp(s2c, server, server_seq, fin(client_next + 1), &[]);
    cap.tcp(c2s, server, client_next + 1, ack(server_seq + 1), &[]);
    cap.write(name)
}

/// `bytes` cut into `n` nearly equal pieces, in order.
fn cut(bytes: &[u8], n: usize) -> Vec<(usize, Vec<u8>)> {
    let at = |i: usize| bytes.len() * i / n;
    (0..n)
        .map(|i| (at(i), bytes[at(i)..at(i + 1)].to_vec()))
        .collect()
}

/// A browser's ClientHello for [`HOST`] with a post-quantum key share (about 1.8 KB), as TLS
/// records.
fn tls_hello() -> Vec<u8> {
    let mut rng = Rng::new(16);
    let hello = ClientHello::browser(&mut rng, Some(HOST)).with_post_quantum(true);
    hello.to_records(1)
}

/// A GET for [`HOST`] with a long path: over 1,000 bytes, so it can be cut in 1,000.
fn http_request() -> Vec<u8> {
    let path = format!("/view_video.php?viewkey={}", "a".repeat(1000));
    pcgate_tools::http::get_request(HOST, &path)
}

/// What one replay printed.
struct Replay {
    flows: Vec<Value>,
    summary: String,
}

impl Replay {
    /// A counted reason of the summary (0 when absent).
    fn count(&self, reason: &str) -> u64 {
        self.summary
            .lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                (words.next() == Some(reason)).then(|| words.next()?.parse().ok())?
            })
            .next()
            .unwrap_or(0)
    }

    /// Packets the policy blocked, from the summary's `blocks` line.
    fn blocked_packets(&self) -> u64 {
        self.summary
            .lines()
            .find_map(|l| {
                let rest = l.strip_prefix("blocks")?;
                let (_, after) = rest.split_once('(')?;
                after.split_whitespace().next()?.parse().ok()
            })
            .unwrap_or(0)
    }

    fn only_flow(&self) -> &Value {
        assert_eq!(self.flows.len(), 1, "one flow: {:?}", self.flows);
        &self.flows[0]
    }

    /// The flow was named [`HOST`] and blocked by its app, and its later packets were blocked.
    fn assert_named_and_blocked(&self) {
        let f = self.only_flow();
        assert_eq!(f["name"], HOST, "{f}\n{}", self.summary);
        assert_eq!(f["verdict"], "block", "{f}");
        assert_eq!(f["rule"], "app:pornhub", "{f}");
        assert!(self.blocked_packets() > 0, "{}", self.summary);
    }

    /// The flow was blocked as evasion, counted as `reason`, and its later packets blocked.
    fn assert_blocked_as_evasion(&self, reason: &str) {
        let f = self.only_flow();
        assert_eq!(f["verdict"], "block", "{f}\n{}", self.summary);
        assert_eq!(f["rule"], "evasion", "{f}");
        assert_eq!(self.count(reason), 1, "{reason}: {}", self.summary);
        assert!(self.blocked_packets() > 0, "{}", self.summary);
    }
}

fn replay(capture: &PathBuf) -> Replay {
    let out = Command::new(env!("CARGO_BIN_EXE_pcgate"))
        .arg("replay")
        .arg(capture)
        .args(["--policy", "default", "--flows", "-"])
        .output()
        .expect("run pcgate");
    let summary = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "pcgate replay: {summary}");
    let flows = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    std::fs::remove_file(capture).ok();
    Replay { flows, summary }
}

// ---- TLS -----------------------------------------------------------------------------------

fn tls_in(name: &str, pieces: &[(usize, Vec<u8>)]) -> Replay {
    replay(&tcp_capture(name, "198.51.100.80:443", pieces))
}

#[test]
fn tls_hello_in_33_segments_is_named_and_blocked() {
    tls_in("tls-33", &cut(&tls_hello(), 33)).assert_named_and_blocked();
}

#[test]
fn tls_hello_in_100_segments_is_named_and_blocked() {
    tls_in("tls-100", &cut(&tls_hello(), 100)).assert_named_and_blocked();
}

#[test]
fn tls_hello_in_1000_segments_is_named_and_blocked() {
    tls_in("tls-1000", &cut(&tls_hello(), 1000)).assert_named_and_blocked();
}

#[test]
fn tls_hello_in_1_byte_segments_is_named_and_blocked() {
    let hello = tls_hello();
    let n = hello.len();
    tls_in("tls-1-byte", &cut(&hello, n)).assert_named_and_blocked();
}

#[test]
fn tls_hello_in_100_segments_sent_last_first_is_named_and_blocked() {
    let mut pieces = cut(&tls_hello(), 100);
    pieces.reverse();
    tls_in("tls-100-reversed", &pieces).assert_named_and_blocked();
}

#[test]
fn tls_hello_after_32_retransmissions_of_its_first_5_bytes_is_named_and_blocked() {
    let hello = tls_hello();
    let mut pieces = vec![(0, hello[..5].to_vec()); 32];
    pieces.push((0, hello.clone()));
    tls_in("tls-retransmitted", &pieces).assert_named_and_blocked();
}

#[test]
fn tls_hello_in_overlapping_segments_with_the_same_bytes_is_named_and_blocked() {
    let hello = tls_hello();
    // 40 bytes a segment, each starting 20 bytes after the one before.
    let pieces: Vec<(usize, Vec<u8>)> = (0..hello.len())
        .step_by(20)
        .map(|o| (o, hello[o..(o + 40).min(hello.len())].to_vec()))
        .collect();
    tls_in("tls-overlap-same", &pieces).assert_named_and_blocked();
}

#[test]
fn tls_hello_in_overlapping_segments_with_different_bytes_is_blocked_as_evasion() {
    let hello = tls_hello();
    let at = hello.len() / 2;
    // A decoy for the middle (the server drops it or keeps it: either way it differs from
    // what follows), then the real bytes over it.
    let decoy: Vec<u8> = hello[at..at + 100].iter().map(|b| b ^ 0x5a).collect();
    let pieces = vec![
        (0, hello[..at].to_vec()),
        (at, decoy),
        (at, hello[at..].to_vec()),
    ];
    tls_in("tls-overlap-different", &pieces).assert_blocked_as_evasion("tcp_overlap_mismatch");
}

#[test]
fn tls_decoy_hello_before_the_real_one_is_blocked_as_evasion() {
    // A whole hello for an allowed site that only the middlebox sees (a low TTL, as zapret's
    // and GoodbyeDPI's "fake" modes send it), then the real one in the same place.
    let mut rng = Rng::new(99);
    let decoy = ClientHello::browser(&mut rng, Some("www.example.com"))
        .with_post_quantum(true)
        .to_records(1);
    let pieces = vec![(0, decoy), (0, tls_hello())];
    let r = tls_in("tls-decoy", &pieces);
    r.assert_blocked_as_evasion("tcp_overlap_mismatch");
}

#[test]
fn tls_hello_begun_and_never_finished_is_blocked_as_evasion() {
    // Half a hello; the server answers all the same (it saw a whole one, the capture did not).
    let hello = tls_hello();
    let pieces = cut(&hello[..hello.len() / 2], 10);
    tls_in("tls-unfinished", &pieces).assert_blocked_as_evasion("naming_abandoned_tls");
}

#[test]
fn tls_hello_begun_when_the_capture_ends_is_recorded_as_blocked_evasion() {
    // Half a hello and nothing after it: naming ends only with the flow, which is then decided
    // (its record says block/evasion, with the time of its last packet) though no packet of it
    // came after the decision.
    let server: SocketAddr = "198.51.100.80:443".parse().unwrap();
    let (c2s, s2c) = (Direction::ClientToServer, Direction::ServerToClient);
    let flags = |syn: bool, ack: Option<u32>| TcpFlags {
        syn,
        ack,
        ..TcpFlags::default()
    };
    let mut cap = Capture::new();
    cap.tcp(c2s, server, CLIENT_ISN, flags(true, None), &[]);
    cap.tcp(
        s2c,
        server,
        SERVER_ISN,
        flags(true, Some(CLIENT_ISN + 1)),
        &[],
    );
    cap.tcp(
        c2s,
        server,
        CLIENT_ISN + 1,
        flags(false, Some(SERVER_ISN + 1)),
        &[],
    );
    let hello = tls_hello();
    for (off, bytes) in cut(&hello[..hello.len() / 2], 4) {
        let seq = CLIENT_ISN + 1 + off as u32;
        cap.tcp(c2s, server, seq, flags(false, Some(SERVER_ISN + 1)), &bytes);
    }
    let r = replay(&cap.write("tls-cut-off"));
    let f = r.only_flow();
    assert_eq!(f["verdict"], "block", "{f}\n{}", r.summary);
    assert_eq!(f["rule"], "evasion", "{f}");
    assert_eq!(f["verdict_at"], f["last_ts"], "{f}");
    assert_eq!(r.count("naming_abandoned_tls"), 1, "{}", r.summary);
}

// ---- HTTP ----------------------------------------------------------------------------------

fn http_in(name: &str, pieces: &[(usize, Vec<u8>)]) -> Replay {
    replay(&tcp_capture(name, "198.51.100.81:80", pieces))
}

#[test]
fn http_request_in_33_segments_is_named_and_blocked() {
    http_in("http-33", &cut(&http_request(), 33)).assert_named_and_blocked();
}

#[test]
fn http_request_in_100_segments_is_named_and_blocked() {
    http_in("http-100", &cut(&http_request(), 100)).assert_named_and_blocked();
}

#[test]
fn http_request_in_1000_segments_is_named_and_blocked() {
    http_in("http-1000", &cut(&http_request(), 1000)).assert_named_and_blocked();
}

#[test]
fn http_request_in_1_byte_segments_is_named_and_blocked() {
    let req = http_request();
    let n = req.len();
    http_in("http-1-byte", &cut(&req, n)).assert_named_and_blocked();
}

#[test]
fn http_request_after_32_retransmissions_of_its_first_5_bytes_is_named_and_blocked() {
    let req = http_request();
    let mut pieces = vec![(0, req[..5].to_vec()); 32];
    pieces.push((0, req.clone()));
    http_in("http-retransmitted", &pieces).assert_named_and_blocked();
}

#[test]
fn http_request_in_overlapping_segments_with_the_same_bytes_is_named_and_blocked() {
    let req = http_request();
    let pieces: Vec<(usize, Vec<u8>)> = (0..req.len())
        .step_by(10)
        .map(|o| (o, req[o..(o + 25).min(req.len())].to_vec()))
        .collect();
    http_in("http-overlap-same", &pieces).assert_named_and_blocked();
}

#[test]
fn http_request_in_overlapping_segments_with_different_bytes_is_blocked_as_evasion() {
    let req = http_request();
    let host = pcgate_tools::http::host_value_range(&req).expect("a Host header");
    // "www.example.com" over the Host first, then the real request.
    let pieces = vec![
        (0, req[..host.start].to_vec()),
        (host.start, b"www.example.com".to_vec()),
        (host.start, req[host.start..].to_vec()),
    ];
    http_in("http-overlap-different", &pieces).assert_blocked_as_evasion("tcp_overlap_mismatch");
}

#[test]
fn http_decoy_request_before_the_real_one_is_blocked_as_evasion() {
    let decoy = pcgate_tools::http::get_request("www.example.com", "/");
    let pieces = vec![(0, decoy), (0, http_request())];
    http_in("http-decoy", &pieces).assert_blocked_as_evasion("tcp_overlap_mismatch");
}

#[test]
fn http_request_begun_and_never_finished_is_blocked_as_evasion() {
    let req = http_request();
    let host = pcgate_tools::http::host_value_range(&req).expect("a Host header");
    // Up to the Host header, never further; the server answers all the same.
    let pieces = cut(&req[..host.start], 3);
    http_in("http-unfinished", &pieces).assert_blocked_as_evasion("naming_abandoned_http");
}

// ---- QUIC ----------------------------------------------------------------------------------

const QUIC_SERVER: &str = "198.51.100.82:443";

/// The client's Initial datagrams for a post-quantum QUIC hello for [`HOST`] (about 1.8 KB of
/// CRYPTO data) cut into `n` Initials.
fn quic_initials(n: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut rng = Rng::new(443);
    let dcid = rng.bytes(8);
    let scid = rng.bytes(8);
    let crypto = ClientHello::browser(&mut rng, Some(HOST))
        .for_quic(client_transport_parameters(&scid))
        .with_post_quantum(true)
        .handshake_message();
    assert!(crypto.len() > 1000, "{} bytes", crypto.len());
    let mut flight = ClientInitials::new(dcid.clone(), scid, crypto);
    flight.cuts = (1..n).map(|i| flight.crypto.len() * i / n).collect();
    let datagrams = flight.datagrams().expect("Initials");
    assert_eq!(datagrams.len(), n);
    (dcid, datagrams)
}

/// The client's `datagrams`, then 1-RTT packets both ways.
fn quic_replay(name: &str, dcid: &[u8], datagrams: &[Vec<u8>]) -> Replay {
    let server: SocketAddr = QUIC_SERVER.parse().unwrap();
    let mut rng = Rng::new(7);
    let mut cap = Capture::new();
    for d in datagrams {
        cap.udp(Direction::ClientToServer, server, d);
    }
    for _ in 0..ANSWER_SEGMENTS {
        cap.udp(
            Direction::ClientToServer,
            server,
            &short_header_filler(&mut rng, dcid, 300),
        );
        cap.udp(
            Direction::ServerToClient,
            server,
            &short_header_filler(&mut rng, &[1; 8], 1200),
        );
    }
    replay(&cap.write(name))
}

#[test]
fn quic_hello_in_33_initials_is_named_and_blocked() {
    let (dcid, d) = quic_initials(33);
    quic_replay("quic-33", &dcid, &d).assert_named_and_blocked();
}

#[test]
fn quic_hello_in_100_initials_is_named_and_blocked() {
    let (dcid, d) = quic_initials(100);
    quic_replay("quic-100", &dcid, &d).assert_named_and_blocked();
}

#[test]
fn quic_hello_in_1000_initials_is_named_and_blocked() {
    let (dcid, d) = quic_initials(1000);
    quic_replay("quic-1000", &dcid, &d).assert_named_and_blocked();
}

#[test]
fn quic_hello_after_32_repeats_of_its_first_initial_is_named_and_blocked() {
    let (dcid, d) = quic_initials(3);
    let mut datagrams = vec![d[0].clone(); 33];
    datagrams.extend_from_slice(&d[1..]);
    quic_replay("quic-repeated", &dcid, &datagrams).assert_named_and_blocked();
}

#[test]
fn quic_decoy_initial_before_the_real_one_is_blocked_as_evasion() {
    // A whole Initial for an allowed site that only the middlebox sees, with its own
    // connection ids, then the real flight on the same addresses.
    let mut rng = Rng::new(44);
    let (dcid, scid) = (rng.bytes(8), rng.bytes(8));
    let crypto = ClientHello::browser(&mut rng, Some("www.example.com"))
        .for_quic(client_transport_parameters(&scid))
        .handshake_message();
    let decoy = ClientInitials::new(dcid, scid, crypto)
        .datagrams()
        .expect("Initials");
    let (dcid, real) = quic_initials(2);
    let datagrams = [decoy, real].concat();
    quic_replay("quic-decoy", &dcid, &datagrams).assert_blocked_as_evasion("quic_crypto_mismatch");
}

#[test]
fn quic_hello_begun_and_never_finished_is_blocked_as_evasion() {
    // Half the Initials, then 1-RTT packets: the handshake went on without the rest.
    let (dcid, d) = quic_initials(10);
    quic_replay("quic-unfinished", &dcid, &d[..5])
        .assert_blocked_as_evasion("naming_abandoned_quic");
}
