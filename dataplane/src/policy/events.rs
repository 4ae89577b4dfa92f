//! Decisions that the outside must know (blocks, sampled allows), and the bounded queue that
//! carries them from the workers to the control side.
//!
//! An event is self-contained and heap-free: the subscriber id, the flow's name and the rule
//! label are copied into fixed inline buffers when it is made, so that a sink needs neither the
//! policy it came from nor an allocator on the data-plane side. The queue is a lock-free
//! bounded MPSC ring (crossbeam's `ArrayQueue`): `push` never waits, and what does not fit is
//! counted as dropped, never lost silently.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;

use crate::classify::{AppId, Category};

use super::decide::{Action, Query, Rule, Verdict};
use super::{Policy, SubscriberRef};

/// Room for an MSISDN or IMSI (15 digits) with margin.
pub const SUBSCRIBER_ID_CAP: usize = 32;
/// Room for any DNS name (253 characters).
pub const NAME_CAP: usize = 253;
/// Room for a rule label such as `schedule:school-nights`.
pub const RULE_LABEL_CAP: usize = 64;

/// A string of at most `N` bytes stored inline; longer input is cut at a character boundary
/// and marked truncated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct InlineStr<const N: usize> {
    buf: [u8; N],
    len: u16,
    truncated: bool,
}

impl<const N: usize> InlineStr<N> {
    pub const fn new() -> Self {
        InlineStr {
            buf: [0; N],
            len: 0,
            truncated: false,
        }
    }

    pub fn from_str_truncated(s: &str) -> Self {
        let mut out = Self::new();
        out.push_str(s);
        out
    }

    /// Appends as much of `s` as fits (whole characters only).
    pub fn push_str(&mut self, s: &str) {
        let len = usize::from(self.len);
        let room = N.min(usize::from(u16::MAX)).saturating_sub(len);
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        if take < s.len() {
            self.truncated = true;
        }
        let (Some(dst), Some(src)) = (self.buf.get_mut(len..len + take), s.get(..take)) else {
            return;
        };
        dst.copy_from_slice(src.as_bytes());
        self.len = u16::try_from(len + take).unwrap_or(self.len);
    }

    pub fn as_str(&self) -> &str {
        self.buf
            .get(..usize::from(self.len))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl<const N: usize> Default for InlineStr<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for InlineStr<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

impl<const N: usize> fmt::Debug for InlineStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> fmt::Display for InlineStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One decision for the outside (usually a block).
#[derive(Debug, Clone)]
pub struct BlockEvent {
    pub ts_ns: u64,
    /// Epoch of the policy that decided.
    pub epoch: u64,
    pub subscriber: SubscriberRef,
    /// The subscriber's id (MSISDN or IMSI), or `default` for unlisted subscribers.
    pub subscriber_id: InlineStr<SUBSCRIBER_ID_CAP>,
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// The flow's name; empty when it had none.
    pub name: InlineStr<NAME_CAP>,
    pub app: Option<AppId>,
    pub category: Option<Category>,
    pub rule: Rule,
    /// The rule with its names, e.g. `schedule:school-nights`.
    pub rule_label: InlineStr<RULE_LABEL_CAP>,
    pub action: Action,
}

impl BlockEvent {
    /// Makes the event for a decision of `policy` (no allocation).
    pub fn new(policy: &Policy, q: &Query<'_>, client: SocketAddr, verdict: &Verdict) -> Self {
        let mut rule_label = InlineStr::new();
        // Writing into an InlineStr cannot fail.
        let _ = policy.rule_label(verdict.rule).write_to(&mut rule_label);
        BlockEvent {
            ts_ns: q.ts_ns,
            epoch: policy.epoch(),
            subscriber: q.subscriber,
            subscriber_id: InlineStr::from_str_truncated(policy.subscriber_id(q.subscriber)),
            client,
            server: q.server,
            name: InlineStr::from_str_truncated(q.name.unwrap_or("")),
            app: q.matched.and_then(|m| m.app),
            category: q.matched.map(|m| m.category),
            rule: verdict.rule,
            rule_label,
            action: verdict.action,
        }
    }

    pub fn name(&self) -> Option<&str> {
        (!self.name.is_empty()).then(|| self.name.as_str())
    }
}

/// Bounded lock-free multi-producer queue of events; never blocks a producer.
pub struct EventQueue {
    ring: ArrayQueue<BlockEvent>,
    pushed: AtomicU64,
    dropped: AtomicU64,
}

impl EventQueue {
    /// A queue that holds up to `capacity` events (at least 1).
    pub fn new(capacity: usize) -> Self {
        EventQueue {
            ring: ArrayQueue::new(capacity.max(1)),
            pushed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Queues an event; `false` (and one more drop counted) when the queue is full.
    pub fn push(&self, ev: BlockEvent) -> bool {
        match self.ring.push(ev) {
            Ok(()) => {
                self.pushed.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    pub fn pop(&self) -> Option<BlockEvent> {
        self.ring.pop()
    }

    /// Pops until the queue is empty (events pushed meanwhile may be included).
    pub fn drain(&self) -> impl Iterator<Item = BlockEvent> + '_ {
        std::iter::from_fn(|| self.ring.pop())
    }

    /// Events accepted so far.
    pub fn pushed(&self) -> u64 {
        self.pushed.load(Ordering::Relaxed)
    }

    /// Events refused because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }
}

impl fmt::Debug for EventQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventQueue")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("pushed", &self.pushed())
            .field("dropped", &self.dropped())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_str_truncates_on_char_boundary() {
        let s: InlineStr<5> = InlineStr::from_str_truncated("abcdé");
        assert_eq!(s.as_str(), "abcd");
        assert!(s.is_truncated());
        let s: InlineStr<6> = InlineStr::from_str_truncated("abcdé");
        assert_eq!(s.as_str(), "abcdé");
        assert!(!s.is_truncated());
        let mut s: InlineStr<8> = InlineStr::new();
        s.push_str("ab");
        s.push_str("cd");
        assert_eq!(s.as_str(), "abcd");
    }
}
