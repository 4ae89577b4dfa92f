//! End-to-end: a flow belongs to the listed line at either end. A connection *to* a child's
//! phone (here from 198.51.100.60:50000 to 10.45.0.11:8080) is the child's: her bedtime blocks
//! it, and her quota counts it together with her own connections, with the same result for one
//! worker and for two (all her flows go to one worker, whichever end she is).

use pcgate_tools::packets::{tcp_packet, Direction, Link, TcpFlags, TcpSegment};
use pcgate_tools::pcap_writer::{Endian, LinkType, PcapWriter, TsResolution};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;

#[path = "support/replay.rs"]
mod replay;

const CHILD: &str = "447700900011";

/// The child (10.45.0.11) has 3 minutes of YouTube a day and a bedtime from 21:00.
const POLICY: &str = r#"
default_profile = "open"
default_timezone = "UTC"

[[subscriber]]
id = "447700900011"
identifiers = ["10.45.0.11"]
profile = "child"
timezone = "UTC"

[profile.child]
quotas = [{ app = "youtube", minutes = 3 }]

[[profile.child.schedules]]
name = "bedtime"
days = "daily"
start = "21:00"
end = "07:00"
block_all = true

[profile.open]
"#;

/// 2024-06-04 (a Tuesday) 20:00:00 UTC.
const T2000: u64 = 1_717_531_200_000_000_000;
const MINUTE: u64 = 60_000_000_000;

fn segment(seq: u32, flags: TcpFlags, payload: &[u8]) -> TcpSegment<'_> {
    TcpSegment {
        seq,
        flags,
        window: 64_240,
        mss: None,
        payload,
    }
}

/// One connection: SYN, SYN-ACK, then the client's HTTP request naming `host`.
fn connect(
    record: &mut impl FnMut(u64, Direction, &[u8]),
    ts: u64,
    client: &str,
    server: &str,
    host: &str,
) {
    let (c, s): (SocketAddr, SocketAddr) = (client.parse().unwrap(), server.parse().unwrap());
    let syn = TcpFlags {
        syn: true,
        ..TcpFlags::default()
    };
    let syn_ack = TcpFlags {
        syn: true,
        ack: Some(101),
        ..TcpFlags::default()
    };
    let ack = TcpFlags {
        ack: Some(501),
        psh: true,
        ..TcpFlags::default()
    };
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: test\r\n\r\n");
    let packets = [
        (0, Direction::ClientToServer, c, s, segment(100, syn, b"")),
        (
            1,
            Direction::ServerToClient,
            s,
            c,
            segment(500, syn_ack, b""),
        ),
        (
            2,
            Direction::ClientToServer,
            c,
            s,
            segment(101, ack, request.as_bytes()),
        ),
    ];
    for (ms, dir, from, to, segment) in packets {
        let ip = tcp_packet(from, to, 64, &segment).expect("a TCP segment");
        record(ts + ms * 1_000_000, dir, &ip);
    }
}

/// The child watches YouTube one new connection a minute from 20:00, alternately her phone
/// connecting out and a server connecting in to her phone; at 21:30 a server connects in
/// during her bedtime; another line's connection at the same time is not hers.
fn capture() -> Vec<u8> {
    let mut pcap = PcapWriter::new(
        LinkType::ETHERNET,
        TsResolution::Nano,
        Endian::Little,
        65_535,
    );
    let link = Link::ethernet();
    let mut record = |ts: u64, dir: Direction, ip: &[u8]| {
        let frame = link.frame_ip(dir, ip).expect("a frame");
        pcap.write_packet(ts, &frame).expect("a record");
    };
    for m in 0..7u16 {
        let ts = T2000 + u64::from(m) * MINUTE;
        let (client, server): (String, String) = if m.is_multiple_of(2) {
            (
                format!("10.45.0.11:{}", 40_000 + m),
                "142.250.1.3:80".into(),
            )
        } else {
            (
                format!("198.51.100.7:{}", 30_000 + m),
                "10.45.0.11:8080".into(),
            )
        };
        connect(&mut record, ts, &client, &server, "www.youtube.com");
    }
    let bedtime = T2000 + 90 * MINUTE;
    connect(
        &mut record,
        bedtime,
        "198.51.100.60:50000",
        "10.45.0.11:8080",
        "example.org",
    );
    connect(
        &mut record,
        bedtime + MINUTE,
        "198.51.100.60:50001",
        "192.0.2.80:8080",
        "example.org",
    );
    pcap.into_bytes()
}

/// (client, server, subscriber, verdict, rule) of every flow, sorted.
fn decided(capture: &Path, policy: &Path, workers: &str) -> Vec<[String; 5]> {
    let policy = policy.to_str().expect("a UTF-8 path");
    let flows = replay::flows(capture, &["--policy", policy, "--workers", workers]);
    let mut rows: Vec<[String; 5]> = flows
        .iter()
        .map(|f: &Value| {
            ["client", "server", "subscriber", "verdict", "rule"]
                .map(|k| f[k].as_str().unwrap_or("null").to_owned())
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn connections_to_a_childs_phone_are_hers_for_bedtime_and_quota_with_one_and_two_workers() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (pcap, policy) = (
        dir.path().join("either-end.pcap"),
        dir.path().join("p.toml"),
    );
    std::fs::write(&pcap, capture()).unwrap();
    std::fs::write(&policy, POLICY).unwrap();
    let row = |c: &str, s: &str, sub: &str, verdict: &str, rule: &str| {
        [c, s, sub, verdict, rule].map(str::to_owned)
    };
    let youtube = |m: u16, verdict: &str, rule: &str| {
        if m.is_multiple_of(2) {
            let client = format!("10.45.0.11:{}", 40_000 + m);
            row(&client, "142.250.1.3:80", CHILD, verdict, rule)
        } else {
            let client = format!("198.51.100.7:{}", 30_000 + m);
            row(&client, "10.45.0.11:8080", CHILD, verdict, rule)
        }
    };
    // Minutes 20:00, 20:01 (a connection in) and 20:02 use the 3 minutes; every connection
    // from 20:03 is blocked, whichever way it goes.
    let mut want: Vec<[String; 5]> = (0..3).map(|m| youtube(m, "allow", "default")).collect();
    want.extend((3..7).map(|m| youtube(m, "block", "quota:youtube")));
    want.push(row(
        "198.51.100.60:50000",
        "10.45.0.11:8080",
        CHILD,
        "block",
        "schedule:bedtime",
    ));
    want.push(row(
        "198.51.100.60:50001",
        "192.0.2.80:8080",
        "default",
        "allow",
        "default",
    ));
    want.sort();
    for workers in ["1", "2"] {
        assert_eq!(
            decided(&pcap, &policy, workers),
            want,
            "with {workers} workers"
        );
    }
}
