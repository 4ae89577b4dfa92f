//! A worker's flow table: flows in a slab (stable slot numbers, free slots reused), an
//! open-addressing index from key to slot (hashbrown's SwissTable, probed with the key's own
//! symmetric hash), and expiry by a hashed timer wheel of 1/8-second ticks in packet time.
//!
//! The wheel is lazy: a flow is filed under the tick of its deadline when it is created; when that
//! tick comes round, a flow that saw packets since is filed again under its new deadline, and
//! one that did not is expired. Nothing is scanned that is not due. A deadline that moves
//! earlier (a TCP connection that closes keeps the shorter closed timeout) is filed again at
//! once ([`FlowTable::refile`]).
//!
//! The entries of a tick that comes round are not all looked at by the packet that crossed it:
//! each costs a few cache misses (the flow has gone cold) and an expiry frees the flow's
//! buffers, so doing them all at once made that packet wait microseconds. They are judged as of
//! the time their tick came round, a few at a time by the packets that follow
//! ([`SETTLE_PER_PACKET`]), and all of them before the next tick's; a packet of a flow whose
//! entry still waits settles that entry first. So flows end exactly as if every due entry were
//! looked at on time, whatever the number of packets (and so of workers) in between.

use super::{EndReason, Flow, FlowKey, Timeouts};
use hashbrown::HashTable;

/// Most flow slots reserved up front (beyond it the slab grows as flows arrive): 16 M slots
/// are about 2 GiB of address space.
pub const RESERVE_MAX: usize = 16 << 20;

/// Ticks in the wheel: 4096 of 1/8 s span 512 s of packet time, longer than every default
/// timeout, before entries wrap around (a longer deadline is filed again when its bucket comes
/// round). Short ticks keep the flows that expire at once few: expiring one costs a few cache
/// misses (its state has gone cold), so a tick of one second made a packet wait for ~30 of them.
const WHEEL_TICKS: usize = 4096;
const TICK_NS: u64 = 125_000_000;

/// Due wheel entries looked at per packet (see the module documentation).
pub const SETTLE_PER_PACKET: usize = 2;
/// More due entries than this at once (after a gap in packet time, one turn of the wheel is
/// every flow) are all looked at by the packet that found them: finding a waiting entry would
/// otherwise mean scanning a long list.
const SETTLE_LATER_MAX: usize = 256;

/// A slot with a generation, so that a wheel entry for a slot since reused is recognised.
#[derive(Clone, Copy, Debug)]
struct WheelEntry {
    slot: u32,
    generation: u32,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    flow: Option<Flow>,
}

/// Flows owned by one worker.
#[derive(Debug)]
pub struct FlowTable {
    index: HashTable<u32>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    wheel: Vec<Vec<WheelEntry>>,
    /// Entries of ticks that came round, not looked at yet, from `settled` on; kept (and its
    /// capacity with it) so that expiry allocates nothing in steady state.
    due: Vec<WheelEntry>,
    settled: usize,
    /// Packet time when the entries in `due` came due: they are judged as of then.
    due_at_ns: u64,
    /// The next tick the wheel has not moved to `due` yet (`None` before the first packet).
    next_tick: Option<u64>,
    timeouts: Timeouts,
    serial: u32,
    live: usize,
    max_flows: usize,
}

/// What [`FlowTable::lookup_or_insert`] found.
pub enum Lookup {
    /// An existing flow.
    Found(u32),
    /// A flow created for this packet.
    Created(u32),
    /// The table is full; the packet is not tracked.
    Full,
}

impl FlowTable {
    /// A table that holds at most `max_flows` flows at once. The slab reserves room for all of
    /// them up front, up to [`RESERVE_MAX`] (address space only: memory is taken as flows
    /// arrive), so it does not grow by doubling and copying; the index, a tenth of the size,
    /// grows as needed.
    ///
    /// A reservation the allocator refuses (an address-space limit) is not made: the slab then
    /// grows as flows arrive. Callers check the cost first ([`FlowTable::reserved_bytes`],
    /// [`crate::engine::limits`]) so that the refusal is an error that names the setting.
    pub fn new(timeouts: Timeouts, max_flows: usize) -> FlowTable {
        let mut slots = Vec::new();
        if slots.try_reserve_exact(max_flows.min(RESERVE_MAX)).is_err() {
            slots = Vec::new();
        }
        FlowTable {
            index: HashTable::new(),
            slots,
            free: Vec::new(),
            wheel: (0..WHEEL_TICKS).map(|_| Vec::new()).collect(),
            due: Vec::new(),
            settled: 0,
            due_at_ns: 0,
            next_tick: None,
            timeouts,
            serial: 0,
            live: 0,
            max_flows,
        }
    }

    /// Bytes of address space a table for `max_flows` flows reserves when made: its slab (up
    /// to [`RESERVE_MAX`] slots) and the timer wheel's buckets.
    pub fn reserved_bytes(max_flows: usize) -> u64 {
        let slab = max_flows.min(RESERVE_MAX) * std::mem::size_of::<Slot>();
        let wheel = WHEEL_TICKS * std::mem::size_of::<Vec<WheelEntry>>();
        (slab + wheel) as u64
    }

    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// Flows alive now.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Bytes of flow state in use: the slab up to its high-water mark, an index entry per slab
    /// slot (a 4-byte slot number and a control byte at hashbrown's 7/8 load), the wheel
    /// ([`FlowTable::wheel_bytes`]), and the free list. Not counted: what flows point to (names,
    /// inspection buffers) and the address space reserved but never touched.
    pub fn memory_bytes(&self) -> usize {
        let index_entry = (std::mem::size_of::<u32>() + 1) * 8 / 7;
        self.slots.len() * (std::mem::size_of::<Slot>() + index_entry)
            + self.free.capacity() * 4
            + self.wheel_bytes()
    }

    /// Bytes of the timer wheel: each of its buckets keeps the room of the most entries it held
    /// at once, so with few flows this is most of the table's bytes (a few hundred KB), and with
    /// millions about 8 bytes a flow.
    pub fn wheel_bytes(&self) -> usize {
        (self.wheel.iter().map(|b| b.capacity()).sum::<usize>() + self.due.capacity())
            * std::mem::size_of::<WheelEntry>()
    }

    pub fn get(&self, slot: u32) -> Option<&Flow> {
        self.slots.get(slot as usize)?.flow.as_ref()
    }

    pub fn get_mut(&mut self, slot: u32) -> Option<&mut Flow> {
        self.slots.get_mut(slot as usize)?.flow.as_mut()
    }

    /// Finds the flow of `key` (whose hash is `hash`, from [`FlowKey::hash64`]), or creates it
    /// with `make(serial)` when absent. A flow found idle past its timeout whose wheel entry is
    /// due but not yet looked at is expired first (handed to `expired`), and a new one made.
    #[inline]
    pub fn lookup_or_insert(
        &mut self,
        key: &FlowKey,
        hash: u64,
        make: impl FnOnce(u32) -> Flow,
        expired: impl FnMut(Flow, EndReason),
    ) -> Lookup {
        let slots = &self.slots;
        if let Some(&slot) = self
            .index
            .find(hash, |&s| Self::key_at(slots, s) == Some(key))
        {
            if !self.expire_if_due(slot, expired) {
                return Lookup::Found(slot);
            }
        }
        if self.live >= self.max_flows {
            return Lookup::Full;
        }
        let flow = make(self.serial);
        self.serial = self.serial.wrapping_add(1);
        let deadline = flow.last_ts.saturating_add(flow.timeout_ns(&self.timeouts));
        let slot = match self.free.pop() {
            Some(slot) => {
                let s = &mut self.slots[slot as usize];
                s.generation = s.generation.wrapping_add(1);
                s.flow = Some(flow);
                slot
            }
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    flow: Some(flow),
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slots = &self.slots;
        self.index.insert_unique(hash, slot, |&s| {
            Self::key_at(slots, s).map_or(0, FlowKey::hash64)
        });
        self.live += 1;
        let generation = self.slots[slot as usize].generation;
        self.file(deadline, WheelEntry { slot, generation });
        Lookup::Created(slot)
    }

    fn key_at(slots: &[Slot], slot: u32) -> Option<&FlowKey> {
        slots.get(slot as usize)?.flow.as_ref().map(|f| &f.key)
    }

    /// Removes the flow in `slot` now (5-tuple reuse), returning it.
    pub fn remove(&mut self, slot: u32) -> Option<Flow> {
        let flow = self.slots.get_mut(slot as usize)?.flow.take()?;
        let hash = flow.key.hash64();
        if let Ok(entry) = self.index.find_entry(hash, |&s| s == slot) {
            entry.remove();
        }
        self.free.push(slot);
        self.live -= 1;
        Some(flow)
    }

    /// Files the flow in `slot` again under its deadline now, for a deadline that moved earlier
    /// than the one it is filed under: a TCP connection that closed is kept
    /// [`Timeouts::tcp_closed_s`], not the open one's timeout. The entry it was filed under
    /// stays, and finds the flow gone (or files it again) when it comes round.
    pub fn refile(&mut self, slot: u32) {
        let Some(s) = self.slots.get(slot as usize) else {
            return;
        };
        let Some(flow) = &s.flow else { return };
        let deadline = flow.last_ts.saturating_add(flow.timeout_ns(&self.timeouts));
        let entry = WheelEntry {
            slot,
            generation: s.generation,
        };
        self.file(deadline, entry);
    }

    fn file(&mut self, deadline_ns: u64, entry: WheelEntry) {
        let tick = deadline_ns.div_ceil(TICK_NS);
        // A deadline the wheel has already passed is due at the next tick it processes.
        let tick = self.next_tick.map_or(tick, |next| tick.max(next));
        self.wheel[(tick % WHEEL_TICKS as u64) as usize].push(entry);
    }

    /// Moves packet time to `now_ns`: the entries of every tick it reaches become due, and a
    /// few due entries are looked at (all of them when a new tick comes round): a flow idle past
    /// its timeout is removed and handed to `expired`, one that saw packets is filed again.
    /// Inline: most packets neither reach a new tick nor find an entry waiting.
    #[inline]
    pub fn advance(&mut self, now_ns: u64, mut expired: impl FnMut(Flow, EndReason)) {
        if self.next_tick.is_none_or(|tick| now_ns / TICK_NS >= tick) {
            self.reach_tick(now_ns, &mut expired);
        }
        if self.settled < self.due.len() {
            self.settle(SETTLE_PER_PACKET, &mut expired);
        }
    }

    /// [`FlowTable::advance`] at the first packet, or one that reached a tick not yet processed.
    fn reach_tick(&mut self, now_ns: u64, expired: &mut impl FnMut(Flow, EndReason)) {
        let now_tick = now_ns / TICK_NS;
        let Some(mut tick) = self.next_tick else {
            self.next_tick = Some(now_tick);
            return;
        };
        // The entries still waiting were due as of an earlier time: judge them first.
        self.settle(usize::MAX, expired);
        // After a long gap, one turn of the wheel visits every bucket.
        if now_tick - tick >= WHEEL_TICKS as u64 {
            tick = now_tick - (WHEEL_TICKS as u64 - 1);
        }
        for t in tick..=now_tick {
            let bucket = &mut self.wheel[(t % WHEEL_TICKS as u64) as usize];
            self.due.extend_from_slice(bucket);
            bucket.clear();
        }
        self.next_tick = Some(now_tick + 1);
        self.due_at_ns = now_ns;
        if self.due.len() > SETTLE_LATER_MAX {
            self.settle(usize::MAX, expired);
        }
    }

    /// Looks at up to `limit` due entries. Leaves either entries still to look at, or none at
    /// all (`due` emptied), so `settled < due.len()` says whether any wait.
    fn settle(&mut self, limit: usize, expired: &mut impl FnMut(Flow, EndReason)) {
        let end = self.due.len().min(self.settled.saturating_add(limit));
        while self.settled < end {
            let entry = self.due[self.settled];
            self.settled += 1;
            self.judge(entry, expired);
        }
        if self.settled == self.due.len() {
            self.due.clear();
            self.settled = 0;
            return;
        }
        // The flows the next packet settles have gone cold: start bringing them in now.
        for e in self.due[self.settled..].iter().take(limit) {
            if let Some(s) = self.slots.get(e.slot as usize) {
                crate::prefetch::prefetch(s);
            }
        }
    }

    /// Expires the flow of a due `entry` if it was idle past its timeout when the entry came
    /// due, or files it again under its new deadline. Returns whether it expired.
    fn judge(&mut self, entry: WheelEntry, expired: &mut impl FnMut(Flow, EndReason)) -> bool {
        let Some(s) = self.slots.get(entry.slot as usize) else {
            return false;
        };
        if s.generation != entry.generation {
            return false;
        }
        let Some(flow) = &s.flow else { return false };
        let deadline = flow.last_ts.saturating_add(flow.timeout_ns(&self.timeouts));
        if deadline > self.due_at_ns {
            self.file(deadline, entry);
            return false;
        }
        let Some(flow) = self.remove(entry.slot) else {
            return false;
        };
        let reason = if flow.is_closed() {
            EndReason::Closed
        } else {
            EndReason::Idle
        };
        expired(flow, reason);
        true
    }

    /// Settles the waiting due entry of the flow in `slot`, if it has one and the flow was
    /// already idle past its timeout then; returns whether the flow expired.
    #[inline]
    fn expire_if_due(&mut self, slot: u32, expired: impl FnMut(Flow, EndReason)) -> bool {
        // Most packets come when no entry waits: no call for them.
        self.settled < self.due.len() && self.expire_if_waiting(slot, expired)
    }

    /// [`FlowTable::expire_if_due`] when some due entries wait.
    fn expire_if_waiting(&mut self, slot: u32, mut expired: impl FnMut(Flow, EndReason)) -> bool {
        // Only a flow idle past its deadline can have expired; most packets stop here.
        let Some(flow) = self.get(slot) else {
            return false;
        };
        if flow.last_ts.saturating_add(flow.timeout_ns(&self.timeouts)) > self.due_at_ns {
            return false;
        }
        let generation = self.slots[slot as usize].generation;
        let waiting = &mut self.due[self.settled..];
        let Some(entry) = waiting
            .iter_mut()
            .find(|e| e.slot == slot && e.generation == generation)
        else {
            return false;
        };
        let found = *entry;
        // Looked at now: the list keeps a dead entry in its place.
        entry.slot = u32::MAX;
        self.judge(found, &mut expired)
    }

    /// Looks at every due entry now (before the end of input).
    pub fn settle_all(&mut self, mut expired: impl FnMut(Flow, EndReason)) {
        self.settle(usize::MAX, &mut expired);
    }

    /// Removes every flow (end of input), in creation order; [`FlowTable::settle_all`] first
    /// ends those already due. Only a list of (serial, slot)
    /// pairs is sorted: the flows stay where they are until handed out.
    pub fn drain(&mut self, mut each: impl FnMut(Flow)) {
        let mut order: Vec<(u32, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.flow.as_ref().map(|f| (f.serial, i as u32)))
            .collect();
        order.sort_unstable();
        for (_, slot) in order {
            if let Some(flow) = self
                .slots
                .get_mut(slot as usize)
                .and_then(|s| s.flow.take())
            {
                each(flow);
            }
        }
        self.index.clear();
        self.free.clear();
        self.slots.clear();
        for bucket in &mut self.wheel {
            bucket.clear();
        }
        self.due.clear();
        self.settled = 0;
        self.live = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Packet, L4};
    use crate::flow::Direction;

    const S: u64 = 1_000_000_000;

    fn key(port: u16, l4: L4) -> FlowKey {
        let p = Packet {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            l4,
            src_port: port,
            dst_port: 443,
            seq: 0,
            flags: 0,
            payload: &[],
            teid: None,
        };
        FlowKey::of(&p).0
    }

    fn flow(key: FlowKey, serial: u32, ts: u64) -> Flow {
        Flow::new(key, Direction::LoHi, serial, ts)
    }

    fn insert(t: &mut FlowTable, k: FlowKey, ts: u64) -> u32 {
        match t.lookup_or_insert(&k, k.hash64(), |serial| flow(k, serial, ts), |_, _| {}) {
            Lookup::Created(s) | Lookup::Found(s) => s,
            Lookup::Full => panic!("full"),
        }
    }

    #[test]
    fn lookup_finds_what_was_inserted() {
        let mut t = FlowTable::new(Timeouts::default(), 100);
        let k = key(1000, L4::Tcp);
        let s = insert(&mut t, k, 0);
        assert!(
            matches!(t.lookup_or_insert(&k, k.hash64(), |_| unreachable!(), |_, _| {}), Lookup::Found(x) if x == s)
        );
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn idle_udp_flow_expires_and_active_one_stays() {
        let timeouts = Timeouts {
            udp_idle_s: 10,
            ..Timeouts::default()
        };
        let mut t = FlowTable::new(timeouts, 100);
        let idle = key(1, L4::Udp);
        let busy = key(2, L4::Udp);
        t.advance(0, |_, _| {});
        insert(&mut t, idle, 0);
        let b = insert(&mut t, busy, 0);
        let mut gone = Vec::new();
        for sec in 1..=25u64 {
            t.get_mut(b).unwrap().last_ts = sec * S;
            t.advance(sec * S, |f, r| gone.push((f.key, r, sec)));
        }
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].0, idle);
        assert_eq!(gone[0].1, EndReason::Idle);
        assert_eq!(gone[0].2, 10);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn closed_connection_ends_after_the_closed_timeout_once_refiled() {
        let timeouts = Timeouts {
            tcp_idle_s: 300,
            tcp_closed_s: 10,
            ..Timeouts::default()
        };
        let mut t = FlowTable::new(timeouts, 100);
        let (closed, open) = (key(1, L4::Tcp), key(2, L4::Tcp));
        t.advance(0, |_, _| {});
        let c = insert(&mut t, closed, 0);
        insert(&mut t, open, 0);
        // Both FINs at 5 s: filed under 300 s when created, now due 10 s after the close.
        let f = t.get_mut(c).unwrap();
        f.tcp = crate::flow::tcp_state::FIN_C2S | crate::flow::tcp_state::FIN_S2C;
        f.last_ts = 5 * S;
        t.refile(c);
        let mut gone = Vec::new();
        for tenth in 1..=3200u64 {
            t.advance(tenth * S / 10, |f, r| gone.push((f.key, r, tenth)));
        }
        assert_eq!(gone.len(), 2, "{gone:?}");
        assert_eq!((gone[0].0, gone[0].1), (closed, EndReason::Closed));
        assert!(
            (150..=152).contains(&gone[0].2),
            "closed at 5 s, gone at {}",
            gone[0].2
        );
        // The entry it was first filed under finds it gone; the open flow ends at 300 s.
        assert_eq!((gone[1].0, gone[1].1), (open, EndReason::Idle));
        assert!((3000..=3002).contains(&gone[1].2), "{}", gone[1].2);
        assert!(t.is_empty());
    }

    #[test]
    fn an_absurd_limit_reserves_no_more_than_the_cap() {
        let t = FlowTable::new(Timeouts::default(), usize::MAX);
        assert!(t.slots.capacity() <= RESERVE_MAX);
    }

    #[test]
    fn full_table_refuses_new_flows() {
        let mut t = FlowTable::new(Timeouts::default(), 1);
        insert(&mut t, key(1, L4::Tcp), 0);
        let k = key(2, L4::Tcp);
        assert!(matches!(
            t.lookup_or_insert(&k, k.hash64(), |s| flow(k, s, 0), |_, _| {}),
            Lookup::Full
        ));
    }

    #[test]
    fn removed_slot_is_reused_and_stale_wheel_entry_ignored() {
        let timeouts = Timeouts {
            udp_idle_s: 5,
            ..Timeouts::default()
        };
        let mut t = FlowTable::new(timeouts, 10);
        t.advance(0, |_, _| {});
        let a = insert(&mut t, key(1, L4::Udp), 0);
        t.remove(a);
        let b = insert(&mut t, key(2, L4::Udp), 4 * S);
        assert_eq!(a, b);
        let mut gone = Vec::new();
        t.advance(6 * S, |f, _| gone.push(f.key));
        assert!(
            gone.is_empty(),
            "the old entry must not expire the new flow"
        );
        t.advance(9 * S, |f, _| gone.push(f.key));
        assert_eq!(gone, vec![key(2, L4::Udp)]);
    }

    #[test]
    fn long_gap_expires_everything_once() {
        let mut t = FlowTable::new(Timeouts::default(), 10);
        t.advance(0, |_, _| {});
        for p in 0..5 {
            insert(&mut t, key(p, L4::Tcp), 0);
        }
        let mut n = 0;
        t.advance(100_000 * S, |_, _| n += 1);
        t.settle_all(|_, _| n += 1);
        assert_eq!(n, 5);
        assert!(t.is_empty());
        let many = SETTLE_LATER_MAX as u16 + 1;
        let mut t = FlowTable::new(Timeouts::default(), 1000);
        t.advance(0, |_, _| {});
        for p in 0..many {
            insert(&mut t, key(p, L4::Tcp), 0);
        }
        let mut n = 0;
        t.advance(100_000 * S, |_, _| n += 1);
        assert_eq!(n, usize::from(many), "a long list is settled at once");
    }

    /// Ten idle flows and one busy one, due at the same tick.
    fn table_with_a_due_tick() -> (FlowTable, Vec<FlowKey>, FlowKey) {
        let timeouts = Timeouts {
            udp_idle_s: 10,
            ..Timeouts::default()
        };
        let mut t = FlowTable::new(timeouts, 100);
        t.advance(0, |_, _| {});
        let idle: Vec<FlowKey> = (1..=10).map(|p| key(p, L4::Udp)).collect();
        for &k in &idle {
            insert(&mut t, k, 0);
        }
        let busy = key(100, L4::Udp);
        let b = insert(&mut t, busy, 0);
        t.get_mut(b).unwrap().last_ts = 5 * S;
        (t, idle, busy)
    }

    #[test]
    fn a_due_tick_is_settled_a_few_entries_per_packet() {
        let (mut t, idle, busy) = table_with_a_due_tick();
        let mut gone = Vec::new();
        t.advance(10 * S, |f, r| gone.push((f.key, r)));
        assert_eq!(gone.len(), SETTLE_PER_PACKET);
        for _ in 0..10 {
            t.advance(10 * S + 1, |f, r| gone.push((f.key, r)));
        }
        assert_eq!(gone.len(), idle.len());
        assert!(gone
            .iter()
            .all(|&(k, r)| idle.contains(&k) && r == EndReason::Idle));
        assert_eq!(t.len(), 1, "the busy flow was filed again");
        // The busy flow's new deadline (15 s) comes round in its own time.
        t.advance(15 * S, |f, _| gone.push((f.key, EndReason::Idle)));
        assert_eq!(gone.last().map(|g| g.0), Some(busy));
    }

    #[test]
    fn a_packet_of_a_waiting_idle_flow_ends_it_first() {
        let (mut t, idle, busy) = table_with_a_due_tick();
        let mut gone = Vec::new();
        t.advance(10 * S, |f, r| gone.push((f.key, r)));
        // The last idle flow's entry still waits; its packet must not revive it.
        let late = idle[9];
        let made = t.lookup_or_insert(
            &late,
            late.hash64(),
            |serial| flow(late, serial, 10 * S),
            |f, r| gone.push((f.key, r)),
        );
        assert!(matches!(made, Lookup::Created(_)));
        assert_eq!(gone.last(), Some(&(late, EndReason::Idle)));
        // A busy flow whose entry waits is found as it is.
        let found = t.lookup_or_insert(&busy, busy.hash64(), |_| unreachable!(), |_, _| {});
        assert!(matches!(found, Lookup::Found(_)));
        t.settle_all(|f, r| gone.push((f.key, r)));
        assert_eq!(gone.len(), idle.len());
        assert_eq!(t.len(), 2, "the busy flow and the new one");
    }

    #[test]
    fn drain_returns_flows_in_creation_order() {
        let mut t = FlowTable::new(Timeouts::default(), 10);
        for p in [5, 3, 9] {
            insert(&mut t, key(p, L4::Tcp), 0);
        }
        let mut serials = Vec::new();
        t.drain(|f| serials.push(f.serial));
        assert_eq!(serials, vec![0, 1, 2]);
    }
}
