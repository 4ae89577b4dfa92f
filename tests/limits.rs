//! End-to-end: settings and input files that are too large, endless or hostile give an error
//! that names what to change (exit 2), or a counted reason in the replay summary; never an
//! abort, a stall or a read without bound.

use pcgate_tools::packets::{tcp_packet, udp_packet, Direction, Link, TcpFlags, TcpSegment};
use pcgate_tools::pcap_writer::{Endian, LinkType, PcapWriter, TsResolution};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const PCGATE: &str = env!("CARGO_BIN_EXE_pcgate");
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/pcaps/evening.pcap");
/// 4 GiB: the address-space limit of the report.
const FOUR_GIB: u64 = 4 << 30;

/// A directory of this test's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("pcgate-limits-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn pcgate(args: &[&str]) -> Output {
    Command::new(PCGATE)
        .args(args)
        .output()
        .expect("run pcgate")
}

/// pcgate under an address-space limit of `bytes` (util-linux `prlimit`, as an operator
/// would set it with `ulimit -v`).
fn pcgate_limited(bytes: u64, args: &[&str]) -> Output {
    Command::new("prlimit")
        .arg(format!("--as={bytes}"))
        .arg(PCGATE)
        .args(args)
        .output()
        .expect("run prlimit (util-linux)")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a clean refusal: exit status 2 (not a signal), and every `want` in standard error.
fn assert_refused(out: &Output, want: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "status {:?}: {err}", out.status);
    for w in want {
        assert!(err.contains(w), "{w:?} not in: {err}");
    }
    assert!(!err.contains("memory allocation"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn eight_workers_under_a_4_gib_address_space_limit_are_refused_not_aborted() {
    let out = pcgate_limited(FOUR_GIB, &["replay", FIXTURE, "--workers", "8"]);
    assert_refused(
        &out,
        &[
            "--workers 8 with --max-flows 4000000",
            "of address space",
            "the address-space limit (ulimit -v) is 4096 MiB",
            "lower --workers, --max-flows or --dns-cache",
        ],
    );
}

#[test]
fn a_hundred_million_flows_under_a_4_gib_limit_are_refused_not_aborted() {
    let out = pcgate_limited(
        FOUR_GIB,
        &[
            "replay",
            FIXTURE,
            "--workers",
            "2",
            "--max-flows",
            "100000000",
        ],
    );
    assert_refused(
        &out,
        &["--max-flows 100000000", "lower --workers, --max-flows"],
    );
}

#[test]
fn settings_that_fit_the_limit_still_replay() {
    let out = pcgate_limited(
        FOUR_GIB,
        &["replay", FIXTURE, "--workers", "2", "--policy", "default"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("flows       17"));
}

#[test]
fn absurd_worker_and_flow_counts_are_refused_whatever_the_memory() {
    let out = pcgate(&["replay", FIXTURE, "--workers", "100000"]);
    assert_refused(&out, &["--workers 100000: more than 1024 workers"]);
    let out = pcgate(&["replay", FIXTURE, "--max-flows", "5000000000"]);
    assert_refused(&out, &["--max-flows 5000000000: more than 4294967295"]);
}

#[test]
fn an_endless_policy_file_is_refused_at_the_input_cap() {
    let start = Instant::now();
    let out = pcgate(&["replay", FIXTURE, "--policy", "/dev/zero"]);
    assert_refused(
        &out,
        &[
            "/dev/zero: cannot read the policy file: larger than 64 MiB",
            "--max-input-mib or PCGATE_MAX_INPUT_MIB",
        ],
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    let out = pcgate(&["policy", "check", "/dev/zero", "--max-input-mib", "1"]);
    assert_refused(&out, &["larger than 1 MiB"]);
    let out = pcgate(&[
        "replay",
        FIXTURE,
        "--catalog",
        "/dev/zero",
        "--max-input-mib",
        "1",
    ]);
    assert_refused(
        &out,
        &["/dev/zero: cannot read the catalog: larger than 1 MiB"],
    );
    let out = pcgate(&[
        "replay",
        FIXTURE,
        "--list",
        "adult=/dev/zero",
        "--max-input-mib",
        "1",
    ]);
    assert_refused(
        &out,
        &["/dev/zero: cannot read the category list: larger than 1 MiB"],
    );
}

#[test]
fn the_input_cap_is_set_by_option_or_environment() {
    let dir = Scratch::new("cap");
    let list = dir.file(
        "big.txt",
        "a-long-name.example.com\n".repeat(60_000).as_bytes(),
    );
    let spec = format!("adult={}", list.display());
    let with_env = |env: &str, args: &[&str]| {
        Command::new(PCGATE)
            .env("PCGATE_MAX_INPUT_MIB", env)
            .args(["replay", FIXTURE, "--list", &spec])
            .args(args)
            .output()
            .unwrap()
    };
    assert_refused(&with_env("1", &[]), &["larger than 1 MiB"]);
    assert!(with_env("1", &["--max-input-mib", "2"]).status.success());
    assert!(with_env("2", &[]).status.success());
    assert_refused(
        &with_env("lots", &[]),
        &["PCGATE_MAX_INPUT_MIB=\"lots\": expected"],
    );
}

#[test]
fn a_directory_is_named_once_as_a_directory() {
    let dir = Scratch::new("dir");
    let shown = dir.0.display().to_string();
    let out = pcgate(&["replay", &shown]);
    assert_refused(
        &out,
        &[&format!("{shown}: is a directory, not a capture file")],
    );
    assert_eq!(
        stderr(&out).matches("directory").count(),
        1,
        "{}",
        stderr(&out)
    );
    let out = pcgate(&["policy", "check", &shown]);
    assert_refused(
        &out,
        &["cannot read the policy file: is a directory, not a file"],
    );
    let out = pcgate(&["replay", FIXTURE, "--catalog", &shown]);
    assert_refused(
        &out,
        &["cannot read the catalog: is a directory, not a file"],
    );
}

#[test]
fn list_without_a_path_says_the_path_is_missing() {
    let out = pcgate(&["replay", FIXTURE, "--list", "adult="]);
    assert_refused(
        &out,
        &["--list adult=: the path of the list file is missing"],
    );
}

#[test]
fn list_warning_shows_the_first_bad_lines_with_their_numbers() {
    let dir = Scratch::new("list");
    let list = dir.file(
        "l.txt",
        b"ok.example\nbad..name\nfoo bar\n*.wild.example\ncom\nx..y\nz..w\nok2.example\n",
    );
    let spec = format!("adult={}", list.display());
    let out = pcgate(&["replay", FIXTURE, "--list", &spec]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let shown = list.display();
    for want in [
        format!("{shown}: 6 lines skipped as invalid (bad_character 1, empty_label 3, single_label 1, wildcard 1); the first ones:"),
        format!("  {shown}:2: empty label (two dots in a row, or a dot at the start): bad..name"),
        format!("  {shown}:3: not a domain"),
        format!("  {shown}:4: wildcards are not supported (a domain covers its subdomains): *.wild.example"),
        format!("  {shown}:6: empty label (two dots in a row, or a dot at the start): x..y"),
    ] {
        assert!(err.contains(&want), "{want:?} not in: {err}");
    }
    assert!(!err.contains(":7:"), "five examples at most: {err}");
}

#[test]
fn a_long_repetitive_catalog_substring_is_refused_within_a_second() {
    let dir = Scratch::new("catalog");
    let long = "ab".repeat(50_000);
    let catalog = dir.file(
        "apps.toml",
        format!(
            "[[app]]\nid = \"x\"\nname = \"X\"\ncategory = \"video\"\nsubstrings = [\"{long}\"]\n"
        )
        .as_bytes(),
    );
    let start = Instant::now();
    let out = pcgate(&["replay", FIXTURE, "--catalog", catalog.to_str().unwrap()]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_refused(
        &out,
        &[&format!(
            "{}:5:15: field `substrings` of app `x`: 100000 characters; a substring of a host name is at most 253",
            catalog.display()
        )],
    );
}

#[test]
fn non_utf8_catalog_names_line_and_column_once() {
    let dir = Scratch::new("utf8");
    let catalog = dir.file("apps.toml", b"[[app]]\nid = \"a\"\nname = \"\xff\"\n");
    let out = pcgate(&["replay", FIXTURE, "--catalog", catalog.to_str().unwrap()]);
    let want = format!(
        "{}:3:9: not UTF-8 text (byte 0xff); save the file as UTF-8",
        catalog.display()
    );
    assert_refused(&out, &[&want]);
    assert_eq!(
        stderr(&out).matches("UTF-8 text").count(),
        1,
        "{}",
        stderr(&out)
    );
}

// Hostile packets: each is counted by name in the summary's reasons, and none is a flow.

const T0: u64 = 1_700_000_000_000_000_000;

fn pcap_of(link: LinkType, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut pcap = PcapWriter::new(link, TsResolution::Micro, Endian::Little, 65_535);
    for (i, f) in frames.iter().enumerate() {
        pcap.write_packet(T0 + i as u64 * 1_000_000, f).unwrap();
    }
    pcap.into_bytes()
}

fn eth(ip: &[u8]) -> Vec<u8> {
    Link::ethernet()
        .frame_ip(Direction::ClientToServer, ip)
        .unwrap()
}

/// The summary of replaying `pcap` (written to `dir`), with one and with two workers (they
/// must agree).
fn summary(dir: &Scratch, name: &str, pcap: &[u8]) -> String {
    let path = dir.file(name, pcap);
    let mut seen = Vec::new();
    for workers in ["1", "2"] {
        let out = pcgate(&["replay", path.to_str().unwrap(), "--workers", workers]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let reasons: String = text
            .lines()
            .skip_while(|l| !l.starts_with("skipped or malformed"))
            .take_while(|l| l.starts_with("skipped") || l.starts_with("  "))
            .collect::<Vec<_>>()
            .join("\n");
        seen.push((text, reasons));
    }
    assert_eq!(seen[0].1, seen[1].1, "one and two workers agree");
    seen.swap_remove(0).0
}

fn reason_line(summary: &str, reason: &str) -> Option<String> {
    summary
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{reason} ")))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[test]
fn gtpu_with_a_zero_length_or_overlong_extension_chain_is_counted_not_a_flow() {
    let dir = Scratch::new("gtpu");
    let inner = udp_packet(
        "10.45.0.7:40000".parse().unwrap(),
        "192.0.2.53:53".parse().unwrap(),
        64,
        &pcgate_tools::dns::query(1, "inner.example", 1).unwrap(),
    )
    .unwrap();
    let gtp = |ext: &[u8]| {
        // Flags: version 1, PT, E; G-PDU; length; TEID 7; sequence, N-PDU, next type 0x85.
        let mut g = vec![0x34, 0xff];
        let len = (4 + ext.len() + inner.len()) as u16;
        g.extend_from_slice(&len.to_be_bytes());
        g.extend_from_slice(&7u32.to_be_bytes());
        g.extend_from_slice(&[0, 0, 0, 0x85]);
        g.extend_from_slice(ext);
        g.extend_from_slice(&inner);
        let outer = udp_packet(
            "172.16.0.1:2152".parse().unwrap(),
            "172.16.0.2:2152".parse().unwrap(),
            64,
            &g,
        )
        .unwrap();
        eth(&outer)
    };
    let zero = gtp(&[0, 0, 0, 0]);
    let chain: Vec<u8> = (0..17).flat_map(|_| [1, 0, 0, 0x85]).collect();
    let long = gtp(&chain);
    let text = summary(
        &dir,
        "gtpu.pcap",
        &pcap_of(LinkType::ETHERNET, &[zero, long]),
    );
    assert_eq!(
        reason_line(&text, "gtpu_bad_extension").as_deref(),
        Some("gtpu_bad_extension 2"),
        "{text}"
    );
    assert!(text.contains("flows       0"), "{text}");
}

#[test]
fn ipv6_payload_length_beyond_the_packet_is_counted() {
    let dir = Scratch::new("ipv6");
    let mut ip = udp_packet(
        "[2001:db8::7]:40000".parse().unwrap(),
        "[2001:db8::53]:53".parse().unwrap(),
        64,
        &pcgate_tools::dns::query(1, "v6.example", 1).unwrap(),
    )
    .unwrap();
    let claimed = (ip.len() - 40 + 100) as u16;
    ip[4..6].copy_from_slice(&claimed.to_be_bytes());
    let text = summary(&dir, "v6.pcap", &pcap_of(LinkType::ETHERNET, &[eth(&ip)]));
    assert_eq!(
        reason_line(&text, "ip_length_beyond_packet").as_deref(),
        Some("ip_length_beyond_packet 1"),
        "{text}"
    );
    assert!(text.contains("flows       0"), "{text}");
}

#[test]
fn names_that_are_not_host_names_are_counted_as_bad_name() {
    let dir = Scratch::new("names");
    let client = "10.45.0.7:40000".parse().unwrap();
    let tcp = |port: u16, payload: &[u8], client: std::net::SocketAddr| {
        let server = std::net::SocketAddr::new("192.0.2.1".parse().unwrap(), port);
        let seg = |seq, flags, payload| TcpSegment {
            seq,
            flags,
            window: 65_535,
            mss: None,
            payload,
        };
        let syn = TcpFlags {
            syn: true,
            ..TcpFlags::default()
        };
        let psh = TcpFlags {
            psh: true,
            ack: Some(1),
            ..TcpFlags::default()
        };
        vec![
            eth(&tcp_packet(client, server, 64, &seg(100, syn, &[])).unwrap()),
            eth(&tcp_packet(client, server, 64, &seg(101, psh, payload)).unwrap()),
        ]
    };
    let mut rng = pcgate_tools::rng::Rng::new(1);
    let hello = pcgate_tools::tls::ClientHello::browser(&mut rng, Some("....")).to_records(1);
    let mut frames = tcp(443, &hello, client);
    frames.extend(tcp(
        80,
        b"GET / HTTP/1.1\r\nHost: ....\r\n\r\n",
        "10.45.0.7:40001".parse().unwrap(),
    ));
    // A DNS query whose name is a compression pointer to itself (offset 12).
    let mut query = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    query.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
    frames.push(eth(&udp_packet(
        "10.45.0.7:40002".parse().unwrap(),
        "192.0.2.53:53".parse().unwrap(),
        64,
        &query,
    )
    .unwrap()));
    let text = summary(&dir, "names.pcap", &pcap_of(LinkType::ETHERNET, &frames));
    assert_eq!(
        reason_line(&text, "bad_name").as_deref(),
        Some("bad_name 2"),
        "{text}"
    );
    assert_eq!(
        reason_line(&text, "dns_malformed").as_deref(),
        Some("dns_malformed 1"),
        "{text}"
    );
    assert!(text.contains("named flows 0"), "{text}");
}

#[test]
fn an_unknown_link_type_is_named_in_the_summary() {
    let dir = Scratch::new("link");
    let pcap = pcap_of(LinkType(147), &[vec![0u8; 60], vec![1u8; 60]]);
    let path = dir.file("user0.pcap", &pcap);
    let out = pcgate(&["replay", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        reason_line(&text, "unsupported_link_type").as_deref(),
        Some("unsupported_link_type 2 (link type 147: 2)"),
        "{text}"
    );
    assert!(
        stderr(&out).contains("unsupported_link_type 2 (link type 147: 2)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_policy_too_large_to_parse_under_the_limit_is_refused_before_parsing() {
    let dir = Scratch::new("bigpolicy");
    // 16 MB of subscribers: about 620 MiB to parse, more than a 512 MiB limit leaves.
    let mut text = String::from(
        "default_profile = \"kid\"\n[profile.kid]\nblocked_categories = [\"adult\"]\n",
    );
    for i in 0..200_000u32 {
        text.push_str(&format!(
            "[[subscriber]]\nid = \"44770{i:07}\"\nidentifiers = [\"10.{}.{}.{}\"]\nprofile = \"kid\"\n",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        ));
    }
    let policy = dir.file("big.toml", text.as_bytes());
    let out = pcgate_limited(512 << 20, &["policy", "check", policy.to_str().unwrap()]);
    assert_refused(
        &out,
        &[
            "MiB of TOML takes about",
            "the address-space limit (ulimit -v) leaves: raise the limit or split the file",
        ],
    );
}
