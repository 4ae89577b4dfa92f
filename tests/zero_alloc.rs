//! The steady state allocates nothing: once a flow is established, named and decided, its
//! packets go through decode, the flow table, the latency sampler and the policy without a
//! single heap allocation. A counting global allocator (this test binary's own) checks it.

use dataplane::capture::{LinkType, RawPacket};
use dataplane::classify::{Catalog, Matcher};
use dataplane::engine::enforce::Enforcer;
use dataplane::engine::{Worker, WorkerConfig};
use dataplane::policy::Policy;
use etherparse::PacketBuilder;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: forwards the caller's layout to the system allocator unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const CLIENT: [u8; 4] = [10, 45, 0, 7];
const SERVER: [u8; 4] = [142, 250, 180, 14];

fn frame(from_client: bool, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sp, dp) = if from_client {
        (CLIENT, SERVER, 50_000, 443)
    } else {
        (SERVER, CLIENT, 443, 50_000)
    };
    let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .tcp(sp, dp, seq, 65_535);
    if flags & 0x02 != 0 {
        b = b.syn();
    }
    if flags & 0x10 != 0 {
        b = b.ack(1);
    }
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).expect("frame builds");
    out
}

/// A TLS record holding a minimal ClientHello with one server_name.
fn client_hello(name: &str) -> Vec<u8> {
    let n = name.as_bytes();
    let mut sni = vec![0, 0]; // extension type server_name
    let list_len = 3 + n.len();
    sni.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
    sni.extend_from_slice(&(list_len as u16).to_be_bytes());
    sni.push(0);
    sni.extend_from_slice(&(n.len() as u16).to_be_bytes());
    sni.extend_from_slice(n);
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    body.extend_from_slice(&sni);
    let mut hs = vec![1, 0];
    hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

#[test]
fn established_named_decided_flow_packets_allocate_nothing() {
    let catalog = Catalog::embedded_default().expect("catalog");
    let policy = Policy::embedded_default(&catalog).expect("policy");
    let matcher = Matcher::build(&catalog, &[]);
    let enforcer = Arc::new(Enforcer::new(
        Arc::new(catalog),
        Arc::new(matcher),
        Some(policy),
        64,
    ));
    let mut worker = Worker::new(WorkerConfig::default()).with_enforcer(enforcer);

    let hello = client_hello("www.youtube.com");
    let data = [0x17u8; 1200];
    let mut frames = vec![
        (true, 1000u32, 0x02u8, &[][..]),
        (false, 5000, 0x12, &[][..]),
        (true, 1001, 0x10, &[][..]),
        (true, 1001, 0x10, &hello[..]),
    ];
    let mut cseq = 1001 + hello.len() as u32;
    let mut sseq = 5001;
    for i in 0..400 {
        if i % 2 == 0 {
            frames.push((false, sseq, 0x10, &data[..]));
            sseq += data.len() as u32;
        } else {
            frames.push((true, cseq, 0x10, &data[..100]));
            cseq += 100;
        }
    }
    let frames: Vec<Vec<u8>> = frames
        .iter()
        .map(|&(c, s, f, p)| frame(c, s, f, p))
        .collect();
    let t0 = 1_710_000_000_000_000_000u64;
    let mut ended = |_, _| panic!("no flow ends during the test");
    let warm_up = 100;
    let mut before = 0;
    for (i, bytes) in frames.iter().enumerate() {
        if i == warm_up {
            before = allocations();
        }
        let raw = RawPacket {
            ts_ns: t0 + i as u64 * 10_000_000, // 10 ms apart: crosses timer-wheel ticks
            link: LinkType::ETHERNET,
            data: bytes,
            orig_len: bytes.len() as u32,
        };
        worker.process(&raw, &mut ended);
    }
    let during = allocations() - before;
    assert_eq!(worker.counters().flows, 1);
    let mut flows = Vec::new();
    worker.finish(&mut |f, _| flows.push(f));
    let flow = flows.pop().expect("the flow");
    let name = flow.name.as_ref().and_then(|n| n.name.as_deref());
    assert_eq!(name, Some("www.youtube.com"), "named during the warm-up");
    let verdict = flow.decision.as_ref().and_then(|d| d.verdict);
    assert!(verdict.is_some(), "decided during the warm-up");
    assert!(
        allocations() > before,
        "the counter counts (finish allocates)"
    );
    assert_eq!(
        during,
        0,
        "{during} allocations over {} established packets",
        frames.len() - warm_up
    );
}
