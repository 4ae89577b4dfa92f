//! Checks of the fixture generator from the outside: two runs of `gen-fixtures` write
//! byte-identical files equal to the committed ones, and each capture, read back with an
//! independent reader (pcap-parser) and decoded with etherparse, holds exactly the flows and
//! skips its expected files list.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_parser::pcap::{parse_pcap_frame, parse_pcap_frame_be, parse_pcap_header};
use pcap_parser::pcapng::Block;
use pcap_parser::{Linktype, PcapBlockOwned, PcapNGSlice};
use pcgate_tools::flow::ExpectedFlow;

const CAPTURES: [&str; 5] = [
    "tls-basic.pcap",
    "http-dns.pcapng",
    "quic.pcap",
    "gtpu.pcap",
    "damaged.pcap",
];

fn committed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pcaps")
}

fn run_generator(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let status = Command::new(env!("CARGO_BIN_EXE_gen-fixtures"))
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn generator_runs_are_byte_identical_and_match_committed_fixtures() {
    let base = std::env::temp_dir().join(format!("pcgate-gen-fixtures-{}", std::process::id()));
    let (a, b) = (base.join("a"), base.join("b"));
    run_generator(&a);
    run_generator(&b);
    let mut names: Vec<String> = std::fs::read_dir(&a)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let expected = pcgate_tools::fixtures::all().expect("fixtures build").len();
    assert_eq!(names.len(), expected, "{names:?}");
    for n in &names {
        let fa = std::fs::read(a.join(n)).unwrap();
        assert_eq!(
            fa,
            std::fs::read(b.join(n)).unwrap(),
            "{n} differs between runs"
        );
        let committed = std::fs::read(committed_dir().join(n))
            .unwrap_or_else(|_| panic!("{n} is not committed; run gen-fixtures"));
        assert!(
            fa == committed,
            "{n} is stale; run `cargo run -p pcgate-tools --bin gen-fixtures`"
        );
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// One decoded frame: transport, addresses, GTP-U TEID.
struct Decoded {
    l4: &'static str,
    src: SocketAddr,
    dst: SocketAddr,
    teid: Option<u32>,
}

enum Outcome {
    Packet(Decoded),
    Malformed,
    NotIp,
}

fn endpoints(p: &SlicedPacket<'_>) -> Option<(&'static str, SocketAddr, SocketAddr, Vec<u8>)> {
    let (s, d) = match p.net.as_ref()? {
        NetSlice::Ipv4(ip) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        NetSlice::Ipv6(ip) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        _ => return None,
    };
    match p.transport.as_ref()? {
        TransportSlice::Tcp(t) => Some((
            "tcp",
            SocketAddr::new(s, t.source_port()),
            SocketAddr::new(d, t.destination_port()),
            Vec::new(),
        )),
        TransportSlice::Udp(u) => Some((
            "udp",
            SocketAddr::new(s, u.source_port()),
            SocketAddr::new(d, u.destination_port()),
            u.payload().to_vec(),
        )),
        _ => None,
    }
}

fn decode(link: Linktype, frame: &[u8]) -> Outcome {
    let parsed = match link {
        Linktype::ETHERNET => SlicedPacket::from_ethernet(frame),
        Linktype::RAW => SlicedPacket::from_ip(frame),
        Linktype::LINUX_SLL => SlicedPacket::from_linux_sll(frame),
        other => panic!("unexpected link type {other:?}"),
    };
    let Ok(p) = parsed else {
        return Outcome::Malformed;
    };
    if p.net.is_none() {
        return Outcome::NotIp;
    }
    let Some((l4, src, dst, udp_payload)) = endpoints(&p) else {
        return Outcome::Malformed;
    };
    if l4 == "udp" && src.port() == 2152 && dst.port() == 2152 {
        let teid = u32::from_be_bytes([
            udp_payload[4],
            udp_payload[5],
            udp_payload[6],
            udp_payload[7],
        ]);
        let Ok(inner) = SlicedPacket::from_ip(&udp_payload[8..]) else {
            return Outcome::Malformed;
        };
        let Some((l4, src, dst, _)) = endpoints(&inner) else {
            return Outcome::Malformed;
        };
        return Outcome::Packet(Decoded {
            l4,
            src,
            dst,
            teid: Some(teid),
        });
    }
    Outcome::Packet(Decoded {
        l4,
        src,
        dst,
        teid: None,
    })
}

/// A flow as read back: l4, client, server, TEID, and [c2s packets, s2c packets, c2s bytes,
/// s2c bytes].
struct Tally {
    l4: String,
    client: String,
    server: String,
    teid: Option<u32>,
    counts: [u64; 4],
}

/// (link type, frame) of every complete record, and whether the file ended inside a record.
fn read_capture(bytes: &[u8], pcapng: bool) -> (Vec<(Linktype, Vec<u8>)>, bool) {
    let mut out = Vec::new();
    if pcapng {
        let mut links = Vec::new();
        for block in PcapNGSlice::from_slice(bytes).unwrap() {
            match block.unwrap() {
                PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => links.push(idb.linktype),
                PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                    assert_eq!(epb.caplen, epb.origlen);
                    out.push((
                        links[epb.if_id as usize],
                        epb.data[..epb.caplen as usize].to_vec(),
                    ));
                }
                PcapBlockOwned::NG(Block::SectionHeader(_)) => {}
                _ => panic!("unexpected block"),
            }
        }
        return (out, false);
    }
    let (mut rem, header) = parse_pcap_header(bytes).unwrap();
    while !rem.is_empty() {
        let r = if header.is_bigendian() {
            parse_pcap_frame_be(rem)
        } else {
            parse_pcap_frame(rem)
        };
        match r {
            Ok((next, rec)) => {
                assert_eq!(rec.caplen, rec.origlen);
                out.push((header.network, rec.data.to_vec()));
                rem = next;
            }
            Err(pcap_parser::nom::Err::Incomplete(_)) => return (out, true),
            Err(e) => panic!("bad record: {e:?}"),
        }
    }
    (out, false)
}

#[test]
fn captures_hold_exactly_their_expected_flows_and_skips() {
    let dir = committed_dir();
    for cap in CAPTURES {
        let bytes = std::fs::read(dir.join(cap)).unwrap();
        let (frames, truncated) = read_capture(&bytes, cap.ends_with(".pcapng"));
        let stem = cap.rsplit_once('.').unwrap().0;
        let expected: Vec<ExpectedFlow> =
            std::fs::read_to_string(dir.join(format!("{stem}.expected.jsonl")))
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();

        let mut skips: BTreeMap<String, u32> = BTreeMap::new();
        if truncated {
            *skips.entry("truncated_file".into()).or_default() += 1;
        }
        // Flows in order of first packet: key = (l4, unordered endpoints).
        let mut order: Vec<Tally> = Vec::new();
        let mut index: HashMap<(String, SocketAddr, SocketAddr), usize> = HashMap::new();
        for (link, frame) in &frames {
            let d = match decode(*link, frame) {
                Outcome::Packet(d) => d,
                Outcome::Malformed => {
                    *skips.entry("malformed".into()).or_default() += 1;
                    continue;
                }
                Outcome::NotIp => {
                    *skips.entry("not_ip".into()).or_default() += 1;
                    continue;
                }
            };
            let len = frame.len() as u64;
            let fwd = (d.l4.to_string(), d.src, d.dst);
            let rev = (d.l4.to_string(), d.dst, d.src);
            if let Some(&i) = index.get(&fwd) {
                order[i].counts[0] += 1;
                order[i].counts[2] += len;
            } else if let Some(&i) = index.get(&rev) {
                order[i].counts[1] += 1;
                order[i].counts[3] += len;
            } else {
                index.insert(fwd, order.len());
                order.push(Tally {
                    l4: d.l4.to_string(),
                    client: d.src.to_string(),
                    server: d.dst.to_string(),
                    teid: d.teid,
                    counts: [1, 0, len, 0],
                });
            }
        }
        assert_eq!(order.len(), expected.len(), "{cap}: flow count");
        for (got, want) in order.iter().zip(&expected) {
            let want_l4 = serde_json::to_value(want.l4).unwrap();
            assert_eq!(got.l4, want_l4.as_str().unwrap(), "{cap}");
            assert_eq!(
                (&got.client, &got.server),
                (&want.client, &want.server),
                "{cap}"
            );
            assert_eq!(got.teid, want.teid, "{cap} {}", want.client);
            assert_eq!(
                got.counts,
                [
                    want.packets.c2s,
                    want.packets.s2c,
                    want.bytes.c2s,
                    want.bytes.s2c
                ],
                "{cap} {}",
                want.client
            );
        }
        let skips_path = dir.join(format!("{stem}.expected-skips.json"));
        let want_skips: BTreeMap<String, u32> = match std::fs::read_to_string(&skips_path) {
            Ok(s) => serde_json::from_str(&s).unwrap(),
            Err(_) => BTreeMap::new(),
        };
        assert_eq!(skips, want_skips, "{cap}: skips");
    }
}
