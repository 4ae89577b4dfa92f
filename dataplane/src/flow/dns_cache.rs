//! What each client recently resolved: DNS A/AAAA answers, kept so that a later flow of the same
//! client to one of those addresses can be named even when it carries no name of its own (an
//! encrypted-SNI TLS flow, a raw TCP or UDP flow). Bounded; the oldest answers go first.
//!
//! Each worker keeps a cache of its own, fed every answer in capture order: by its own DNS tap
//! when it sees every packet, or by the dispatcher, which hands each answer to every worker in
//! line with the packets ([`crate::engine`]). So a flow is named by the answers of the packets
//! before its first one, whatever the number of workers and however far ahead of a worker the
//! dispatcher runs; a cache shared by all workers was fed by the dispatcher ahead of them, and
//! under pressure evicted answers before the flows they named had started. Looked up once per
//! new flow, never per packet.

use hashbrown::HashMap;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;

/// How long an answer is used, at most (DNS TTLs are not tracked; this is the cap).
const MAX_AGE_NS: u64 = 3600 * 1_000_000_000;

/// One A/AAAA answer: `client` was told at `ts_ns` that `name` is at `addr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub client: IpAddr,
    pub addr: IpAddr,
    pub name: Arc<str>,
    pub ts_ns: u64,
}

type Key = (IpAddr, IpAddr);

#[derive(Debug)]
struct Entry {
    name: Arc<str>,
    ts_ns: u64,
    /// The answer's place in the order answers came in.
    stamp: u64,
}

/// (client address, answered address) -> the name last answered, for one worker.
#[derive(Debug)]
pub struct DnsCache {
    map: HashMap<Key, Entry, foldhash::fast::FixedState>,
    /// Keys in the order their answers came, each with its answer's stamp. A pair answered
    /// again is queued again; its earlier place is skipped when reached, so a pair that is
    /// resolved again and again is not evicted as if it were old.
    order: VecDeque<(Key, u64)>,
    next_stamp: u64,
    capacity: usize,
}

impl DnsCache {
    /// A cache that holds at most `capacity` (client, address) pairs (0: none, so no flow is
    /// named by an answer).
    pub fn new(capacity: usize) -> DnsCache {
        DnsCache {
            map: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(0x646e_7363)),
            order: VecDeque::new(),
            next_stamp: 0,
            capacity,
        }
    }

    /// Remembers an answer; the oldest answers go when the cache is full.
    pub fn insert(&mut self, answer: Resolved) {
        let key = (answer.client, answer.addr);
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        let entry = Entry {
            name: answer.name,
            ts_ns: answer.ts_ns,
            stamp,
        };
        self.map.insert(key, entry);
        self.order.push_back((key, stamp));
        while self.map.len() > self.capacity {
            let Some((old, stamp)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&old).is_some_and(|e| e.stamp == stamp) {
                self.map.remove(&old);
            }
        }
        // Places left by pairs answered again: dropped once they outnumber the pairs.
        if self.order.len() > 2 * self.capacity.max(1) {
            let map = &self.map;
            self.order
                .retain(|(key, stamp)| map.get(key).is_some_and(|e| e.stamp == *stamp));
        }
    }

    /// The name `client` was last given for `addr`, if that was at or before `ts_ns` and not
    /// too long before.
    pub fn lookup(&self, client: IpAddr, addr: IpAddr, ts_ns: u64) -> Option<Arc<str>> {
        let e = self.map.get(&(client, addr))?;
        let age = ts_ns.checked_sub(e.ts_ns)?;
        (age <= MAX_AGE_NS).then(|| e.name.clone())
    }

    /// Pairs held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn answer(client: &str, addr: IpAddr, name: &str, ts_ns: u64) -> Resolved {
        Resolved {
            client: ip(client),
            addr,
            name: name.into(),
            ts_ns,
        }
    }

    #[test]
    fn answer_names_later_flow_of_same_client_only() {
        let mut c = DnsCache::new(10);
        c.insert(answer("10.0.0.1", ip("1.2.3.4"), "a.example", 100));
        assert_eq!(
            c.lookup(ip("10.0.0.1"), ip("1.2.3.4"), 200).as_deref(),
            Some("a.example")
        );
        assert!(c.lookup(ip("10.0.0.2"), ip("1.2.3.4"), 200).is_none());
        assert!(
            c.lookup(ip("10.0.0.1"), ip("1.2.3.4"), 50).is_none(),
            "answer after flow start"
        );
        assert!(c
            .lookup(ip("10.0.0.1"), ip("1.2.3.4"), 100 + MAX_AGE_NS + 1)
            .is_none());
    }

    #[test]
    fn cache_is_bounded_and_evicts_oldest() {
        let mut c = DnsCache::new(16);
        for i in 0..200u8 {
            c.insert(answer(
                "10.0.0.1",
                IpAddr::from([1, 1, 1, i]),
                "a",
                u64::from(i),
            ));
        }
        assert_eq!(c.len(), 16);
        assert!(c.lookup(ip("10.0.0.1"), ip("1.1.1.199"), 1000).is_some());
        assert!(c.lookup(ip("10.0.0.1"), ip("1.1.1.184"), 1000).is_some());
        assert!(c.lookup(ip("10.0.0.1"), ip("1.1.1.183"), 1000).is_none());
    }

    #[test]
    fn a_later_answer_replaces_the_name_and_counts_as_new() {
        let mut c = DnsCache::new(2);
        c.insert(answer("10.0.0.1", ip("1.2.3.4"), "old.example", 100));
        c.insert(answer("10.0.0.1", ip("5.6.7.8"), "b.example", 200));
        c.insert(answer("10.0.0.1", ip("1.2.3.4"), "new.example", 300));
        // The cache is full: the oldest answer goes, which is b's, not 1.2.3.4's first one.
        c.insert(answer("10.0.0.1", ip("9.9.9.9"), "c.example", 400));
        assert_eq!(
            c.lookup(ip("10.0.0.1"), ip("1.2.3.4"), 500).as_deref(),
            Some("new.example")
        );
        assert!(c.lookup(ip("10.0.0.1"), ip("5.6.7.8"), 500).is_none());
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn a_pair_answered_over_and_over_keeps_the_order_queue_small() {
        let mut c = DnsCache::new(4);
        for ts in 0..10_000 {
            c.insert(answer("10.0.0.1", ip("1.2.3.4"), "a.example", ts));
        }
        assert_eq!(c.len(), 1);
        assert!(c.order.len() <= 8, "{}", c.order.len());
        assert_eq!(
            c.lookup(ip("10.0.0.1"), ip("1.2.3.4"), 10_000).as_deref(),
            Some("a.example")
        );
    }

    #[test]
    fn a_cache_of_no_pairs_names_nothing() {
        let mut c = DnsCache::new(0);
        c.insert(answer("10.0.0.1", ip("1.2.3.4"), "a.example", 100));
        assert!(c.is_empty());
        assert!(c.lookup(ip("10.0.0.1"), ip("1.2.3.4"), 200).is_none());
    }
}
