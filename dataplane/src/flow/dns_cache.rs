//! What each client recently resolved: DNS A/AAAA answers, kept so that a later flow of the same
//! client to one of those addresses can be named even when it carries no name of its own (an
//! encrypted-SNI TLS flow, a raw TCP or UDP flow). Bounded; the oldest answers go first.
//!
//! Shared by all workers: answers are put in by whoever sees packets first, in capture order
//! (the dispatcher), and looked up by workers once per new flow, never per packet. An answer is
//! only used for flows that start after it was seen, so what a flow is named does not depend on
//! how far ahead the dispatcher runs, nor on the number of workers. Sharded mutexes keep
//! contention away.

use hashbrown::HashMap;
use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

const SHARDS: usize = 16;
/// Answers kept per (client, address): a later answer must not hide an earlier one from a flow
/// that started between them.
const HISTORY: usize = 4;

/// How long an answer is used, at most (DNS TTLs are not tracked; this is the cap).
const MAX_AGE_NS: u64 = 3600 * 1_000_000_000;

#[derive(Debug, Clone)]
struct Answer {
    name: Arc<str>,
    ts_ns: u64,
}

type Key = (IpAddr, IpAddr);

#[derive(Debug, Default)]
struct Shard {
    map: HashMap<Key, Vec<Answer>, foldhash::fast::FixedState>,
    order: VecDeque<Key>,
}

/// (client address, answered address) -> names, shared by all workers.
#[derive(Debug)]
pub struct DnsCache {
    shards: Vec<Mutex<Shard>>,
    hasher: foldhash::fast::FixedState,
    shard_capacity: usize,
}

impl DnsCache {
    /// A cache that holds about `capacity` (client, address) pairs.
    pub fn new(capacity: usize) -> DnsCache {
        DnsCache {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: foldhash::fast::FixedState::with_seed(0x646e_7363),
            shard_capacity: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, key: &Key) -> std::sync::MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        // A poisoned shard only means another thread panicked mid-update of plain data.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `client` was told at `ts_ns` that `name` is at `addr`.
    pub fn insert(&self, client: IpAddr, addr: IpAddr, name: Arc<str>, ts_ns: u64) {
        let key = (client, addr);
        let mut shard = self.shard(&key);
        let shard = &mut *shard;
        match shard.map.get_mut(&key) {
            Some(history) => {
                if history.len() == HISTORY {
                    history.remove(0);
                }
                history.push(Answer { name, ts_ns });
            }
            None => {
                shard.map.insert(key, vec![Answer { name, ts_ns }]);
                shard.order.push_back(key);
                while shard.map.len() > self.shard_capacity {
                    match shard.order.pop_front() {
                        Some(old) => {
                            shard.map.remove(&old);
                        }
                        None => break,
                    }
                }
            }
        }
    }

    /// The name `client` most recently resolved to `addr` before `ts_ns`, if not too old.
    pub fn lookup(&self, client: IpAddr, addr: IpAddr, ts_ns: u64) -> Option<Arc<str>> {
        let key = (client, addr);
        let shard = self.shard(&key);
        let history = shard.map.get(&key)?;
        history
            .iter()
            .rev()
            .find(|a| a.ts_ns <= ts_ns)
            .filter(|a| ts_ns - a.ts_ns <= MAX_AGE_NS)
            .map(|a| a.name.clone())
    }

    /// Pairs held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).map.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        let c = DnsCache::new(10);
        c.insert(ip("10.0.0.1"), ip("1.2.3.4"), "a.example".into(), 100);
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
        let c = DnsCache::new(SHARDS);
        for i in 0..200u8 {
            c.insert(
                ip("10.0.0.1"),
                IpAddr::from([1, 1, 1, i]),
                "a".into(),
                u64::from(i),
            );
        }
        assert!(c.len() <= SHARDS, "{}", c.len());
        assert!(
            c.lookup(ip("10.0.0.1"), ip("1.1.1.199"), 1000).is_some(),
            "newest stays"
        );
    }

    #[test]
    fn earlier_answer_still_names_flow_that_started_before_a_later_one() {
        let c = DnsCache::new(10);
        c.insert(ip("10.0.0.1"), ip("1.2.3.4"), "old.example".into(), 100);
        c.insert(ip("10.0.0.1"), ip("1.2.3.4"), "new.example".into(), 300);
        assert_eq!(
            c.lookup(ip("10.0.0.1"), ip("1.2.3.4"), 200).as_deref(),
            Some("old.example")
        );
        assert_eq!(
            c.lookup(ip("10.0.0.1"), ip("1.2.3.4"), 400).as_deref(),
            Some("new.example")
        );
    }
}
