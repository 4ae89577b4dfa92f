//! End-to-end: a DNS query sent as two IPv4 fragments is reassembled and named, whether the
//! flow is worked on the thread that reads the capture or handed to a worker thread (there the
//! reassembled datagram, which lies in no frame of the capture, travels with the packet).

use etherparse::{IpFragOffset, Ipv4Header};
use pcgate_tools::packets::{udp_packet, Direction, Link};
use pcgate_tools::pcap_writer::{Endian, LinkType, PcapWriter, TsResolution};

#[path = "support/replay.rs"]
mod replay;

/// A DNS query for `name` (type A) with an EDNS OPT record carrying a padding option (RFC
/// 7830) of `pad` bytes: a query too large for one Ethernet frame.
fn padded_query(name: &str, pad: u16) -> Vec<u8> {
    let mut q = pcgate_tools::dns::query(0x1234, name, 1).expect("a valid name");
    q[10..12].copy_from_slice(&1u16.to_be_bytes()); // ARCOUNT: the OPT record
    q.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0, 0]); // root, OPT, 4096 bytes, ttl 0
    q.extend_from_slice(&(4 + pad).to_be_bytes());
    q.extend_from_slice(&12u16.to_be_bytes()); // option: padding
    q.extend_from_slice(&pad.to_be_bytes());
    q.extend(std::iter::repeat_n(0, usize::from(pad)));
    q
}

/// The IPv4 `packet` cut into fragments whose data is at most `piece` bytes (a multiple of 8),
/// each with its own header and checksum (RFC 791 section 3.2).
fn fragments(packet: &[u8], piece: usize) -> Vec<Vec<u8>> {
    let (header, data) = Ipv4Header::from_slice(packet).expect("an IPv4 packet");
    let chunks: Vec<&[u8]> = data.chunks(piece).collect();
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut h = header.clone();
            h.more_fragments = i + 1 < chunks.len();
            h.fragment_offset = IpFragOffset::try_new((i * piece / 8) as u16).expect("offset");
            h.set_payload_len(chunk.len()).expect("length");
            h.header_checksum = h.calc_header_checksum();
            [&h.to_bytes()[..], chunk].concat()
        })
        .collect()
}

#[test]
fn a_fragmented_dns_query_is_named_with_one_two_and_three_workers() {
    let query = padded_query("fragments.example.com", 1500);
    let datagram = udp_packet(
        "10.45.0.7:40000".parse().unwrap(),
        "192.0.2.53:53".parse().unwrap(),
        64,
        &query,
    )
    .expect("a UDP datagram");
    let mut pcap = PcapWriter::new(
        LinkType::ETHERNET,
        TsResolution::Micro,
        Endian::Little,
        65_535,
    );
    for (i, piece) in fragments(&datagram, 1480).iter().enumerate() {
        let frame = Link::ethernet()
            .frame_ip(Direction::ClientToServer, piece)
            .expect("a frame");
        pcap.write_packet(1_700_000_000_000_000_000 + i as u64 * 1_000, &frame)
            .expect("a record");
    }
    assert_eq!(pcap.records(), 2, "the query is cut in two");
    let dir = std::env::temp_dir().join(format!("pcgate-fragments-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fragmented-dns.pcap");
    std::fs::write(&path, pcap.into_bytes()).unwrap();
    // With three workers the reading thread works no flow itself: the query goes to a worker
    // thread.
    for workers in ["1", "2", "3"] {
        let flows = replay::flows(&path, &["--workers", workers]);
        assert_eq!(flows.len(), 1, "{workers} workers: {flows:?}");
        let f = &flows[0];
        assert_eq!(f["name"], "fragments.example.com", "{workers} workers: {f}");
        assert_eq!(f["name_source"], "dns_query");
        assert_eq!(f["client"], "10.45.0.7:40000");
        assert_eq!(f["packets"]["c2s"], 1, "one datagram: {f}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
