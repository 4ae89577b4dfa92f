//! What each client recently resolved: DNS A/AAAA answers, kept so that a later flow of the same
//! client to one of those addresses can be named even when it carries no name of its own (an
//! encrypted-SNI TLS flow, a raw TCP or UDP flow). Bounded; the oldest answers go first. An
//! answer is only used for flows that start after it was seen.

use hashbrown::HashMap;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;

/// How long an answer is used, at most (DNS TTLs are not tracked; this is the cap).
const MAX_AGE_NS: u64 = 3600 * 1_000_000_000;

#[derive(Debug, Clone)]
struct Answer {
    name: Arc<str>,
    ts_ns: u64,
}

/// (client address, answered address) -> name.
#[derive(Debug)]
pub struct DnsCache {
    map: HashMap<(IpAddr, IpAddr), Answer, foldhash::fast::FixedState>,
    order: VecDeque<(IpAddr, IpAddr)>,
    capacity: usize,
}

impl DnsCache {
    pub fn new(capacity: usize) -> DnsCache {
        DnsCache {
            map: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(0x646e_7363)),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records that `client` was told at `ts_ns` that `name` is at `addr`.
    pub fn insert(&mut self, client: IpAddr, addr: IpAddr, name: Arc<str>, ts_ns: u64) {
        let key = (client, addr);
        if self.map.insert(key, Answer { name, ts_ns }).is_none() {
            self.order.push_back(key);
            while self.map.len() > self.capacity {
                match self.order.pop_front() {
                    Some(old) => {
                        self.map.remove(&old);
                    }
                    None => break,
                }
            }
        }
    }

    /// The name `client` last resolved to `addr`, if seen before `ts_ns` and not too old.
    pub fn lookup(&self, client: IpAddr, addr: IpAddr, ts_ns: u64) -> Option<&Arc<str>> {
        let a = self.map.get(&(client, addr))?;
        (a.ts_ns <= ts_ns && ts_ns - a.ts_ns <= MAX_AGE_NS).then_some(&a.name)
    }

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

    #[test]
    fn answer_names_later_flow_of_same_client_only() {
        let mut c = DnsCache::new(10);
        c.insert(ip("10.0.0.1"), ip("1.2.3.4"), "a.example".into(), 100);
        assert_eq!(c.lookup(ip("10.0.0.1"), ip("1.2.3.4"), 200).map(|n| &**n), Some("a.example"));
        assert!(c.lookup(ip("10.0.0.2"), ip("1.2.3.4"), 200).is_none());
        assert!(c.lookup(ip("10.0.0.1"), ip("1.2.3.4"), 50).is_none(), "answer after flow start");
        assert!(c.lookup(ip("10.0.0.1"), ip("1.2.3.4"), 100 + MAX_AGE_NS + 1).is_none());
    }

    #[test]
    fn cache_is_bounded_and_evicts_oldest() {
        let mut c = DnsCache::new(2);
        c.insert(ip("10.0.0.1"), ip("1.1.1.1"), "a".into(), 1);
        c.insert(ip("10.0.0.1"), ip("2.2.2.2"), "b".into(), 2);
        c.insert(ip("10.0.0.1"), ip("3.3.3.3"), "c".into(), 3);
        assert_eq!(c.len(), 2);
        assert!(c.lookup(ip("10.0.0.1"), ip("1.1.1.1"), 10).is_none());
        assert!(c.lookup(ip("10.0.0.1"), ip("3.3.3.3"), 10).is_some());
    }
}
