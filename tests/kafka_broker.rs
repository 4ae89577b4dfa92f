//! Flow mode over a real Kafka-protocol broker (tansu, in memory, on a loopback port): pgw-sim's
//! publisher sends a known set of `network-traffic` records, `pcgate consume` decides them, and
//! the output topics must hold exactly what a single instance reading the records from a file
//! writes (`pcgate consume --input`): the same decisions, the same blocks, every refused record
//! on the dead-letter topic with its reason and its place in the input.

#[path = "support/broker.rs"]
mod broker;
#[path = "support/kafka.rs"]
mod kafka;

use broker::Broker;
use kafka::{
    create_topics, publish, read_outputs, scenario, wait_for_assignment, Pcgate, Summary, Tuning,
};
use std::time::{Duration, Instant};

/// Long enough for anything the tests wait for.
const PATIENCE: Duration = Duration::from_secs(60);

#[test]
fn decisions_blocks_and_dead_letters_are_exactly_those_of_a_single_instance() {
    let s = scenario();
    let broker = Broker::start();
    let bs = broker.bootstrap();
    create_topics(&bs, 3);
    let work = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let mut pcgate = Pcgate::start(
        "pcgate",
        &bs,
        "pcgate-exact",
        work.path(),
        &Tuning::default(),
        3.0,
    );
    publish(&bs, &s.records);
    let summary = pcgate.wait(PATIENCE);
    let got = read_outputs(&bs);
    println!(
        "one instance over tansu: {:.1} s; consumed {}; {}",
        t0.elapsed().as_secs_f64(),
        summary.consumed,
        got.describe()
    );
    assert_eq!(
        summary.consumed,
        s.records.len() as u64,
        "{}",
        summary.stderr
    );
    got.assert_same_as(&s.expected, "one instance");
    let reasons: std::collections::BTreeSet<&str> =
        got.dead.keys().map(|(reason, _)| reason.as_str()).collect();
    assert_eq!(
        reasons.len(),
        8,
        "every reason on the dead-letter topic: {reasons:?}"
    );
    assert_eq!(got.duplicates, [0; 3], "no fault, no copy");
    assert_eq!(summary.spooled, 0, "{}", summary.stderr);
}

/// Two instances in one group share a 6-partition topic. Both join, and the group settles,
/// before any record is published, so no partition moves while records flow (a moved
/// partition's flow state stays behind, as Kafka does; that case is the fault tests'): each
/// record is then decided by exactly one instance, and together they write what a single
/// instance writes.
#[test]
fn two_instances_in_one_group_decide_every_record_once_and_together_write_one_instances_output() {
    let s = scenario();
    let broker = Broker::start();
    let bs = broker.bootstrap();
    create_topics(&bs, 6);
    let group = "pcgate-pair";
    let work = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let tuning = Tuning::default();
    let idle = 5.0;
    let mut one = Pcgate::start("one", &bs, group, work.path(), &tuning, idle);
    wait_for_assignment(
        &mut [&mut one],
        "all six partitions to the first",
        PATIENCE,
        |a| a == [6],
    );
    let mut two = Pcgate::start("two", &bs, group, work.path(), &tuning, idle);
    let split = wait_for_assignment(
        &mut [&mut one, &mut two],
        "the two to share the six partitions",
        PATIENCE,
        |a| a.iter().all(|&n| n > 0) && a.iter().sum::<u64>() == 6,
    );
    publish(&bs, &s.records);
    let summaries: Vec<Summary> = [&mut one, &mut two]
        .into_iter()
        .map(|p| p.wait(PATIENCE))
        .collect();
    let got = read_outputs(&bs);
    let consumed: Vec<u64> = summaries.iter().map(|s| s.consumed).collect();
    println!(
        "two instances over tansu: {:.1} s; partitions {split:?}; consumed {consumed:?}; {}",
        t0.elapsed().as_secs_f64(),
        got.describe()
    );
    for (name, summary) in ["one", "two"].iter().zip(&summaries) {
        assert!(
            summary.consumed > 0,
            "instance {name} consumed nothing:\n{}",
            summary.stderr
        );
    }
    assert_eq!(
        consumed.iter().sum::<u64>(),
        s.records.len() as u64,
        "each record consumed by exactly one instance (a partition moved mid-stream?)"
    );
    got.assert_same_as(&s.expected, "two instances");
    assert_eq!(got.duplicates, [0; 3], "each record decided once");
}
