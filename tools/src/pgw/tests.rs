//! Tests of the simulator as a whole: determinism, every record against the parser, the
//! records against the capture of the same traffic, the policy against pcgate's loader, and
//! the payloads against pcgate's namer.

use std::collections::HashMap;
use std::net::SocketAddr;

use control::traffic::record::{FlowEvent, TrafficRecord};
use dataplane::capture::Capture;
use dataplane::classify::catalog::Catalog;
use dataplane::decode::{Decoder, L4};
use dataplane::inspect::namer::{Namer, Segment};
use dataplane::policy::{Policy, SubscriberRef};

use super::*;

fn small(seed: u64, flows: u64) -> Config {
    Config {
        synth: synth::Config {
            seed,
            subscribers: 40,
            flows: Some(flows),
            span_s: 600,
            ..synth::Config::default()
        },
        long_percent: 20,
        ..Config::default()
    }
}

/// Runs `cfg` with a capture: (records, capture bytes, summary).
fn run(cfg: &Config) -> (Vec<Emitted>, Vec<u8>, Summary) {
    let mut cap = Vec::new();
    let mut gen = Generator::with_capture(cfg, &mut cap).unwrap();
    let mut out = Vec::new();
    while let Some(e) = gen.next_record().unwrap() {
        out.push(e);
    }
    let s = gen.finish().unwrap();
    (out, cap, s)
}

fn valid(records: &[Emitted]) -> Vec<TrafficRecord<'static>> {
    records.iter().filter_map(|e| e.record.clone()).collect()
}

#[test]
fn the_same_seed_makes_the_same_bytes_and_another_seed_does_not() {
    let (a, ca, _) = run(&small(5, 200));
    let (b, cb, _) = run(&small(5, 200));
    let (c, _, _) = run(&small(6, 200));
    let bytes = |v: &[Emitted]| v.iter().flat_map(|e| e.json.clone()).collect::<Vec<u8>>();
    assert_eq!(bytes(&a), bytes(&b));
    assert_eq!(ca, cb);
    assert_ne!(bytes(&a), bytes(&c));
    // Without a capture the records are the same.
    let plain: Vec<Emitted> = Generator::new(&small(5, 200))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(bytes(&plain), bytes(&a));
}

#[test]
fn every_record_parses_except_the_invalid_ones_which_fail_as_announced() {
    let cfg = Config {
        invalid_every: Some(7),
        records: Options {
            with_names: true,
            ..Options::default()
        },
        ..small(2, 300)
    };
    let (records, _, s) = run(&cfg);
    let mut reasons = std::collections::BTreeSet::new();
    let mut since_invalid = 0;
    for e in &records {
        match (&e.record, e.invalid) {
            (Some(r), None) => {
                assert_eq!(TrafficRecord::parse(&e.json).as_ref(), Ok(r));
                assert_eq!(Some(e.key.as_str()), r.msisdn.as_deref());
                since_invalid += 1;
            }
            (None, Some(reason)) => {
                assert_eq!(
                    since_invalid, 7,
                    "one invalid record after every 7 valid ones"
                );
                since_invalid = 0;
                let err = TrafficRecord::parse(&e.json).unwrap_err();
                assert_eq!(err.reason, reason, "{err}");
                reasons.insert(reason);
            }
            other => panic!("a record is valid or invalid: {other:?}"),
        }
    }
    assert_eq!(
        reasons.len(),
        invalid::KINDS.len(),
        "every kind of damage occurs"
    );
    assert_eq!(
        s.invalid,
        records.iter().filter(|e| e.invalid.is_some()).count() as u64
    );
    assert!(s.invalid > 100);
}

#[test]
fn records_are_in_time_order_and_each_flow_runs_start_updates_end() {
    let (records, _, s) = run(&small(3, 400));
    let records = valid(&records);
    assert!(records.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
    let mut flows: HashMap<&str, Vec<&TrafficRecord>> = HashMap::new();
    for r in &records {
        flows.entry(&*r.flow_id).or_default().push(r);
    }
    assert_eq!(flows.len() as u64, s.flows);
    let mut longest = 0;
    for (id, rs) in &flows {
        let events: Vec<FlowEvent> = rs.iter().map(|r| r.event).collect();
        assert_eq!(events.first(), Some(&FlowEvent::Start), "{id}");
        assert_eq!(events.last(), Some(&FlowEvent::End), "{id}");
        assert!(
            events[1..events.len() - 1]
                .iter()
                .all(|e| *e == FlowEvent::Update),
            "{id}"
        );
        let t0 = rs[0].ts_ns;
        for (k, u) in rs[1..rs.len() - 1].iter().enumerate() {
            assert_eq!(
                u.ts_ns,
                t0 + (k as u64 + 1) * 60_000_000_000,
                "{id}: every minute"
            );
        }
        for w in rs.windows(2) {
            assert!(w[0].packets[0] <= w[1].packets[0] && w[0].bytes[1] <= w[1].bytes[1]);
            assert_eq!((w[0].client, w[0].teid), (w[1].client, w[1].teid));
        }
        assert!(
            rs[0].payload_c2s.is_some(),
            "{id}: every flow's client sends data"
        );
        assert!(rs[1..]
            .iter()
            .all(|r| r.payload_c2s.is_none() && r.name.is_none()));
        longest = longest.max(rs[rs.len() - 1].ts_ns - t0);
    }
    assert!(
        longest > 15 * 60 * 1_000_000_000,
        "some flows last long: {longest} ns"
    );
    assert!(s.by_event[1] > s.flows / 2, "updates come: {s:?}");
}

/// A flow as the capture shows it.
#[derive(Default)]
struct Seen {
    first_ts: u64,
    last_ts: u64,
    packets: [u64; 2],
    teid: Option<u32>,
    first_payload: [Option<Vec<u8>>; 2],
}

#[test]
fn the_capture_carries_the_flows_the_records_describe() {
    let (records, cap, s) = run(&small(4, 300));
    let records = valid(&records);
    let cap = Capture::from_bytes("pgw", cap).unwrap();
    let mut decoder = Decoder::default();
    let mut seen: HashMap<(L4, SocketAddr, SocketAddr), Seen> = HashMap::new();
    let mut packets = 0;
    let mut last_ts = 0;
    for p in cap.packets() {
        let p = p.unwrap();
        packets += 1;
        assert!(p.ts_ns >= last_ts, "the capture is in time order");
        last_ts = p.ts_ns;
        let d = decoder.decode(p.ts_ns, p.link, p.data).unwrap();
        let src = SocketAddr::new(d.src, d.src_port);
        let dst = SocketAddr::new(d.dst, d.dst_port);
        // Subscribers are always the client.
        let (key, side) = if d.src.to_string().starts_with("10.45.")
            || d.src.to_string().starts_with("2001:db8:45:")
        {
            ((d.l4, src, dst), 0)
        } else {
            ((d.l4, dst, src), 1)
        };
        let f = seen.entry(key).or_insert_with(|| Seen {
            first_ts: p.ts_ns,
            ..Seen::default()
        });
        f.last_ts = p.ts_ns;
        f.packets[side] += 1;
        f.teid = d.teid;
        if !d.payload.is_empty() && f.first_payload[side].is_none() {
            f.first_payload[side] = Some(d.payload.to_vec());
        }
    }
    assert_eq!(packets, s.packets);
    let mut matched = 0;
    for r in records.iter().filter(|r| r.event != FlowEvent::Update) {
        let f = seen
            .get(&(r.l4, r.client, r.server))
            .expect("the flow is in the capture");
        assert_eq!(f.teid, r.teid);
        match r.event {
            FlowEvent::Start => {
                assert_eq!(f.first_ts, r.ts_ns);
                for side in 0..2 {
                    let rec = [&r.payload_c2s, &r.payload_s2c][side];
                    match (&f.first_payload[side], rec) {
                        (Some(pkt), Some(rec)) => {
                            let n = pkt.len().min(rec.len());
                            assert_eq!(pkt[..n], rec[..n], "{}", r.flow_id)
                        }
                        (None, None) => {}
                        other => panic!("{}: payloads differ: {other:?}", r.flow_id),
                    }
                }
            }
            _ => {
                assert_eq!(f.last_ts, r.ts_ns, "{}", r.flow_id);
                assert_eq!(f.packets, r.packets, "{}", r.flow_id);
                matched += 1;
            }
        }
    }
    assert_eq!(matched, s.flows);
    assert_eq!(seen.len() as u64, s.flows);
}

#[test]
fn records_without_msisdn_still_name_their_bearer() {
    let cfg = Config {
        no_msisdn_fraction: 0.3,
        ..small(8, 300)
    };
    let (records, _, _) = run(&cfg);
    let mut by_flow: HashMap<String, bool> = HashMap::new();
    let mut without = 0;
    for e in &records {
        let r = e.record.as_ref().unwrap();
        let anonymous = r.msisdn.is_none();
        assert_eq!(anonymous, r.imsi.is_none());
        assert!(r.teid.is_some() && !e.key.is_empty());
        assert_eq!(
            *by_flow.entry(r.flow_id.to_string()).or_insert(anonymous),
            anonymous
        );
        without += u64::from(anonymous);
    }
    let share = without as f64 / records.len() as f64;
    assert!((0.15..0.45).contains(&share), "{share}");
}

#[test]
fn the_policy_loads_and_finds_the_records_subscribers() {
    let catalog = Catalog::embedded_default().unwrap();
    let policy = Policy::from_toml_str(&policy_toml(40), "pgw.toml", &catalog).unwrap();
    assert_eq!(policy.subscriber_count(), 40);
    let (records, _, _) = run(&small(9, 100));
    for r in valid(&records) {
        for teid in [r.teid, None] {
            let s = policy.subscriber_for(r.ue_ip, teid);
            assert!(matches!(s, SubscriberRef::Listed(_)), "{r:?}");
            assert_eq!(Some(policy.subscriber_id(s)), r.msisdn.as_deref());
        }
    }
    assert_eq!(
        policy.profile_name(policy.subscriber_by_id("447700000001").unwrap()),
        "child"
    );
    assert_eq!(
        policy.profile_name(policy.subscriber_by_id("447700000002").unwrap()),
        "teen"
    );
}

#[test]
fn pcgates_namer_names_start_records_from_their_payloads() {
    let cfg = Config {
        records: Options {
            with_names: true,
            ..Options::default()
        },
        ..small(10, 400)
    };
    let (records, _, _) = run(&cfg);
    let mut named = 0;
    for r in valid(&records)
        .iter()
        .filter(|r| r.event == FlowEvent::Start)
    {
        // A TCP client's stream starts at 0 (as if its SYN had sequence number u32::MAX).
        let mut namer = Namer::new((r.l4 == L4::Tcp).then_some(u32::MAX));
        let mut found = None;
        for (side, payload) in [(0, &r.payload_c2s), (1, &r.payload_s2c)] {
            let Some(payload) = payload else { continue };
            let step = namer.feed(&Segment {
                side,
                l4: r.l4,
                client_port: r.client.port(),
                server_port: r.server.port(),
                seq: 0,
                flags: 0,
                payload,
            });
            if let Some(n) = step.name.and_then(|n| n.name) {
                found.get_or_insert(n.to_string());
            }
        }
        assert_eq!(found.as_deref(), r.name.as_deref(), "{}", r.flow_id);
        named += u64::from(found.is_some());
    }
    assert!(named > 300, "{named}");
}

/// (l4, client, server) of a flow, as the engine's flow record writes them.
type FlowKey = (String, String, String);

/// The name pcgate's engine gave each flow of a replayed capture.
#[derive(Default)]
struct EngineNames(std::sync::Mutex<Vec<(FlowKey, Option<String>)>>);

impl dataplane::engine::replay::ReplaySink for EngineNames {
    fn flow_ended(&self, flow: dataplane::flow::Flow, _: dataplane::flow::EndReason) {
        let r = dataplane::engine::FlowRecord::of(&flow, None);
        if let Ok(mut v) = self.0.lock() {
            v.push(((r.l4.to_owned(), r.client, r.server), r.name));
        }
    }
}

#[test]
fn packet_mode_sees_one_flow_per_record_flow_with_the_same_name() {
    use dataplane::engine::replay::{replay_files, ReplayConfig};
    let cfg = Config {
        records: Options {
            with_names: true,
            ..Options::default()
        },
        long_percent: 30,
        ..small(11, 400)
    };
    let (records, cap, s) = run(&cfg);
    let dir = std::env::temp_dir().join(format!("pgw-sim-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("pgw.pcap");
    std::fs::write(&path, cap).unwrap();
    let sink = EngineNames::default();
    let counters = replay_files(&[path.as_path()], &ReplayConfig::default(), &sink).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(counters.packets, s.packets);
    let seen: HashMap<_, _> = sink.0.into_inner().unwrap().into_iter().collect();
    let starts: Vec<TrafficRecord<'static>> = valid(&records)
        .into_iter()
        .filter(|r| r.event == FlowEvent::Start)
        .collect();
    assert_eq!(
        seen.len(),
        starts.len(),
        "no flow is cut in two by an idle timeout"
    );
    for r in &starts {
        let key = (
            r.l4.as_str().to_owned(),
            r.client.to_string(),
            r.server.to_string(),
        );
        assert_eq!(
            seen.get(&key).map(Option::as_deref),
            Some(r.name.as_deref()),
            "{}",
            r.flow_id
        );
    }
}
