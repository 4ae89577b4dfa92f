//! End-to-end: flows named only by an earlier DNS answer are named the same whatever the number
//! of workers, even when the answer cache is too small to hold more than a few answers and
//! the thread that reads the capture runs far ahead of the worker that starts the flow.

use pcgate_tools::dns::{response, Answer};
use pcgate_tools::packets::{tcp_packet, udp_packet, Direction, Link, TcpFlags, TcpSegment};
use pcgate_tools::pcap_writer::{Endian, LinkType, PcapWriter, TsResolution};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

#[path = "support/replay.rs"]
mod replay;

/// Answers, each followed by a connection to the address it gave.
const SITES: u16 = 600;
const START_NS: u64 = 1_700_000_000_000_000_000;
const CLIENT: [u8; 4] = [10, 45, 0, 7];
/// The answers of the last 16 sites only: a thread that reads a batch of packets (hundreds)
/// ahead of the worker would have evicted the answer a connection needs before the worker
/// started it, had they shared one cache (as they did: 489 of 600 flows went unnamed).
const DNS_CACHE: &str = "16";

fn site(i: u16) -> (String, Ipv4Addr) {
    (
        format!("site-{i}.example"),
        Ipv4Addr::new(198, 51, (i / 256) as u8, (i % 256) as u8),
    )
}

/// For each site: the resolver's answer to the client, then 1 ms later the client's SYN to the
/// address it was given (a flow with no name of its own).
fn capture() -> Vec<u8> {
    let mut pcap = PcapWriter::new(
        LinkType::ETHERNET,
        TsResolution::Nano,
        Endian::Little,
        65_535,
    );
    let link = Link::ethernet();
    let mut record = |ts: u64, dir: Direction, ip_packet: &[u8]| {
        let frame = link.frame_ip(dir, ip_packet).expect("a frame");
        pcap.write_packet(ts, &frame).expect("a record");
    };
    let client = Ipv4Addr::from(CLIENT);
    let resolver = SocketAddr::from(([192, 0, 2, 53], 53));
    let syn = TcpSegment {
        seq: 1,
        flags: TcpFlags {
            syn: true,
            ..TcpFlags::default()
        },
        window: 64_240,
        mss: Some(1460),
        payload: &[],
    };
    for i in 0..SITES {
        let (name, addr) = site(i);
        let ts = START_NS + u64::from(i) * 10_000_000;
        let answer = response(i, &name, 1, &[Answer::A(addr)], 300).expect("a DNS response");
        let to_client = SocketAddr::from((client, 20_000 + i));
        let dns = udp_packet(resolver, to_client, 64, &answer).expect("a UDP datagram");
        record(ts, Direction::ServerToClient, &dns);
        let from_client = SocketAddr::from((client, 40_000 + i));
        let connect = tcp_packet(from_client, SocketAddr::from((addr, 443)), 64, &syn)
            .expect("a TCP segment");
        record(ts + 1_000_000, Direction::ClientToServer, &connect);
    }
    pcap.into_bytes()
}

/// (server, name, source) of every TCP flow, sorted.
fn tcp_names(path: &Path, workers: &str) -> Vec<(String, String, String)> {
    let flows = replay::flows(path, &["--dns-cache", DNS_CACHE, "--workers", workers]);
    let mut names: Vec<_> = flows
        .iter()
        .filter(|f| f["l4"] == "tcp")
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or("").to_owned();
            (s("server"), s("name"), s("name_source"))
        })
        .collect();
    names.sort();
    names
}

#[test]
fn flows_named_by_dns_answers_are_named_alike_with_one_two_and_three_workers() {
    let dir = std::env::temp_dir().join(format!("pcgate-dns-workers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("answers-then-connections.pcap");
    std::fs::write(&path, capture()).unwrap();
    // One worker sees every answer just before the connection it names.
    let mut expected: Vec<_> = (0..SITES)
        .map(|i| {
            let (name, addr) = site(i);
            (format!("{addr}:443"), name, "dns_answer".to_owned())
        })
        .collect();
    expected.sort();
    assert_eq!(tcp_names(&path, "1"), expected);
    for workers in ["2", "3"] {
        let many = tcp_names(&path, workers);
        assert_eq!(many.len(), expected.len(), "{workers} workers");
        let differ: Vec<_> = expected.iter().zip(&many).filter(|(a, b)| a != b).collect();
        assert!(
            differ.is_empty(),
            "{workers} workers name {} of {} flows otherwise, for example {:?}",
            differ.len(),
            expected.len(),
            differ.first()
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
