//! Micro-benchmarks of the per-packet pieces of the data plane (criterion; run with
//! `cargo bench --bench micro`): decoding an Ethernet/IPv4/TCP frame and a GTP-U frame, TLS SNI
//! extraction from a ClientHello, reading a real QUIC v1 Initial (decryption included), and flow
//! table lookups (hit, miss, miss with insertion) in a table of 100 000 flows. Inputs are built
//! with `pcgate_tools`, the same builders the fixtures and the synthesizer use.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dataplane::capture::LinkType;
use dataplane::decode::{Decoder, L4};
use dataplane::flow::table::{FlowTable, Lookup};
use dataplane::flow::{Direction, Endpoint, Flow, FlowKey, Timeouts};
use dataplane::inspect::quic::QuicState;
use dataplane::inspect::tls::parse_client_hello_records;
use pcgate_tools::packets::{tcp_packet, Gtpu, Link, Path, TcpFlags, TcpSegment};
use pcgate_tools::quic::{client_transport_parameters, ClientInitials};
use pcgate_tools::rng::Rng;
use pcgate_tools::tls::ClientHello;

/// Flows in the table of the lookup benchmarks.
const TABLE_FLOWS: usize = 100_000;

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("literal address")
}

/// An Ethernet frame with one TCP segment of `payload` bytes on `path`.
fn tcp_frame(path: &Path, payload: usize) -> Vec<u8> {
    let seg = TcpSegment {
        seq: 1_000,
        flags: TcpFlags {
            psh: true,
            ack: Some(2_000),
            ..TcpFlags::default()
        },
        window: 64_240,
        mss: None,
        payload: &vec![0x17; payload],
    };
    let ip = tcp_packet(sa("10.45.0.7:40000"), sa("198.18.0.9:443"), 64, &seg).expect("packet");
    path.frame(pcgate_tools::Direction::ClientToServer, &ip)
        .expect("frame")
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    let plain = tcp_frame(&Path::on(Link::ethernet()), 1_200);
    let tunneled = tcp_frame(
        &Path::tunneled(
            Link::ethernet(),
            Gtpu {
                teid: 0x0100_0007,
                access: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
                core: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
            },
        ),
        1_200,
    );
    let mut decoder = Decoder::default();
    assert!(decoder
        .decode(0, LinkType::ETHERNET, &tunneled)
        .is_ok_and(|p| p.teid.is_some()));
    g.bench_function("ethernet_ipv4_tcp", |b| {
        b.iter(|| {
            let p = decoder.decode(0, LinkType::ETHERNET, black_box(&plain));
            black_box(p.map(|p| p.dst_port).ok())
        })
    });
    g.bench_function("gtpu_ipv4_tcp", |b| {
        b.iter(|| {
            let p = decoder.decode(0, LinkType::ETHERNET, black_box(&tunneled));
            black_box(p.map(|p| p.teid).ok())
        })
    });
    g.finish();
}

fn tls_sni(c: &mut Criterion) {
    let mut rng = Rng::new(1);
    let hello = ClientHello::browser(&mut rng, Some("www.tiktok.com"));
    let classic = hello.to_records(1);
    let pq = hello.clone().with_post_quantum(true).to_records(1);
    assert_eq!(
        parse_client_hello_records(&pq).map(|h| h.sni),
        Ok(Some("www.tiktok.com".into()))
    );
    let mut g = c.benchmark_group("tls_sni");
    g.throughput(Throughput::Elements(1));
    g.bench_function("client_hello", |b| {
        b.iter(|| black_box(parse_client_hello_records(black_box(&classic)).is_ok()))
    });
    g.bench_function("client_hello_post_quantum", |b| {
        b.iter(|| black_box(parse_client_hello_records(black_box(&pq)).is_ok()))
    });
    g.finish();
}

fn quic_initial(c: &mut Criterion) {
    let mut rng = Rng::new(2);
    let scid = rng.bytes(8);
    let hello = ClientHello::browser(&mut rng, Some("www.youtube.com"))
        .with_alpn(&["h3"])
        .for_quic(client_transport_parameters(&scid));
    let datagrams = ClientInitials::new(rng.bytes(8), scid, hello.handshake_message())
        .datagrams()
        .expect("initials");
    let initial = datagrams.first().cloned().expect("one initial");
    assert!(QuicState::default().feed(&initial).is_ok());
    let mut g = c.benchmark_group("quic");
    g.throughput(Throughput::Elements(1));
    g.bench_function("v1_initial_sni", |b| {
        b.iter_batched(
            QuicState::default,
            |mut state| black_box(state.feed(black_box(&initial)).is_ok()),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn key(i: u32) -> FlowKey {
    let client = Endpoint::new(
        IpAddr::V4(Ipv4Addr::from(0x0a2d_0000 + (i % 60_000))),
        (32_768 + i / 60_000) as u16,
    );
    let server = Endpoint::new(IpAddr::V4(Ipv4Addr::from(0xc612_0000 + i % 4_096)), 443);
    let (lo, hi) = if client <= server {
        (client, server)
    } else {
        (server, client)
    };
    FlowKey {
        lo,
        hi,
        l4: L4::Tcp,
    }
}

fn flow(key: FlowKey, serial: u32) -> Flow {
    Flow::new(key, Direction::LoHi, serial, 0)
}

fn flow_table(c: &mut Criterion) {
    let keys: Vec<(FlowKey, u64)> = (0..TABLE_FLOWS as u32)
        .map(|i| {
            let k = key(i);
            (k, k.hash64())
        })
        .collect();
    let absent: Vec<(FlowKey, u64)> = (0..TABLE_FLOWS as u32)
        .map(|i| {
            let k = key(i + 200_000);
            (k, k.hash64())
        })
        .collect();
    // A table exactly full: a miss then finds nothing and inserts nothing.
    let mut full = FlowTable::new(Timeouts::default(), TABLE_FLOWS);
    let mut roomy = FlowTable::new(Timeouts::default(), TABLE_FLOWS * 2);
    for (k, h) in &keys {
        full.lookup_or_insert(k, *h, |s| flow(*k, s), |_, _| {});
        roomy.lookup_or_insert(k, *h, |s| flow(*k, s), |_, _| {});
    }
    assert_eq!(full.len(), TABLE_FLOWS);
    let mut g = c.benchmark_group("flow_table_100k");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("lookup_hit", |b| {
        b.iter(|| {
            i = (i + 7_919) % TABLE_FLOWS;
            let (k, h) = &keys[i];
            black_box(matches!(
                full.lookup_or_insert(k, *h, |s| flow(*k, s), |_, _| {}),
                Lookup::Found(_)
            ))
        })
    });
    g.bench_function("lookup_miss", |b| {
        b.iter(|| {
            i = (i + 7_919) % TABLE_FLOWS;
            let (k, h) = &absent[i];
            black_box(matches!(
                full.lookup_or_insert(k, *h, |s| flow(*k, s), |_, _| {}),
                Lookup::Full
            ))
        })
    });
    g.bench_function("miss_insert_then_remove", |b| {
        b.iter(|| {
            i = (i + 7_919) % TABLE_FLOWS;
            let (k, h) = &absent[i];
            if let Lookup::Created(slot) = roomy.lookup_or_insert(k, *h, |s| flow(*k, s), |_, _| {})
            {
                black_box(roomy.remove(slot).is_some());
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = micro;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = decode, tls_sni, quic_initial, flow_table
}
criterion_main!(micro);
