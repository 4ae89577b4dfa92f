//! Daily time quotas: minutes of active use per app or category, per listed subscriber, per
//! local day.
//!
//! The ledger holds, for each (listed subscriber, quota of its profile), the local day it counts
//! and a bit map of the real minutes of that day in which a counted flow was active. A minute is
//! a UTC minute counted from the local midnight that began the day (`schedule::QuotaClock`), not a
//! wall-clock minute: on a fall-back day 01:20 EDT and 01:20 EST are two minutes of use, and the
//! day holds 1500 of them (1380 on a spring-forward day); the day still ends at local midnight.
//! A minute counts once however many flows are active in it, and workers mark minutes without a
//! lock (`fetch_or` on one word). The first mark of a new local day clears the map. Two workers
//! that straddle local midnight can misplace at most one minute.
//!
//! The ledger is allocated when a policy compiles ([`QuotaLedger::for_policy`]) and belongs to
//! that policy (a ledger of another policy is ignored: nothing is counted, nothing is exhausted).
//! [`QuotaLedger::carry_over`] moves today's usage to a new policy by subscriber id and quota
//! target, so that publishing a new policy does not reset anyone's day.
//!
//! Subscribers that are not listed (the default profile) have no slots: their quotas are not
//! tracked and never run out. Operators list the lines that need quotas.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::classify::{AppId, Category, Match};

#[cfg(doc)]
use super::schedule::QuotaClock;
use super::schedule::QUOTA_MINUTES_PER_DAY;
use super::Policy;

/// The real minutes of the longest local day in 64-bit words (a minute past them, which no
/// real day has, is not counted).
const WORDS: usize = (QUOTA_MINUTES_PER_DAY as usize).div_ceil(64);
/// Day stamp of a slot that one worker is clearing for a new day.
const CLEARING: u32 = u32::MAX;

/// What a quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QuotaTarget {
    App(AppId),
    Category(Category),
}

/// One compiled quota of a profile.
#[derive(Debug, Clone)]
pub(crate) struct Quota {
    pub target: QuotaTarget,
    /// The app or category id as written in the file (`tiktok`, `gaming`).
    pub label: Box<str>,
    pub minutes: u16,
}

impl Quota {
    /// Whether a flow with this match counts toward the quota.
    pub(crate) fn counts(&self, matched: Option<Match>) -> bool {
        match (self.target, matched) {
            (QuotaTarget::App(app), Some(m)) => m.app == Some(app),
            (QuotaTarget::Category(c), Some(m)) => m.category == c,
            (_, None) => false,
        }
    }

    fn same_target(&self, other: &Quota) -> bool {
        matches!(
            (self.target, other.target),
            (QuotaTarget::App(_), QuotaTarget::App(_))
                | (QuotaTarget::Category(_), QuotaTarget::Category(_))
        ) && self.label == other.label
    }
}

/// Usage of one quota by one subscriber on one local day.
#[derive(Debug)]
struct Slot {
    day: AtomicU32,
    minutes: [AtomicU64; WORDS],
}

impl Slot {
    fn new() -> Self {
        Slot {
            day: AtomicU32::new(0),
            minutes: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    fn mark(&self, day: u32, minute: u16) {
        let current = self.day.load(Ordering::Acquire);
        if current != day {
            if current == CLEARING || current > day {
                // Another worker is starting a new day, or this timestamp is from a past day.
                return;
            }
            if self
                .day
                .compare_exchange(current, CLEARING, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return;
            }
            for w in &self.minutes {
                w.store(0, Ordering::Relaxed);
            }
            self.day.store(day, Ordering::Release);
        }
        let word = usize::from(minute / 64);
        let bit = 1u64 << (minute % 64);
        if let Some(w) = self.minutes.get(word) {
            // Read first: most marks find the minute already counted and need no write.
            if w.load(Ordering::Relaxed) & bit == 0 {
                w.fetch_or(bit, Ordering::Relaxed);
            }
        }
    }

    fn used(&self, day: u32) -> u32 {
        if self.day.load(Ordering::Acquire) != day {
            return 0;
        }
        self.minutes
            .iter()
            .map(|w| w.load(Ordering::Relaxed).count_ones())
            .sum()
    }

    fn copy_from(&self, other: &Slot) {
        for (dst, src) in self.minutes.iter().zip(other.minutes.iter()) {
            dst.store(src.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        let day = other.day.load(Ordering::Acquire);
        self.day
            .store(if day == CLEARING { 0 } else { day }, Ordering::Release);
    }
}

/// Lock-free minute accounting for the quotas of one policy.
#[derive(Debug)]
pub struct QuotaLedger {
    policy_uid: u64,
    slots: Box<[Slot]>,
}

impl QuotaLedger {
    /// A ledger with one slot per (listed subscriber, quota of its profile), all unused.
    pub fn for_policy(policy: &Policy) -> QuotaLedger {
        QuotaLedger {
            policy_uid: policy.uid,
            slots: (0..policy.quota_slots).map(|_| Slot::new()).collect(),
        }
    }

    /// A ledger for `new` that keeps the usage recorded in `old_ledger` (of `old`), matched by
    /// subscriber id and quota target. Usage of quotas that `new` no longer has is dropped.
    pub fn carry_over(new: &Policy, old: &Policy, old_ledger: &QuotaLedger) -> QuotaLedger {
        let ledger = QuotaLedger::for_policy(new);
        if old_ledger.policy_uid != old.uid {
            return ledger;
        }
        for sub in new.subscribers.iter() {
            let Some(new_profile) = new.profiles.get(usize::from(sub.profile)) else {
                continue;
            };
            if new_profile.quotas.is_empty() {
                continue;
            }
            let Some(old_sub) = old.subscriber_index(&sub.id).and_then(|i| old.listed(i)) else {
                continue;
            };
            let Some(old_profile) = old.profiles.get(usize::from(old_sub.profile)) else {
                continue;
            };
            for (qi, quota) in new_profile.quotas.iter().enumerate() {
                let Some(old_qi) = old_profile.quotas.iter().position(|q| q.same_target(quota))
                else {
                    continue;
                };
                let dst = ledger.slot(sub.quota_base, qi);
                let src = old_ledger.slot(old_sub.quota_base, old_qi);
                if let (Some(dst), Some(src)) = (dst, src) {
                    dst.copy_from(src);
                }
            }
        }
        ledger
    }

    fn slot(&self, base: u32, quota: usize) -> Option<&Slot> {
        let i = usize::try_from(base).ok()?.checked_add(quota)?;
        self.slots.get(i)
    }

    pub(crate) fn belongs_to(&self, policy: &Policy) -> bool {
        self.policy_uid == policy.uid
    }

    pub(crate) fn mark(&self, base: u32, quota: usize, day: u32, minute: u16) {
        if let Some(slot) = self.slot(base, quota) {
            slot.mark(day, minute);
        }
    }

    pub(crate) fn used(&self, base: u32, quota: usize, day: u32) -> u32 {
        self.slot(base, quota).map_or(0, |s| s.used(day))
    }

    /// Number of slots (for metrics and tests).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_counts_each_minute_once_and_resets_on_a_new_day() {
        let s = Slot::new();
        let day = 739_000;
        assert_eq!(s.used(day), 0);
        s.mark(day, 10);
        s.mark(day, 10);
        s.mark(day, 11);
        s.mark(day, 1439);
        assert_eq!(s.used(day), 3);
        // A mark from the past does not reset or count.
        s.mark(day - 1, 12);
        assert_eq!(s.used(day), 3);
        // Next day: old minutes gone.
        assert_eq!(s.used(day + 1), 0);
        s.mark(day + 1, 0);
        assert_eq!(s.used(day + 1), 1);
        assert_eq!(s.used(day), 0);
        // Out-of-range minutes are ignored, not a panic.
        s.mark(day + 1, u16::MAX);
        assert_eq!(s.used(day + 1), 1);
    }
}
