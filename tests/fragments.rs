//! End-to-end: a DNS query sent as two IPv4 fragments is reassembled and named, whether the
//! flow is worked on the thread that reads the capture or handed to a worker thread (there the
//! reassembled datagram, which lies in no frame of the capture, travels with the packet).

use serde_json::Value;
use std::process::Command;

/// An IPv4 header (no options) with its checksum.
fn ipv4(id: u16, frag: u16, payload_len: usize) -> Vec<u8> {
    let total = (20 + payload_len) as u16;
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, 17, 0, 0]);
    h.extend_from_slice(&[10, 45, 0, 7]);
    h.extend_from_slice(&[192, 0, 2, 53]);
    let sum = h
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum::<u32>();
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = !((sum & 0xffff) + (sum >> 16)) as u16;
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    h
}

/// A DNS query for `name` with an EDNS padding option (RFC 7830) of `pad` bytes.
fn padded_query(name: &str, pad: u16) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]); // root, type A, class IN
    q.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0, 0]); // OPT: root, 4096, ttl 0
    q.extend_from_slice(&(4 + pad).to_be_bytes());
    q.extend_from_slice(&12u16.to_be_bytes());
    q.extend_from_slice(&pad.to_be_bytes());
    q.extend(std::iter::repeat_n(0, usize::from(pad)));
    q
}

/// A pcap file of Ethernet frames, one microsecond apart.
fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

fn ethernet(ip: Vec<u8>) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend(ip);
    f
}

#[test]
fn a_fragmented_dns_query_is_named_with_one_two_and_three_workers() {
    let dns = padded_query("fragments.example.com", 1500);
    let mut udp = Vec::new();
    udp.extend_from_slice(&40_000u16.to_be_bytes());
    udp.extend_from_slice(&53u16.to_be_bytes());
    udp.extend_from_slice(&((8 + dns.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(&dns);
    let (first, rest) = udp.split_at(1480);
    let frames = [
        ethernet([ipv4(7, 0x2000, first.len()), first.to_vec()].concat()),
        ethernet([ipv4(7, 1480 / 8, rest.len()), rest.to_vec()].concat()),
    ];
    let dir = std::env::temp_dir().join(format!("pcgate-fragments-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fragmented-dns.pcap");
    std::fs::write(&path, pcap(&frames)).unwrap();
    // With three workers the reading thread works no flow itself: the query goes to a worker
    // thread.
    for workers in ["1", "2", "3"] {
        let out = Command::new(env!("CARGO_BIN_EXE_pcgate"))
            .args(["replay", path.to_str().unwrap(), "--flows", "-"])
            .args(["--workers", workers])
            .output()
            .expect("run pcgate");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let flows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(flows.len(), 1, "{workers} workers: {flows:?}");
        let f = &flows[0];
        assert_eq!(f["name"], "fragments.example.com", "{workers} workers: {f}");
        assert_eq!(f["name_source"], "dns_query");
        assert_eq!(f["client"], "10.45.0.7:40000");
        assert_eq!(f["packets"]["c2s"], 1, "one datagram: {f}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
