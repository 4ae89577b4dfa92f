//! Writes the seed corpora of the fuzz targets (`fuzz/`): `fuzz-seeds OUT_DIR PATH...`, where
//! each PATH is a capture, a TOML fixture or a directory of them.
//!
//! Captures (the real-traffic corpus in `../shared/corpus/pcaps` and `fixtures/pcaps`) are run
//! through pcgate's own reader and decoder; what each target reads is cut out of them: the first
//! 16 KiB of each capture (pcap, pcapng), frames with their link type (decode), tunnel payloads
//! (tunnel), the first bytes of every TCP flow's client side (tls, http), DNS messages (dns),
//! QUIC client datagrams (quic_initial), and ClientHello messages wrapped for `quic_sealed`.
//! The text formats get the fixtures (policy, catalog) and lists and records made from them.
//! Each seed file is named by its content's hash, so running this again adds nothing twice.
//! `tools/fuzz.sh` runs it before fuzzing.

use dataplane::capture::{Capture, Format, LinkType};
use dataplane::decode::{tunnel_port, Decoder, L4};
use dataplane::inspect::dns::looks_like_dns;
use dataplane::inspect::http::looks_like_request;
use dataplane::inspect::quic::looks_like_initial;
use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Seeds per target at most (enough variety; more slows every run's start).
const MAX_PER_TARGET: usize = 600;
/// Capture seeds are cut to this many bytes, at a record boundary.
const CAPTURE_SEED_LEN: usize = 16 * 1024;
/// Frames of one capture that become `decode` seeds.
const FRAMES_PER_CAPTURE: usize = 6;
/// Client bytes kept per TCP flow.
const STREAM_LEN: usize = 8 * 1024;

/// The link types of the `decode` target, in the order of its first byte.
const LINKS: [u32; 12] = [1, 0, 9, 12, 14, 50, 101, 108, 113, 228, 229, 276];

struct Seeds {
    out: PathBuf,
    counts: HashMap<&'static str, usize>,
    seen: HashSet<u64>,
}

impl Seeds {
    fn add(&mut self, target: &'static str, bytes: &[u8]) {
        let n = self.counts.entry(target).or_default();
        if *n >= MAX_PER_TARGET || bytes.is_empty() {
            return;
        }
        let mut h = DefaultHasher::new();
        (target, bytes).hash(&mut h);
        let id = h.finish();
        if !self.seen.insert(id) {
            return;
        }
        let dir = self.out.join(target);
        std::fs::create_dir_all(&dir).expect("create the corpus directory");
        std::fs::write(dir.join(format!("seed-{id:016x}")), bytes).expect("write a seed");
        *n += 1;
    }
}

type FlowKey = (IpAddr, u16, IpAddr, u16);

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let Some((out, inputs)) = args.split_first() else {
        eprintln!("usage: fuzz-seeds OUT_DIR PATH... (captures, TOML fixtures, directories)");
        std::process::exit(2);
    };
    let mut seeds = Seeds {
        out: out.clone(),
        counts: HashMap::new(),
        seen: HashSet::new(),
    };
    let mut files = Vec::new();
    for input in inputs {
        collect(input, &mut files);
    }
    files.sort();
    for file in &files {
        let name = file.to_string_lossy();
        if name.ends_with(".toml") {
            text_seeds(&mut seeds, file);
        } else if name.ends_with(".pcap") || name.ends_with(".pcapng") {
            capture_seeds(&mut seeds, file);
        }
    }
    synthetic_seeds(&mut seeds);
    let mut counts: Vec<_> = seeds.counts.into_iter().collect();
    counts.sort();
    for (target, n) in counts {
        println!("{target}: {n} seeds");
    }
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    match std::fs::read_dir(path) {
        Ok(dir) => {
            for entry in dir.flatten() {
                collect(&entry.path(), files);
            }
        }
        Err(_) => files.push(path.to_path_buf()),
    }
}

fn capture_seeds(seeds: &mut Seeds, file: &Path) {
    let Ok(capture) = Capture::open(file) else {
        return;
    };
    let bytes = capture.bytes();
    let mut packets = capture.packets();
    let mut cut = 0;
    let mut frames = 0;
    let mut decoder = Decoder::default();
    let mut streams: HashMap<FlowKey, Vec<u8>> = HashMap::new();
    let mut datagrams: HashMap<FlowKey, Vec<Vec<u8>>> = HashMap::new();
    while let Some(item) = packets.next() {
        if packets.offset() <= CAPTURE_SEED_LEN {
            cut = packets.offset();
        }
        let Ok(raw) = item else { continue };
        frames += 1;
        // Frames of one capture look alike: a few of each, and all of its flows.
        let link = LINKS.iter().position(|&l| l == raw.link.0);
        if let (true, Some(i)) = (frames <= FRAMES_PER_CAPTURE, link) {
            let mut seed = vec![i as u8];
            seed.extend_from_slice(raw.data);
            seeds.add("decode", &seed);
        }
        if raw.link == LinkType::ETHERNET && frames <= 4 * FRAMES_PER_CAPTURE {
            tunnel_seed(seeds, raw.data);
        }
        let Ok(p) = decoder.decode(raw.ts_ns, raw.link, raw.data) else {
            continue;
        };
        if p.payload.is_empty() {
            continue;
        }
        let key = (p.src, p.src_port, p.dst, p.dst_port);
        match p.l4 {
            L4::Tcp => {
                // The side that speaks first is the client; its first bytes only.
                let rev = (p.dst, p.dst_port, p.src, p.src_port);
                if streams.contains_key(&rev) {
                    continue;
                }
                let s = streams.entry(key).or_default();
                let room = STREAM_LEN.saturating_sub(s.len());
                s.extend_from_slice(&p.payload[..p.payload.len().min(room)]);
            }
            L4::Udp => {
                if (p.src_port == 53 || p.dst_port == 53) && looks_like_dns(p.payload) {
                    seeds.add("dns", p.payload);
                }
                let d = datagrams.entry(key).or_default();
                if d.len() < 4 && (!d.is_empty() || looks_like_initial(p.payload)) {
                    d.push(p.payload.to_vec());
                }
            }
        }
    }
    if cut > 0 {
        let target = match capture.format() {
            Format::Pcap => "pcap",
            Format::Pcapng => "pcapng",
        };
        seeds.add(target, &bytes[..cut]);
    }
    for ((_, sport, _, dport), s) in streams {
        if s.first() == Some(&0x16) {
            let mut seed = vec![0x80];
            seed.extend_from_slice(&s);
            seeds.add("tls", &seed);
            hello_seeds(seeds, &s);
        } else if looks_like_request(&s) {
            let mut seed = vec![0xc0];
            seed.extend_from_slice(&s);
            seeds.add("http", &seed);
        } else if (sport == 53 || dport == 53) && s.len() > 2 {
            seeds.add("dns", &s[2..]);
        }
    }
    for (_, d) in datagrams {
        let mut seed = Vec::new();
        for datagram in d {
            seed.extend_from_slice(&(datagram.len() as u16).to_be_bytes());
            seed.extend_from_slice(&datagram);
        }
        seeds.add("quic_initial", &seed);
    }
}

/// An Ethernet/IPv4-or-IPv6/UDP frame to a tunnel port: the `tunnel` target's input is the
/// kind (as it numbers them) and the UDP payload.
fn tunnel_seed(seeds: &mut Seeds, frame: &[u8]) {
    let Some(ethertype) = frame.get(12..14) else {
        return;
    };
    let (v6, l4_at, proto) = match ethertype {
        [0x08, 0x00] => {
            let ihl = usize::from(frame.get(14).copied().unwrap_or(0) & 0x0f) * 4;
            (false, 14 + ihl, frame.get(23).copied())
        }
        [0x86, 0xdd] => (true, 54, frame.get(20).copied()),
        _ => return,
    };
    let v6_bit = if v6 { 0x80 } else { 0 };
    match proto {
        Some(17) => {
            let Some(port) = frame.get(l4_at + 2..l4_at + 4) else {
                return;
            };
            let port = u16::from_be_bytes([port[0], port[1]]);
            let kind = [
                tunnel_port::GTP_U,
                tunnel_port::VXLAN,
                tunnel_port::CAPWAP_DATA,
                tunnel_port::TEREDO,
            ]
            .iter()
            .position(|&p| p == port);
            if let (Some(kind), Some(payload)) = (kind, frame.get(l4_at + 8..)) {
                let mut seed = vec![v6_bit | kind as u8];
                seed.extend_from_slice(payload);
                seeds.add("tunnel", &seed);
            }
        }
        Some(4) | Some(41) => {
            if let Some(inner) = frame.get(l4_at..) {
                let kind = if proto == Some(4) { 4 } else { 5 };
                let mut seed = vec![v6_bit | kind];
                seed.extend_from_slice(inner);
                seeds.add("tunnel", &seed);
            }
        }
        _ => {}
    }
}

/// The handshake message of a TLS stream's first record, for the `tls` target's bare mode and
/// wrapped as `quic_sealed` wants it (its second mode: v1, an 8-byte DCID, one empty piece).
fn hello_seeds(seeds: &mut Seeds, stream: &[u8]) {
    let Some(len) = stream.get(3..5) else { return };
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    let Some(msg) = stream.get(5..5 + len) else {
        return;
    };
    let mut bare = vec![0x01, 0x00];
    bare.extend_from_slice(msg);
    seeds.add("tls", &bare);
    let mut sealed = vec![0x80, 7, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0];
    sealed.extend_from_slice(msg);
    seeds.add("quic_sealed", &sealed);
}

fn text_seeds(seeds: &mut Seeds, file: &Path) {
    let Ok(text) = std::fs::read(file) else {
        return;
    };
    let is_catalog = text.windows(6).any(|w| w == b"[[app]");
    if is_catalog {
        seeds.add("catalog", &text);
        // A few apps at a time: small seeds mutate faster than the whole catalog.
        let s = String::from_utf8_lossy(&text);
        let apps: Vec<&str> = s.split("[[app]]").skip(1).collect();
        for chunk in apps.chunks(3) {
            let mut part = String::new();
            for app in chunk {
                part.push_str("[[app]]");
                part.push_str(app);
            }
            seeds.add("catalog", part.as_bytes());
            list_seed(seeds, &part);
        }
    } else {
        seeds.add("policy", &text);
    }
}

/// A list file in every format the loader knows, with the domains of some catalog apps.
fn list_seed(seeds: &mut Seeds, catalog_part: &str) {
    let mut list = String::from("# made from the catalog\n! AdBlock comment\n[Adblock Plus 2.0]\n");
    let mut n = 0;
    for line in catalog_part.lines() {
        let Some(rest) = line.trim().strip_prefix("domains = [") else {
            continue;
        };
        for d in rest.split('"').skip(1).step_by(2) {
            let d = d.trim_start_matches(['=', '*', '.']);
            match n % 4 {
                0 => list.push_str(&format!("{d}\n")),
                1 => list.push_str(&format!("0.0.0.0 {d} www.{d}\n")),
                2 => list.push_str(&format!("||{d}^\n")),
                _ => list.push_str(&format!("127.0.0.1\t{d} # hosts\r\n")),
            }
            n += 1;
        }
    }
    seeds.add("lists", list.as_bytes());
}

fn synthetic_seeds(seeds: &mut Seeds) {
    // gquic, second mode: Q043, a CHLO with PAD, SNI and UAID entries.
    for version in [0u8, 1, 2, 3] {
        let mut s = vec![0x80 | version, 3];
        s.push(2 << 3 | 1); // PAD\0, 16 bytes
        s.extend_from_slice(&[0x2d; 16]);
        s.push(2 << 3); // SNI\0, 16 bytes
        s.extend_from_slice(b"www.youtube.com.");
        s.push(1 << 3 | 2); // UAID, 8 bytes
        s.extend_from_slice(b"Chrome/9");
        s.push(0); // no extra pieces
        seeds.add("gquic", &s);
    }
    // records: the README's example, and the same without optional fields.
    let record = br#"{"event":"start","flow_id":"gw1-000042","ts":"2026-11-27T20:15:03.120456Z","msisdn":"447700900123","imsi":"234150999999999","ue_ip":"10.45.0.7","teid":16777223,"l4":"tcp","client":"10.45.0.7:51234","server":"142.250.180.14:443","name":"www.youtube.com","payload":{"c2s":"FgMBAgAB","s2c":null},"bytes":{"c2s":583,"s2c":0},"packets":{"c2s":1,"s2c":0}}"#;
    seeds.add("record", record);
    let short = br#"{"event":"end","flow_id":"f","ts":"2026-03-29T01:00:00Z","ue_ip":"2001:db8::7","l4":"udp","client":"[2001:db8::7]:5353","server":"[2001:db8::1]:443"}"#;
    seeds.add("record", short);
    // frag and reassembly read structured input: a few plain starts.
    seeds.add("frag", &[0, 0, 0, 0, 1, 0x05, 0xdc, b'a', b'b']);
    seeds.add("frag", &[1, 0, 0, 0, 2, 0x02, 0x00, 0, 0, 1, 2, 3]);
    for mode in 0..4u8 {
        seeds.add(
            "reassembly",
            &[
                mode, 0x08, 0x00, 0, 0, 0, 1, 0, 0, 0, 100, 0, 50, 0, 50, 0, 0, 0, 10,
            ],
        );
    }
}
