//! Flow mode over Kafka under faults, against librdkafka's mock cluster (made in this process;
//! `pcgate consume` runs as a child process and connects to it over loopback):
//!
//! - the brokers go down mid-run and come back: outputs wait in the spool and are delivered
//!   once they are back;
//! - pcgate is killed (SIGKILL) mid-run and restarted with the same group and spool.
//!
//! Afterwards the output topics, with redelivered copies dropped by idempotency key, hold
//! exactly what a single instance reading the records once writes (`pcgate consume --input`):
//! every expected block is on `blocked-requests`, none is missing and none is extra.

#[path = "support/kafka.rs"]
mod kafka;

use control::traffic::NETWORK_TRAFFIC;
use kafka::{
    committed, message_count, publish, publish_paced, read_outputs, scenario, Pcgate, Tuning,
    OUTPUT_TOPICS,
};
use rdkafka::mocking::{MockCluster, MockCoordinator};
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use std::time::{Duration, Instant};

const INPUT_PARTITIONS: i32 = 3;
/// Long enough for anything the tests wait for.
const PATIENCE: Duration = Duration::from_secs(60);

type Cluster = MockCluster<'static, DefaultProducerContext>;

fn cluster(brokers: i32) -> Cluster {
    let c = MockCluster::new(brokers).expect("a mock cluster");
    c.create_topic(NETWORK_TRAFFIC, INPUT_PARTITIONS, 1)
        .unwrap();
    for t in OUTPUT_TOPICS {
        c.create_topic(t, 3, 1).unwrap();
    }
    c
}

/// Messages on the three output topics together.
fn outputs_on_topics(bootstrap: &str) -> i64 {
    OUTPUT_TOPICS
        .iter()
        .map(|t| message_count(bootstrap, t))
        .sum()
}

/// Waits until the output topics hold at least `n` messages.
fn wait_for_outputs(pcgate: &mut Pcgate, bootstrap: &str, n: usize, what: &str) {
    pcgate.wait_for(what, PATIENCE, || {
        (outputs_on_topics(bootstrap) >= n as i64).then_some(())
    });
}

#[test]
fn brokers_down_mid_run_outputs_are_spooled_then_delivered_none_missing_none_extra() {
    let s = scenario();
    let n = s.records.len();
    let (a, b) = (n * 2 / 5, n * 7 / 10);
    let group = "pcgate-faults-down";
    // Inputs and the group on broker 1; outputs on broker 2, which goes away first.
    let c = cluster(3);
    let bs = c.bootstrap_servers();
    c.coordinator(MockCoordinator::Group(group.into()), 1)
        .unwrap();
    for p in 0..INPUT_PARTITIONS {
        c.partition_leader(NETWORK_TRAFFIC, p, Some(1)).unwrap();
    }
    for t in OUTPUT_TOPICS {
        for p in 0..3 {
            c.partition_leader(t, p, Some(2)).unwrap();
        }
    }
    let work = tempfile::tempdir().unwrap();
    let tuning = Tuning {
        message_timeout_ms: 1_500,
        session_timeout_ms: 3_000,
        ..Tuning::default()
    };
    let t0 = Instant::now();
    // Idle for 12 s ends the run: longer than the brokers are down (4 s) and the test then
    // takes to publish again (its producer reconnects too), so that the rest is not missed.
    // With 6 s a run on a loaded machine once ended with 3 766 of 5 381 records committed.
    let mut pcgate = Pcgate::start("pcgate", &bs, group, work.path(), &tuning, 12.0);

    // 1. Everything up: the first records' outputs arrive.
    publish(&bs, &s.records[..a]);
    wait_for_outputs(
        &mut pcgate,
        &bs,
        s.expected_prefix(a).total(),
        "the first records' outputs",
    );

    // 2. The output broker goes down: outputs fail after message.timeout.ms and go to the
    //    spool; their offsets are committed only then.
    c.broker_down(2).unwrap();
    publish(&bs, &s.records[a..b]);
    pcgate.wait_for(
        "every record consumed so far committed, its outputs in the spool",
        PATIENCE,
        || (committed(&bs, group) == b as i64).then_some(()),
    );

    // 3. Every broker goes down, longer than the session timeout (the group forgets the
    //    instance; its consumer, coordinator and producer connections all fail), and comes
    //    back; then the rest of the records is published.
    c.broker_down(-1).unwrap();
    std::thread::sleep(Duration::from_millis(
        u64::from(tuning.session_timeout_ms) + 1_000,
    ));
    c.broker_up(-1).unwrap();
    publish(&bs, &s.records[b..]);

    let summary = pcgate.wait(PATIENCE);
    assert!(
        summary.spooled > 0,
        "nothing was spooled:\n{}",
        summary.stderr
    );
    assert!(
        summary.replayed >= summary.spooled,
        "the spool was not delivered:\n{}",
        summary.stderr
    );
    assert_eq!(summary.spool_left, 0, "spool drained:\n{}", summary.stderr);
    assert_eq!(committed(&bs, group), n as i64, "every record committed");
    let got = read_outputs(&bs);
    println!(
        "brokers down and back: {:.1} s; consumed {} (of {n}), spooled {}, replayed from the \
         spool {}; {}",
        t0.elapsed().as_secs_f64(),
        summary.consumed,
        summary.spooled,
        summary.replayed,
        got.describe()
    );
    got.assert_same_as(&s.expected, "brokers down and back");
}

#[test]
fn killed_mid_run_and_restarted_every_block_is_delivered_once_after_dropping_copies() {
    let s = scenario();
    let n = s.records.len();
    let a = n * 11 / 20;
    let group = "pcgate-faults-kill";
    let c = cluster(1);
    let bs = c.bootstrap_servers();
    let work = tempfile::tempdir().unwrap();
    // Commits every 1000 records only, so that a kill leaves consumed records uncommitted; a
    // short session, so that the group soon gives a killed instance's partitions away.
    let tuning = Tuning {
        commit_interval_ms: 3_600_000,
        commit_every: 1_000,
        session_timeout_ms: 3_000,
        ..Tuning::default()
    };
    let config = work.path().join("pcgate.toml");
    tuning.write(&config);
    let spool = work.path().join("spool");
    let start = |name: &str, idle: f64| {
        let log = work.path().join(format!("{name}.log"));
        Pcgate::start_with_spool(name, &bs, group, &spool, &config, &log, idle)
    };
    let t0 = Instant::now();

    // 1. The first instance handles the first records and commits; then the brokers refuse
    //    its commits while it handles more, and it is killed: what it did after its last
    //    commit is done again by the next one. (An instance that has caught up commits at
    //    once, so without the refusals a kill would rarely leave anything uncommitted.)
    let mut first = start("first", 60.0);
    let prefix = s.expected_prefix(a).total();
    let half = a / 2;
    publish(&bs, &s.records[..half]);
    let half_outputs = s.expected_prefix(half).total();
    wait_for_outputs(&mut first, &bs, half_outputs, "the first half's outputs");
    // Caught up, it commits everything it handled (and then nothing while idle).
    first.wait_for("the first half committed", PATIENCE, || {
        (committed(&bs, group) == half as i64).then_some(())
    });
    c.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &vec![RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS; 100_000],
    );
    let at_first_kill = committed(&bs, group);
    publish(&bs, &s.records[half..a]);
    wait_for_outputs(&mut first, &bs, prefix, "the second half's outputs");
    first.kill();
    c.clear_request_errors(RDKafkaApiKey::OffsetCommit);
    assert_eq!(
        committed(&bs, group),
        at_first_kill,
        "no commit got through while they were refused"
    );
    assert!(
        0 < at_first_kill && at_first_kill < a as i64,
        "the first instance committed {at_first_kill} of the first {a} records; the test needs \
         a commit in between"
    );

    // 2. The second one starts from that commit while the rest is published at a steady
    //    pace, and is killed in the middle of its work: outputs in flight are lost, their
    //    records are not committed.
    let rest = &s.records[a..];
    let publisher = std::thread::scope(|scope| {
        let publisher = scope.spawn(|| publish_paced(&bs, rest, Some(300)));
        let mut second = start("second", 60.0);
        let some = prefix + (s.expected.total() - prefix) / 4;
        wait_for_outputs(
            &mut second,
            &bs,
            some,
            "the second instance's first outputs",
        );
        second.kill();
        let mid_stream = !publisher.is_finished();
        publisher.join().expect("publisher");
        mid_stream
    });
    let at_second_kill = committed(&bs, group);

    // 3. The third one finishes.
    let mut third = start("third", 3.0);
    let summary = third.wait(PATIENCE);
    assert_eq!(committed(&bs, group), n as i64, "every record committed");
    // A commit the killed instance had sent may have landed after it was looked at: the
    // last instance starts there or later, never before.
    assert!(
        0 < summary.consumed && summary.consumed <= (n as i64 - at_second_kill) as u64,
        "the last instance resumed at the last commit ({at_second_kill}) or later, consumed {}",
        summary.consumed
    );
    let got = read_outputs(&bs);
    println!(
        "killed twice: {:.1} s; committed at the kills: {at_first_kill} of {a} consumed, then \
         {at_second_kill} ({}); {}",
        t0.elapsed().as_secs_f64(),
        if publisher {
            "records still coming"
        } else {
            "all records published by then"
        },
        got.describe()
    );
    got.assert_same_as(&s.expected, "killed and restarted");
    assert!(
        got.duplicates_total() > 0,
        "records handled after the last commit are handled again: their outputs come twice"
    );
    assert_eq!(got.blocks.len(), s.expected.blocks.len());
}
