//! Flow mode end to end on hand-written records: the pipeline over the evening policy
//! (`fixtures/policy-evening.toml`), checked decision by decision.

use super::decider::DeciderConfig;
use super::output::allow_sampled;
use super::pipeline::RecordPipeline;
use super::record::{FlowEvent, Reason, TrafficRecord};
use super::{Origin, OutTopic, Outbound, RecordHandler};
use dataplane::classify::Catalog;
use dataplane::decode::L4;
use dataplane::policy::Policy;
use pcgate_tools::quic::{client_transport_parameters, ClientInitials};
use pcgate_tools::rng::Rng;
use pcgate_tools::tls::ClientHello;
use serde_json::Value;

const S: u64 = 1_000_000_000;
const MIN: u64 = 60 * S;
/// 2024-03-12 (a Tuesday, a school night) 19:00:00 UTC; London is on GMT then.
const T1900: u64 = 1_710_270_000 * S;
const AMY: &str = "447700900001";
const BEN: &str = "447700900002";

const ORIGIN: Origin<'static> = Origin {
    topic: "network-traffic",
    partition: 0,
    offset: 7,
};

fn pipeline(config: DeciderConfig) -> RecordPipeline {
    let catalog = Catalog::embedded_default().expect("catalog");
    let policy = Policy::from_toml_str(
        include_str!("../../../fixtures/policy-evening.toml"),
        "fixtures/policy-evening.toml",
        &catalog,
    )
    .expect("the evening policy compiles");
    RecordPipeline::from_policy(catalog, policy, config)
}

/// A TCP/443 record of `flow_id` from `ue` (10.45.1.x) at `ts`.
fn record(
    event: FlowEvent,
    flow_id: &str,
    ts_ns: u64,
    msisdn: Option<&str>,
    ue: &str,
) -> TrafficRecord<'static> {
    TrafficRecord {
        event,
        flow_id: flow_id.to_owned().into(),
        ts_ns,
        msisdn: msisdn.map(|m| m.to_owned().into()),
        imsi: None,
        ue_ip: ue.parse().unwrap(),
        teid: None,
        l4: L4::Tcp,
        client: format!("{ue}:40001").parse().unwrap(),
        server: "198.51.100.7:443".parse().unwrap(),
        name: None,
        payload_c2s: None,
        payload_s2c: None,
        bytes: [0, 0],
        packets: [0, 0],
    }
}

fn named(mut r: TrafficRecord<'static>, name: &str) -> TrafficRecord<'static> {
    r.name = Some(name.to_owned().into());
    r
}

fn run(p: &mut RecordPipeline, records: &[TrafficRecord]) -> Vec<Outbound> {
    let mut out = Vec::new();
    for r in records {
        p.handle(&r.to_json(), &ORIGIN, &mut out);
    }
    out
}

fn on(out: &[Outbound], topic: OutTopic) -> Vec<Value> {
    out.iter()
        .filter(|o| o.topic == topic)
        .map(|o| serde_json::from_slice(&o.payload).expect("JSON"))
        .collect()
}

/// (verdict, rule, ts) of each decision.
fn verdicts(out: &[Outbound]) -> Vec<(String, String, String)> {
    on(out, OutTopic::Decisions)
        .iter()
        .map(|d| {
            let s = |f: &str| d[f].as_str().unwrap_or_default().to_owned();
            (s("verdict"), s("rule"), s("ts"))
        })
        .collect()
}

fn tls_hello(sni: &str) -> Vec<u8> {
    let mut rng = Rng::new(7);
    ClientHello::browser(&mut rng, Some(sni)).to_records(1)
}

fn quic_initial(sni: &str) -> Vec<u8> {
    let mut rng = Rng::new(9);
    let (dcid, scid) = (vec![0x83; 8], vec![0x42; 8]);
    let hello = ClientHello::browser(&mut rng, Some(sni))
        .with_alpn(&["h3"])
        .for_quic(client_transport_parameters(&scid));
    let initials = ClientInitials::new(dcid, scid, hello.handshake_message());
    let datagrams = initials.datagrams().expect("QUIC Initial");
    assert_eq!(datagrams.len(), 1, "one datagram carries the hello");
    datagrams.into_iter().next().unwrap_or_default()
}

#[test]
fn a_name_in_a_blocked_category_is_blocked_with_a_decision_and_a_block_record() {
    let mut p = pipeline(DeciderConfig::default());
    let r = named(
        record(FlowEvent::Start, "f1", T1900, Some(AMY), "10.45.1.1"),
        "www.bet365.com",
    );
    let out = run(&mut p, &[r]);
    let d = on(&out, OutTopic::Decisions);
    let b = on(&out, OutTopic::Blocked);
    assert_eq!((d.len(), b.len(), out.len()), (1, 1, 2));
    assert_eq!(d[0]["verdict"], "block");
    assert_eq!(d[0]["rule"], "category:gambling");
    assert_eq!(
        (&d[0]["app"], &d[0]["category"]),
        (&Value::from("bet365"), &Value::from("gambling"))
    );
    assert_eq!(
        (&d[0]["name"], &d[0]["name_source"]),
        (&Value::from("www.bet365.com"), &Value::from("gateway"))
    );
    assert_eq!(
        (&d[0]["subscriber"], &d[0]["event"], &d[0]["epoch"]),
        (&Value::from(AMY), &Value::from("start"), &Value::from(1))
    );
    assert_eq!(d[0]["idempotency_key"], format!("f1:1:{T1900}"));
    assert_eq!(b[0]["idempotency_key"], d[0]["idempotency_key"]);
    assert_eq!(
        (&b[0]["flow_id"], &b[0]["subscriber"], &b[0]["rule"]),
        (
            &Value::from("f1"),
            &Value::from(AMY),
            &Value::from("category:gambling")
        )
    );
    assert!(out.iter().all(|o| o.key == AMY), "keyed by subscriber");
}

#[test]
fn an_app_named_only_by_its_client_hello_is_blocked_and_the_payload_beats_the_gateway_name() {
    let mut p = pipeline(DeciderConfig::default());
    let mut r = record(FlowEvent::Start, "f2", T1900, Some(AMY), "10.45.1.1");
    r.payload_c2s = Some(tls_hello("www.tiktok.com"));
    let out = run(&mut p, &[r.clone()]);
    let d = on(&out, OutTopic::Decisions);
    assert_eq!(verdicts(&out)[0].1, "app:tiktok");
    assert_eq!(
        (&d[0]["name"], &d[0]["name_source"]),
        (&Value::from("www.tiktok.com"), &Value::from("sni"))
    );
    assert_eq!(p.counters().decider.name_disagreements, 0);

    r.flow_id = "f3".into();
    r.name = Some("www.bbc.co.uk".into());
    let out = run(&mut p, &[r]);
    assert_eq!(
        verdicts(&out)[0].1,
        "app:tiktok",
        "the payload's own name wins"
    );
    assert_eq!(p.counters().decider.name_disagreements, 1);
}

#[test]
fn a_quic_initial_payload_names_the_flow() {
    let mut p = pipeline(DeciderConfig::default());
    let mut r = record(FlowEvent::Start, "q1", T1900, Some(BEN), "10.45.1.2");
    r.l4 = L4::Udp;
    r.payload_c2s = Some(quic_initial("www.youtube.com"));
    let out = run(&mut p, &[r.clone()]);
    let d = on(&out, OutTopic::Decisions);
    assert_eq!(
        (&d[0]["verdict"], &d[0]["rule"]),
        (&Value::from("allow"), &Value::from("default"))
    );
    assert_eq!(
        (&d[0]["name"], &d[0]["name_source"], &d[0]["app"]),
        (
            &Value::from("www.youtube.com"),
            &Value::from("quic_sni"),
            &Value::from("youtube")
        )
    );
    // Amy's profile blocks QUIC: the same payload on her line is blocked as QUIC.
    r.flow_id = "q2".into();
    r.msisdn = Some(AMY.into());
    assert_eq!(verdicts(&run(&mut p, &[r]))[0].1, "quic");
}

#[test]
fn the_records_msisdn_beats_the_session_table() {
    let mut p = pipeline(DeciderConfig::default());
    // Ben's address and TEID, Amy's MSISDN: Amy's rules (no gaming) apply.
    let mut r = named(
        record(FlowEvent::Start, "m1", T1900, Some(AMY), "10.45.1.2"),
        "www.roblox.com",
    );
    r.teid = Some(4098);
    let out = run(&mut p, &[r]);
    let d = on(&out, OutTopic::Decisions);
    assert_eq!(
        (&d[0]["subscriber"], &d[0]["rule"]),
        (&Value::from(AMY), &Value::from("category:gaming"))
    );
}

#[test]
fn an_unlisted_subscriber_falls_to_the_session_table_then_the_default_profile() {
    let mut p = pipeline(DeciderConfig::default());
    let unlisted = Some("449999999999");
    let by_ip = named(
        record(FlowEvent::Start, "u1", T1900, unlisted, "10.45.1.1"),
        "www.roblox.com",
    );
    let mut by_teid = named(
        record(FlowEvent::Start, "u2", T1900, unlisted, "10.77.0.1"),
        "www.roblox.com",
    );
    by_teid.teid = Some(4097);
    let nowhere = named(
        record(FlowEvent::Start, "u3", T1900, unlisted, "10.77.0.1"),
        "www.roblox.com",
    );
    let anonymous = named(
        record(FlowEvent::Start, "u4", T1900, None, "10.77.0.1"),
        "www.roblox.com",
    );
    let out = run(&mut p, &[by_ip, by_teid, nowhere, anonymous]);
    let d = on(&out, OutTopic::Decisions);
    let got: Vec<(&str, &str, &str)> = d
        .iter()
        .map(|d| {
            (
                d["flow_id"].as_str().unwrap(),
                d["subscriber"].as_str().unwrap(),
                d["rule"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("u1", AMY, "category:gaming"),
            ("u2", AMY, "category:gaming"),
            ("u3", "449999999999", "default"),
            ("u4", "10.77.0.1", "default"),
        ]
    );
    let keys: Vec<&str> = out
        .iter()
        .filter(|o| o.topic == OutTopic::Decisions)
        .map(|o| o.key.as_str())
        .collect();
    assert_eq!(keys, [AMY, AMY, "449999999999", "10.77.0.1"]);
}

/// Ben's 30 minutes of YouTube: a flow from 19:00 with an update record every `every` minutes.
fn youtube_minutes(every: u64, until_min: u64) -> Vec<TrafficRecord<'static>> {
    let start = named(
        record(FlowEvent::Start, "yt", T1900, Some(BEN), "10.45.1.2"),
        "www.youtube.com",
    );
    let mut records = vec![start.clone()];
    let mut m = every;
    while m <= until_min {
        let mut u = start.clone();
        u.event = FlowEvent::Update;
        u.ts_ns = T1900 + m * MIN + 5 * S;
        records.push(u);
        m += every;
    }
    records
}

#[test]
fn a_quota_runs_out_at_its_minute_from_per_minute_updates() {
    let mut p = pipeline(DeciderConfig::default());
    let out = run(&mut p, &youtube_minutes(1, 35));
    assert_eq!(
        verdicts(&out),
        [
            (
                "allow".into(),
                "default".into(),
                "2024-03-12T19:00:00.000000000Z".into()
            ),
            (
                "block".into(),
                "quota:youtube".into(),
                "2024-03-12T19:30:05.000000000Z".into()
            ),
        ],
        "minutes 19:00 to 19:29 are the 30 allowed; one decision per change"
    );
    let b = on(&out, OutTopic::Blocked);
    assert_eq!((b.len(), &b[0]["rule"]), (1, &Value::from("quota:youtube")));
}

#[test]
fn a_quota_runs_out_at_its_minute_between_sparse_updates() {
    let mut p = pipeline(DeciderConfig::default());
    let out = run(&mut p, &youtube_minutes(7, 35));
    assert_eq!(
        verdicts(&out)[1],
        (
            "block".into(),
            "quota:youtube".into(),
            "2024-03-12T19:30:00.000000000Z".into()
        ),
        "the minutes between 19:28 and 19:35 count one by one"
    );
    assert_eq!(on(&out, OutTopic::Decisions)[1]["event"], "update");
}

#[test]
fn bedtime_blocks_an_open_flow_at_its_next_update_and_publishes_once() {
    let mut p = pipeline(DeciderConfig::default());
    let t2058 = T1900 + 118 * MIN;
    let start = named(
        record(FlowEvent::Start, "bed", t2058, Some(AMY), "10.45.1.1"),
        "www.youtube.com",
    );
    let mut records = vec![start.clone()];
    for (m, event) in [
        (1, FlowEvent::Update),
        (2, FlowEvent::Update),
        (3, FlowEvent::Update),
        (4, FlowEvent::End),
    ] {
        let mut u = start.clone();
        u.event = event;
        u.ts_ns = t2058 + m * MIN + 30 * S;
        records.push(u);
    }
    let out = run(&mut p, &records);
    assert_eq!(
        verdicts(&out),
        [
            (
                "allow".into(),
                "default".into(),
                "2024-03-12T20:58:00.000000000Z".into()
            ),
            (
                "block".into(),
                "schedule:school-nights".into(),
                "2024-03-12T21:00:30.000000000Z".into()
            ),
        ]
    );
    assert_eq!(on(&out, OutTopic::Blocked).len(), 1);
    let c = p.counters();
    assert_eq!(
        (c.event(FlowEvent::Update), c.event(FlowEvent::End)),
        (3, 1)
    );
    assert_eq!((c.decider.ended, c.live_flows), (1, 0));
}

#[test]
fn allows_are_sampled_by_flow_id_and_blocks_always_published() {
    let config = DeciderConfig {
        allow_sample: 4,
        ..DeciderConfig::default()
    };
    let ids: Vec<String> = (0..200).map(|i| format!("pgw1-{i}")).collect();
    let records: Vec<TrafficRecord> = ids
        .iter()
        .map(|id| {
            named(
                record(FlowEvent::Start, id, T1900, None, "10.77.0.1"),
                "www.youtube.com",
            )
        })
        .collect();
    let mut p = pipeline(config);
    let out = run(&mut p, &records);
    let published: Vec<String> = on(&out, OutTopic::Decisions)
        .iter()
        .map(|d| d["flow_id"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = ids
        .iter()
        .filter(|id| allow_sampled(id, 4))
        .cloned()
        .collect();
    assert_eq!(published, expected);
    assert!(
        (20..=80).contains(&published.len()),
        "about one in four: {}",
        published.len()
    );
    assert_eq!(
        p.counters().decider.allows_sampled_out,
        (200 - published.len()) as u64
    );
    // A second instance picks the same flows.
    assert_eq!(run(&mut pipeline(config), &records), out);

    let unsampled = ids.iter().find(|id| !allow_sampled(id, 4)).unwrap();
    let block = named(
        record(FlowEvent::Start, unsampled, T1900, Some(AMY), "10.45.1.1"),
        "www.bet365.com",
    );
    let out = run(&mut pipeline(config), &[block]);
    assert_eq!(verdicts(&out).len(), 1, "blocks always");
    let none = DeciderConfig {
        allow_sample: 0,
        ..config
    };
    assert!(run(&mut pipeline(none), &records).is_empty());
}

#[test]
fn invalid_records_go_to_the_dead_letter_topic_with_their_reason() {
    let mut p = pipeline(DeciderConfig::default());
    let good =
        String::from_utf8(record(FlowEvent::Start, "bad-1", T1900, None, "10.45.1.1").to_json())
            .unwrap();
    let mut out = Vec::new();
    p.handle(
        good.replace("\"tcp\"", "\"sctp\"").as_bytes(),
        &ORIGIN,
        &mut out,
    );
    p.handle(b"{\"event\":", &ORIGIN, &mut out);
    p.handle(&[0xff, 0xfe], &ORIGIN, &mut out);
    let dlq = on(&out, OutTopic::DeadLetter);
    assert_eq!(out.len(), 3);
    let keys: Vec<&str> = out.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["bad-1", "invalid", "invalid"]);
    assert_eq!(
        (&dlq[0]["reason"], &dlq[1]["reason"], &dlq[2]["reason"]),
        (
            &Value::from("bad_l4"),
            &Value::from("not_json"),
            &Value::from("not_json")
        )
    );
    assert_eq!(
        dlq[0]["record"].as_str().unwrap(),
        good.replace("\"tcp\"", "\"sctp\"")
    );
    assert_eq!(
        (&dlq[0]["topic"], &dlq[0]["partition"], &dlq[0]["offset"]),
        (
            &Value::from("network-traffic"),
            &Value::from(0),
            &Value::from(7)
        )
    );
    assert_eq!(dlq[2]["record_base64"], "//4=");
    let c = p.counters();
    assert_eq!(
        (
            c.records,
            c.invalid(Reason::BadL4),
            c.invalid(Reason::NotJson),
            c.invalid_total()
        ),
        (3, 1, 2, 3)
    );
}

#[test]
fn the_flow_table_is_bounded_and_forgets_idle_flows_by_record_time() {
    let config = DeciderConfig {
        max_flows: 8,
        ..DeciderConfig::default()
    };
    let mut p = pipeline(config);
    let records: Vec<TrafficRecord> = (0..20u64)
        .map(|i| {
            named(
                record(
                    FlowEvent::Start,
                    &format!("e{i}"),
                    T1900 + i * S,
                    None,
                    "10.77.0.1",
                ),
                "www.bbc.co.uk",
            )
        })
        .collect();
    run(&mut p, &records);
    let c = p.counters();
    assert!(c.live_flows <= 8, "{}", c.live_flows);
    assert_eq!(c.decider.evicted_full, 20 - c.live_flows as u64);
    // The newest flow survived; an update of it publishes nothing new.
    let mut u = records[19].clone();
    u.event = FlowEvent::Update;
    u.ts_ns += MIN;
    assert!(run(&mut p, &[u.clone()]).is_empty());
    // Eleven minutes later it is forgotten: its next record takes it up again, without a
    // second decision (its start was decided and published).
    u.ts_ns += 11 * MIN;
    assert!(run(&mut p, &[u]).is_empty());
    let c = p.counters();
    assert!(c.decider.expired_idle >= 1);
    assert_eq!(c.decider.adopted, 1);
}

/// A restarted instance, or the new owner of a partition after a rebalance, starts at the
/// committed offset: it sees updates and ends of flows whose start the previous owner decided
/// and published. It publishes nothing for them (the start's name and payload are gone; a
/// decision now would come under a new idempotency key) until their verdict changes.
#[test]
fn a_flow_first_seen_after_its_start_publishes_only_a_change_of_its_verdict() {
    let t2058 = T1900 + 118 * MIN;
    let later = |r: &TrafficRecord<'static>, event, minutes: u64| -> TrafficRecord<'static> {
        let mut u = r.clone();
        u.event = event;
        u.ts_ns = r.ts_ns + minutes * MIN + 30 * S;
        u.name = None; // the gateway names a flow in its start only
        u
    };
    let bet = named(
        record(FlowEvent::Start, "bet", t2058, Some(AMY), "10.45.1.1"),
        "www.bet365.com",
    );
    let mut yt = named(
        record(FlowEvent::Start, "yt", t2058, Some(AMY), "10.45.1.1"),
        "www.youtube.com",
    );
    yt.client = "10.45.1.1:40002".parse().unwrap();
    let before = run(
        &mut pipeline(DeciderConfig::default()),
        &[bet.clone(), yt.clone()],
    );
    assert_eq!(
        verdicts(&before)
            .iter()
            .map(|v| v.1.as_str())
            .collect::<Vec<_>>(),
        ["category:gambling", "default"]
    );

    // The restarted instance: the blocked flow's update and end, the open flow's updates
    // before and after 21:00 (school nights: everything blocked).
    let mut p = pipeline(DeciderConfig::default());
    let after = run(
        &mut p,
        &[
            later(&bet, FlowEvent::Update, 0),
            later(&yt, FlowEvent::Update, 0),
            later(&bet, FlowEvent::End, 1),
            later(&yt, FlowEvent::Update, 2),
        ],
    );
    assert_eq!(
        verdicts(&after),
        [(
            "block".into(),
            "schedule:school-nights".into(),
            "2024-03-12T21:00:30.000000000Z".into()
        )],
        "only the change is published"
    );
    let b = on(&after, OutTopic::Blocked);
    assert_eq!((b.len(), &b[0]["flow_id"]), (1, &Value::from("yt")));
    let c = p.counters().decider;
    assert_eq!((c.adopted, c.ended, c.ends_unknown), (2, 1, 0));
    assert_eq!(p.counters().live_flows, 1);

    // An end of a flow never seen changes nothing.
    let mut q = pipeline(DeciderConfig::default());
    assert!(run(&mut q, &[later(&bet, FlowEvent::End, 1)]).is_empty());
    let c = q.counters();
    assert_eq!((c.decider.ends_unknown, c.live_flows), (1, 0));
}

#[test]
fn the_same_records_give_the_same_bytes_twice() {
    let mut records = youtube_minutes(3, 40);
    let mut hello = record(FlowEvent::Start, "tls", T1900 + S, Some(AMY), "10.45.1.1");
    hello.payload_c2s = Some(tls_hello("www.tiktok.com"));
    records.push(hello);
    records.push(named(
        record(FlowEvent::Start, "gw", T1900 + 2 * S, None, "10.77.0.1"),
        "www.bet365.com",
    ));
    let mut bytes: Vec<Vec<u8>> = records.iter().map(TrafficRecord::to_json).collect();
    bytes.push(b"not a record".to_vec());
    let once = |config| {
        let mut p = pipeline(config);
        let mut out = Vec::new();
        for b in &bytes {
            p.handle(b, &ORIGIN, &mut out);
        }
        out
    };
    let config = DeciderConfig {
        allow_sample: 2,
        ..DeciderConfig::default()
    };
    let (a, b) = (once(config), once(config));
    assert!(a.len() >= 5, "{}", a.len());
    assert_eq!(a, b);
}

/// A consumer reads its partitions at different paces: record time running two hours ahead on
/// one partition (a backlog caught up there first) must not make the flows of another look idle.
/// The flows of a partition revoked from this instance are forgotten; the others stay.
#[test]
fn record_time_is_kept_per_partition_and_revoked_partitions_are_forgotten() {
    let mut p = pipeline(DeciderConfig::default());
    let at = |partition| Origin {
        partition,
        ..ORIGIN
    };
    let mut out = Vec::new();
    let slow = named(
        record(FlowEvent::Start, "slow", T1900, Some(AMY), "10.45.1.1"),
        "www.bbc.co.uk",
    );
    p.handle(&slow.to_json(), &at(0), &mut out);
    for i in 0..3u64 {
        let fast = named(
            record(
                FlowEvent::Start,
                &format!("fast{i}"),
                T1900 + 120 * MIN + i * MIN,
                Some(BEN),
                "10.45.1.2",
            ),
            "www.bbc.co.uk",
        );
        p.handle(&fast.to_json(), &at(1), &mut out);
    }
    let mut update = slow.clone();
    update.event = FlowEvent::Update;
    update.ts_ns += MIN;
    out.clear();
    p.handle(&update.to_json(), &at(0), &mut out);
    assert!(
        out.is_empty(),
        "the slow partition's flow was live: {out:?}"
    );
    let c = p.counters();
    assert_eq!((c.decider.expired_idle, c.decider.adopted), (0, 0));
    assert_eq!(c.live_flows, 4);
    p.revoked(&[1]);
    let c = p.counters();
    assert_eq!((c.live_flows, c.decider.revoked), (1, 3));
}

/// The gateway's `ue_ip` says which end is the subscriber's: a server's connection *to* Amy's
/// phone (the phone is the record's `server`) is hers, and her school night blocks it.
#[test]
fn a_record_whose_ue_is_the_server_is_that_subscribers_flow() {
    let mut p = pipeline(DeciderConfig::default());
    let mut r = named(
        record(
            FlowEvent::Start,
            "in1",
            T1900 + 150 * MIN,
            None,
            "10.45.1.1",
        ),
        "example.org",
    );
    r.client = "198.51.100.60:50000".parse().unwrap();
    r.server = "10.45.1.1:8080".parse().unwrap();
    let out = run(&mut p, &[r]);
    let d = on(&out, OutTopic::Decisions);
    assert_eq!(d.len(), 1, "{out:?}");
    assert_eq!(
        (&d[0]["subscriber"], &d[0]["verdict"], &d[0]["rule"]),
        (
            &Value::from(AMY),
            &Value::from("block"),
            &Value::from("schedule:school-nights")
        )
    );
}
