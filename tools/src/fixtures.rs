//! The fixture set of `fixtures/pcaps/`: small deterministic captures, each with its expected
//! flows (`<name>.expected.jsonl`) and, for the damaged capture, the skips a reader must count
//! (`<name>.expected-skips.json`). `gen-fixtures` writes what [`all`] returns; the expected
//! records are computed from the flows built here, never written by hand.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use thiserror::Error;

use crate::capture::{self, CaptureError, Interface};
use crate::dns::{rtype, Answer};
use crate::flow::Flow;
use crate::packets::{
    tcp_packet, Direction, Frame, Gtpu, Link, PacketError, Path, TcpFlags, TcpSegment,
};
use crate::pcap_writer::{Endian, LinkType, PcapWriter, TsResolution, WriteError};
use crate::recipes::{self, Endpoints, QuicShape, RecipeError, TlsShape};
use crate::rng::Rng;
use crate::tls::ClientHello;

/// 2024-06-01T00:00:00Z, the start of every fixture, in nanoseconds.
pub const BASE_NS: u64 = 1_717_200_000 * 1_000_000_000;
/// Time between the starts of two flows of a fixture.
const FLOW_SPACING_NS: u64 = 1_000_000_000;

/// Errors while generating fixtures.
#[derive(Debug, Error)]
pub enum FixtureError {
    /// A flow could not be built.
    #[error("{fixture}: {source}")]
    Recipe {
        /// Fixture being built.
        fixture: &'static str,
        /// Cause.
        source: RecipeError,
    },
    /// A capture could not be written.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// A record could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A hand-made damaged packet could not be built.
    #[error(transparent)]
    Packet(#[from] PacketError),
    /// The skip counts could not be serialized.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// One file of the fixture set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureFile {
    /// File name inside the fixture directory.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Builds every fixture file.
pub fn all() -> Result<Vec<FixtureFile>, FixtureError> {
    let mut out = Vec::new();
    tls_basic(&mut out)?;
    http_dns(&mut out)?;
    quic(&mut out)?;
    gtpu(&mut out)?;
    damaged(&mut out)?;
    evening(&mut out)?;
    Ok(out)
}

/// The evening of five subscribers decided by `fixtures/policy-evening.toml` (see
/// [`crate::evening`]).
fn evening(out: &mut Vec<FixtureFile>) -> Result<(), FixtureError> {
    const NAME: &str = "evening.pcap";
    let flows = crate::evening::flows().map_err(|source| FixtureError::Recipe {
        fixture: NAME,
        source,
    })?;
    push_ethernet_pcap(out, NAME, &flows, TsResolution::Nano, Endian::Little)
}

fn sa(s: &str) -> SocketAddr {
    // Only called on the literals below.
    s.parse()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// Start time of the `i`-th flow of a fixture.
fn at(i: u64) -> u64 {
    BASE_NS + i * FLOW_SPACING_NS + i * 137_000 // a little jitter so timestamps are not round
}

fn ep(client: &str, server: &str, path: Path, i: u64) -> Endpoints {
    Endpoints {
        client: sa(client),
        server: sa(server),
        path,
        start_ns: at(i),
    }
}

/// Writes `flows` as a classic Ethernet pcap named `name`, with their expected flows beside it.
fn push_ethernet_pcap(
    out: &mut Vec<FixtureFile>,
    name: &str,
    flows: &[Flow],
    resolution: TsResolution,
    endian: Endian,
) -> Result<(), FixtureError> {
    let frames = capture::merged_frames(flows);
    let pcap = capture::write_pcap(&frames, LinkType::ETHERNET, resolution, endian)?;
    push_capture(out, name, pcap, flows)
}

fn push_capture(
    out: &mut Vec<FixtureFile>,
    name: &str,
    capture: Vec<u8>,
    flows: &[Flow],
) -> Result<(), FixtureError> {
    out.push(FixtureFile {
        name: name.to_owned(),
        bytes: capture,
    });
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    out.push(FixtureFile {
        name: format!("{stem}.expected.jsonl"),
        bytes: capture::expected_jsonl(flows)?.into_bytes(),
    });
    Ok(())
}

/// TLS over IPv4 and IPv6: a hello in 3 segments out of order with a retransmission, a
/// post-quantum hello in 3 records over 2 segments, a hello without SNI.
fn tls_basic(out: &mut Vec<FixtureFile>) -> Result<(), FixtureError> {
    const NAME: &str = "tls-basic.pcap";
    let err = |source| FixtureError::Recipe {
        fixture: NAME,
        source,
    };
    let mut rng = Rng::from_label(NAME);
    let eth = Path::on(Link::ethernet());
    let mut flows = Vec::new();

    let hello = ClientHello::browser(&mut rng, Some("www.example.com"));
    let shape = TlsShape {
        hello_segments: 3,
        segment_order: vec![1, 0, 1, 2],
        ..TlsShape::default()
    };
    flows.push(
        recipes::tls_flow(
            &ep("10.0.0.1:51000", "93.184.216.34:443", eth, 0),
            &mut rng,
            &hello,
            &shape,
        )
        .map_err(err)?,
    );

    let hello = ClientHello::browser(&mut rng, Some("pq.example.org")).with_post_quantum(true);
    let shape = TlsShape {
        hello_records: 3,
        server_records: vec![1400, 1300, 300],
        ..TlsShape::default()
    };
    let e = ep(
        "[2001:db8:10::2]:51001",
        "[2606:2800:220:1:248:1893:25c8:1946]:443",
        eth,
        1,
    );
    flows.push(recipes::tls_flow(&e, &mut rng, &hello, &shape).map_err(err)?);

    let hello = ClientHello::browser(&mut rng, None);
    flows.push(
        recipes::tls_flow(
            &ep("10.0.0.3:51002", "198.51.100.20:443", eth, 2),
            &mut rng,
            &hello,
            &TlsShape::default(),
        )
        .map_err(err)?,
    );

    let hello = ClientHello::browser(&mut rng, Some("api.example.net"))
        .with_alpn(&["h2"])
        .with_grease(false);
    let e = ep("[2001:db8:10::2]:51003", "[2001:db8:443::1]:443", eth, 3);
    flows.push(recipes::tls_flow(&e, &mut rng, &hello, &TlsShape::default()).map_err(err)?);

    push_ethernet_pcap(out, NAME, &flows, TsResolution::Micro, Endian::Little)
}

/// HTTP and DNS over three interfaces (Ethernet, raw IP, Linux SLL) in one pcapng.
fn http_dns(out: &mut Vec<FixtureFile>) -> Result<(), FixtureError> {
    const NAME: &str = "http-dns.pcapng";
    let err = |source| FixtureError::Recipe {
        fixture: NAME,
        source,
    };
    let mut rng = Rng::from_label(NAME);
    let eth = Path::on(Link::ethernet());
    let raw = Path::on(Link::RawIp);
    let sll = Path::on(Link::linux_sll());
    let mut flows = Vec::new();

    // DNS over UDP: an A answer whose address a later flow connects to.
    let cdn = "cdn.example.net";
    let cdn_v4 = Ipv4Addr::new(198, 51, 100, 77);
    let cdn_ip = IpAddr::V4(cdn_v4);
    let answers = [Answer::A(cdn_v4), Answer::A([198, 51, 100, 78].into())];
    flows.push(
        recipes::dns_udp_flow(
            &ep("10.1.0.5:53001", "10.1.0.1:53", eth, 0),
            0x1a2b,
            cdn,
            rtype::A,
            &answers,
        )
        .map_err(err)?,
    );

    // DNS over UDP: AAAA through a CNAME (compression pointers in owners and data).
    let answers = [
        Answer::Cname("video.cdn.example.org".into()),
        Answer::Aaaa(Ipv6Addr::new(0x2001, 0xdb8, 0x77, 0, 0, 0, 0, 1)),
    ];
    flows.push(
        recipes::dns_udp_flow(
            &ep("10.1.0.5:53002", "10.1.0.1:53", eth, 1),
            0x1a2c,
            "video.example.org",
            rtype::AAAA,
            &answers,
        )
        .map_err(err)?,
    );

    // HTTP with a port in Host, on the raw IP interface.
    flows.push(
        recipes::http_flow(
            &ep("10.1.0.5:40001", "203.0.113.80:8080", raw, 2),
            &mut rng,
            "shop.example.com:8080",
            "/cart",
            700,
            false,
        )
        .map_err(err)?,
    );

    // HTTP whose Host value is cut across two segments.
    flows.push(
        recipes::http_flow(
            &ep("10.1.0.5:40002", "203.0.113.81:80", raw, 3),
            &mut rng,
            "news.example.org",
            "/today",
            1800,
            true,
        )
        .map_err(err)?,
    );

    // DNS over TCP, on the Linux SLL interface.
    let answers = [
        Answer::Cname("mx.example.com".into()),
        Answer::A([203, 0, 113, 25].into()),
    ];
    flows.push(
        recipes::dns_tcp_flow(
            &ep("10.1.0.5:40003", "10.1.0.1:53", sll, 4),
            &mut rng,
            0x1a2d,
            "mail.example.com",
            rtype::A,
            &answers,
        )
        .map_err(err)?,
    );

    // A flow with no name of its own to the address of the first DNS answer.
    let e = Endpoints {
        client: sa("10.1.0.5:40004"),
        server: SocketAddr::new(cdn_ip, 5228),
        path: eth,
        start_ns: at(5),
    };
    let mut opaque = recipes::opaque_tcp_flow(&e, &mut rng, 120, 480).map_err(err)?;
    opaque.app = opaque.app.named_by_dns_answer(cdn);
    flows.push(opaque);

    let frames = capture::merged_frames(&flows);
    let interfaces = [
        Interface {
            link_type: LinkType::ETHERNET,
            resolution: TsResolution::Micro,
            name: "eth0",
        },
        Interface {
            link_type: LinkType::RAW,
            resolution: TsResolution::Nano,
            name: "rawip0",
        },
        Interface {
            link_type: LinkType::LINUX_SLL,
            resolution: TsResolution::Micro,
            name: "any",
        },
    ];
    let pcapng = capture::write_pcapng(&frames, &interfaces)?;
    push_capture(out, NAME, pcapng, &flows)
}

/// QUIC v1 Initials: one packet, a CRYPTO stream split over two packets sent in reverse
/// order, and a post-quantum hello over two packets sent in reverse order (IPv6).
fn quic(out: &mut Vec<FixtureFile>) -> Result<(), FixtureError> {
    const NAME: &str = "quic.pcap";
    let err = |source| FixtureError::Recipe {
        fixture: NAME,
        source,
    };
    let mut rng = Rng::from_label(NAME);
    let eth = Path::on(Link::ethernet());
    let mut flows = Vec::new();
    let plain = QuicShape {
        short_packets: 2,
        ..QuicShape::default()
    };
    flows.push(
        recipes::quic_flow(
            &ep("10.2.0.7:55001", "142.250.74.46:443", eth, 0),
            &mut rng,
            Some("quic.example.com"),
            &plain,
        )
        .map_err(err)?,
    );
    let split = QuicShape {
        split_reversed_percent: Some(50),
        short_packets: 2,
        ..QuicShape::default()
    };
    flows.push(
        recipes::quic_flow(
            &ep("10.2.0.7:55002", "142.250.74.47:443", eth, 1),
            &mut rng,
            Some("split.example.org"),
            &split,
        )
        .map_err(err)?,
    );
    let pq = QuicShape {
        post_quantum: true,
        split_reversed_percent: Some(40),
        short_packets: 1,
    };
    let e = ep("[2001:db8:20::7]:55003", "[2001:db8:443::2]:443", eth, 2);
    flows.push(recipes::quic_flow(&e, &mut rng, Some("video.example.net"), &pq).map_err(err)?);
    push_ethernet_pcap(out, NAME, &flows, TsResolution::Micro, Endian::Little)
}

/// Subscriber traffic inside GTP-U (TEIDs, inner IPv4 and IPv6) and 802.1Q-tagged traffic;
/// a nanosecond pcap with a big-endian header.
fn gtpu(out: &mut Vec<FixtureFile>) -> Result<(), FixtureError> {
    const NAME: &str = "gtpu.pcap";
    let err = |source| FixtureError::Recipe {
        fixture: NAME,
        source,
    };
    let mut rng = Rng::from_label(NAME);
    let tunnel = |teid| {
        Path::tunneled(
            Link::ethernet(),
            Gtpu {
                teid,
                access: ip("172.16.0.1"),
                core: ip("172.16.0.2"),
            },
        )
    };
    let mut flows = Vec::new();

    let hello = ClientHello::browser(&mut rng, Some("kids.example.com"));
    flows.push(
        recipes::tls_flow(
            &ep(
                "10.45.0.2:43001",
                "93.184.216.34:443",
                tunnel(0x00a1_b2c3),
                0,
            ),
            &mut rng,
            &hello,
            &TlsShape::default(),
        )
        .map_err(err)?,
    );
    let shape = QuicShape {
        short_packets: 1,
        ..QuicShape::default()
    };
    let e = ep(
        "[2001:db8:45::2]:43002",
        "[2001:db8:443::3]:443",
        tunnel(0x00a1_b2c4),
        1,
    );
    flows.push(recipes::quic_flow(&e, &mut rng, Some("games.example.net"), &shape).map_err(err)?);
    let answers = [Answer::A([93, 184, 216, 34].into())];
    flows.push(
        recipes::dns_udp_flow(
            &ep("10.45.0.2:43003", "10.45.0.1:53", tunnel(0x00a1_b2c3), 2),
            0x2b3c,
            "kids.example.com",
            rtype::A,
            &answers,
        )
        .map_err(err)?,
    );
    flows.push(
        recipes::http_flow(
            &ep(
                "10.3.0.9:41001",
                "203.0.113.90:80",
                Path::on(Link::ethernet_vlan(100)),
                3,
            ),
            &mut rng,
            "vlan.example.com",
            "/",
            400,
            false,
        )
        .map_err(err)?,
    );
    let hello = ClientHello::browser(&mut rng, Some("tagged.example.org"));
    let e = ep(
        "[2001:db8:30::9]:41002",
        "[2001:db8:443::4]:443",
        Path::on(Link::ethernet_vlan(200)),
        4,
    );
    flows.push(recipes::tls_flow(&e, &mut rng, &hello, &TlsShape::default()).map_err(err)?);

    push_ethernet_pcap(out, NAME, &flows, TsResolution::Nano, Endian::Big)
}

/// Valid flows, then a TCP header with a bad data offset, a frame of an unknown EtherType,
/// and a last record cut in the middle (the file ends early).
fn damaged(out: &mut Vec<FixtureFile>) -> Result<(), FixtureError> {
    const NAME: &str = "damaged.pcap";
    let err = |source| FixtureError::Recipe {
        fixture: NAME,
        source,
    };
    let mut rng = Rng::from_label(NAME);
    let eth = Path::on(Link::ethernet());
    let mut flows = Vec::new();
    let hello = ClientHello::browser(&mut rng, Some("before.example.com"));
    flows.push(
        recipes::tls_flow(
            &ep("10.4.0.2:47001", "93.184.216.34:443", eth, 0),
            &mut rng,
            &hello,
            &TlsShape::default(),
        )
        .map_err(err)?,
    );
    let answers = [Answer::A([203, 0, 113, 5].into())];
    flows.push(
        recipes::dns_udp_flow(
            &ep("10.4.0.2:47002", "10.4.0.1:53", eth, 1),
            0x3c4d,
            "valid.example.net",
            rtype::A,
            &answers,
        )
        .map_err(err)?,
    );
    let mut frames = capture::merged_frames(&flows);
    let mut skips: BTreeMap<&str, u32> = BTreeMap::new();

    // A TCP SYN whose data offset says 2 words (less than the 5-word minimum header).
    let syn = TcpSegment {
        seq: 1,
        flags: TcpFlags {
            syn: true,
            ..TcpFlags::default()
        },
        window: 1024,
        mss: None,
        payload: &[],
    };
    let mut bad = tcp_packet(sa("10.4.0.2:47003"), sa("203.0.113.5:443"), 64, &syn)?;
    const IPV4_HEADER_LEN: usize = 20;
    const TCP_DATA_OFFSET_AT: usize = 12;
    if let Some(b) = bad.get_mut(IPV4_HEADER_LEN + TCP_DATA_OFFSET_AT) {
        *b = 0x20;
    }
    frames.push(Frame {
        ts_ns: at(2),
        dir: Direction::ClientToServer,
        link_type: LinkType::ETHERNET,
        bytes: Link::ethernet().frame_ip(Direction::ClientToServer, &bad)?,
    });
    *skips.entry("malformed").or_default() += 1;

    // An Ethernet frame of a local experimental EtherType (IEEE 802 0x88B5).
    const ETHERTYPE_LOCAL_EXPERIMENTAL: u16 = 0x88b5;
    let payload = rng.bytes(46);
    let bytes = Link::ethernet().frame_with_ether_type(
        Direction::ClientToServer,
        ETHERTYPE_LOCAL_EXPERIMENTAL,
        &payload,
    )?;
    frames.push(Frame {
        ts_ns: at(3),
        dir: Direction::ClientToServer,
        link_type: LinkType::ETHERNET,
        bytes,
    });
    *skips.entry("not_ip").or_default() += 1;

    let mut w = PcapWriter::new(
        LinkType::ETHERNET,
        TsResolution::Micro,
        Endian::Little,
        capture::SNAPLEN,
    );
    for f in &frames {
        w.write_packet(f.ts_ns, &f.bytes)?;
    }
    // A last DNS query whose record the file cuts in the middle.
    let cut = recipes::dns_udp_flow(
        &ep("10.4.0.2:47004", "10.4.0.1:53", eth, 4),
        0x3c4e,
        "cut.example.org",
        rtype::A,
        &[],
    )
    .map_err(err)?;
    let last = cut
        .frames
        .first()
        .map(|f| f.bytes.clone())
        .unwrap_or_default();
    w.write_packet(at(4), &last)?;
    let mut bytes = w.into_bytes();
    bytes.truncate(bytes.len() - last.len() / 2);
    *skips.entry("truncated_file").or_default() += 1;

    push_capture(out, NAME, bytes, &flows)?;
    out.push(FixtureFile {
        name: "damaged.expected-skips.json".to_owned(),
        bytes: format!("{}\n", serde_json::to_string(&skips)?).into_bytes(),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic() {
        let a = all().unwrap();
        let b = all().unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn every_capture_has_expectations_and_the_set_is_small() {
        let files = all().unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        for cap in [
            "tls-basic.pcap",
            "http-dns.pcapng",
            "quic.pcap",
            "gtpu.pcap",
            "damaged.pcap",
        ] {
            assert!(names.contains(&cap), "{cap} missing");
            let stem = cap.rsplit_once('.').unwrap().0;
            assert!(names.contains(&format!("{stem}.expected.jsonl").as_str()));
        }
        assert!(names.contains(&"damaged.expected-skips.json"));
        let total: usize = files.iter().map(|f| f.bytes.len()).sum();
        assert!(total < 256 * 1024, "fixtures take {total} bytes");
    }

    #[test]
    fn damaged_capture_ends_inside_its_last_record() {
        let files = all().unwrap();
        let d = files.iter().find(|f| f.name == "damaged.pcap").unwrap();
        // Walk the records: the last header claims more bytes than remain.
        let b = &d.bytes;
        let mut at = 24;
        let mut complete = 0;
        loop {
            let incl = u32::from_le_bytes([b[at + 8], b[at + 9], b[at + 10], b[at + 11]]) as usize;
            if at + 16 + incl > b.len() {
                assert!(at + 16 < b.len(), "cut must be inside the record data");
                break;
            }
            at += 16 + incl;
            complete += 1;
        }
        let skips = files
            .iter()
            .find(|f| f.name == "damaged.expected-skips.json")
            .unwrap();
        assert_eq!(
            skips.bytes,
            b"{\"malformed\":1,\"not_ip\":1,\"truncated_file\":1}\n"
        );
        let expected = files
            .iter()
            .find(|f| f.name == "damaged.expected.jsonl")
            .unwrap();
        let flow_packets: u64 = String::from_utf8(expected.bytes.clone())
            .unwrap()
            .lines()
            .map(|l| {
                let e: crate::flow::ExpectedFlow = serde_json::from_str(l).unwrap();
                e.packets.c2s + e.packets.s2c
            })
            .sum();
        assert_eq!(complete as u64, flow_packets + 2);
    }
}
