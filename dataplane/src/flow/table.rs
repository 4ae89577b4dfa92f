//! A worker's flow table: flows in a slab (stable slot numbers, free slots reused), an
//! open-addressing index from key to slot (hashbrown's SwissTable, probed with the key's own
//! symmetric hash), and expiry by a hashed timer wheel of 1/8-second ticks in packet time.
//!
//! The wheel is lazy: a flow is filed under the tick of its deadline when it is created; when that
//! tick comes round, a flow that saw packets since is filed again under its new deadline, and
//! one that did not is expired. Nothing is scanned that is not due, and a packet costs no wheel
//! work at all.

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
    /// Spare vector swapped with the due bucket, so expiry allocates nothing in steady state.
    spare: Vec<WheelEntry>,
    /// The next tick the wheel has not processed yet (`None` before the first packet).
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
    pub fn new(timeouts: Timeouts, max_flows: usize) -> FlowTable {
        FlowTable {
            index: HashTable::new(),
            slots: Vec::with_capacity(max_flows.min(RESERVE_MAX)),
            free: Vec::new(),
            wheel: (0..WHEEL_TICKS).map(|_| Vec::new()).collect(),
            spare: Vec::new(),
            next_tick: None,
            timeouts,
            serial: 0,
            live: 0,
            max_flows,
        }
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

    /// Bytes held by the table's own structures (slab, index, wheel), not counting what flows
    /// Bytes of flow state in use: the slab up to its high-water mark, an index entry per slab
    /// slot (a 4-byte slot number and a control byte at hashbrown's 7/8 load), the wheel, and
    /// the free list. Not counted: what flows point to (names, inspection buffers) and the
    /// address space reserved but never touched.
    pub fn memory_bytes(&self) -> usize {
        let index_entry = (std::mem::size_of::<u32>() + 1) * 8 / 7;
        self.slots.len() * (std::mem::size_of::<Slot>() + index_entry)
            + self.free.capacity() * 4
            + self.wheel.iter().map(|b| b.capacity()).sum::<usize>()
                * std::mem::size_of::<WheelEntry>()
    }

    pub fn get(&self, slot: u32) -> Option<&Flow> {
        self.slots.get(slot as usize)?.flow.as_ref()
    }

    pub fn get_mut(&mut self, slot: u32) -> Option<&mut Flow> {
        self.slots.get_mut(slot as usize)?.flow.as_mut()
    }

    /// Finds the flow of `key` (whose hash is `hash`, from [`FlowKey::hash64`]), or creates it
    /// with `make(serial)` when absent.
    pub fn lookup_or_insert(
        &mut self,
        key: &FlowKey,
        hash: u64,
        make: impl FnOnce(u32) -> Flow,
    ) -> Lookup {
        let slots = &self.slots;
        if let Some(&slot) = self
            .index
            .find(hash, |&s| Self::key_at(slots, s) == Some(key))
        {
            return Lookup::Found(slot);
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

    fn file(&mut self, deadline_ns: u64, entry: WheelEntry) {
        let tick = deadline_ns.div_ceil(TICK_NS);
        // A deadline the wheel has already passed is due at the next tick it processes.
        let tick = self.next_tick.map_or(tick, |next| tick.max(next));
        self.wheel[(tick % WHEEL_TICKS as u64) as usize].push(entry);
    }

    /// Moves packet time to `now_ns`: every flow idle past its timeout is removed and handed to
    /// `expired`.
    pub fn advance(&mut self, now_ns: u64, mut expired: impl FnMut(Flow, EndReason)) {
        let now_tick = now_ns / TICK_NS;
        let Some(mut tick) = self.next_tick else {
            self.next_tick = Some(now_tick);
            return;
        };
        if now_tick < tick {
            return;
        }
        // After a long gap, one turn of the wheel visits every bucket.
        if now_tick - tick >= WHEEL_TICKS as u64 {
            tick = now_tick - (WHEEL_TICKS as u64 - 1);
        }
        while tick <= now_tick {
            self.next_tick = Some(tick + 1);
            let bucket = (tick % WHEEL_TICKS as u64) as usize;
            let mut due =
                std::mem::replace(&mut self.wheel[bucket], std::mem::take(&mut self.spare));
            for entry in due.drain(..) {
                let Some(s) = self.slots.get(entry.slot as usize) else {
                    continue;
                };
                if s.generation != entry.generation {
                    continue;
                }
                let Some(flow) = &s.flow else { continue };
                let deadline = flow.last_ts.saturating_add(flow.timeout_ns(&self.timeouts));
                if deadline <= now_ns {
                    if let Some(flow) = self.remove(entry.slot) {
                        let reason = if flow.is_closed() {
                            EndReason::Closed
                        } else {
                            EndReason::Idle
                        };
                        expired(flow, reason);
                    }
                } else {
                    self.file(deadline, entry);
                }
            }
            self.spare = due;
            tick += 1;
        }
    }

    /// Removes every flow (end of input), in creation order. Only a list of (serial, slot)
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
        match t.lookup_or_insert(&k, k.hash64(), |serial| flow(k, serial, ts)) {
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
            matches!(t.lookup_or_insert(&k, k.hash64(), |_| unreachable!()), Lookup::Found(x) if x == s)
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
            t.lookup_or_insert(&k, k.hash64(), |s| flow(k, s, 0)),
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
        assert_eq!(n, 5);
        assert!(t.is_empty());
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
