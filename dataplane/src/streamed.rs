//! The one owner of non-temporal stores: a vector filled on one thread for another
//! ([`Streamed`]), written with stores that go to memory without first fetching each cache line
//! into the writer's cache.
//!
//! The dispatcher hands packets to a worker thread in batches, and the batches come back for
//! reuse. An ordinary store to a batch the worker has read must first take the line back from
//! the worker's cache (a read for ownership): the dispatcher's stores wait behind those
//! transfers, and the loads behind its stores with them. With non-temporal stores (`movnti`)
//! nothing is fetched; the worker reads the batch from memory, in order, where the hardware
//! prefetcher keeps ahead of it. Two workers replayed the benchmark capture 4-10 % faster, and
//! in the host's spells of slow transfers between cores took 0.12-0.15 s where they had taken
//! 0.19-0.23 (benches/README.md).
//!
//! # Why this is sound
//!
//! - [`Streamed::push`] copies the value's bytes into the vector's spare capacity with an
//!   assembly loop, an untyped copy like `ptr::copy_nonoverlapping` (padding bytes included,
//!   which is why it is assembly: a Rust load of them would read uninitialised memory), then
//!   forgets the value and counts the slot: the value moved, bit for bit.
//! - Non-temporal stores are weakly ordered: another thread may see them after later ordinary
//!   stores, such as the one that hands the vector over. So a [`Streamed`] cannot leave its
//!   thread (it is neither `Send` nor `Sync`): [`Streamed::publish`] fences (`sfence`, after
//!   which every earlier store is visible before any later one) and only then gives the
//!   vector out. The writing thread itself always sees its own stores in order.
//!
//! Elsewhere than x86-64, and for types whose size is not a whole number of 8-byte words, a
//! push is an ordinary push.

#![allow(unsafe_code)]

use std::marker::PhantomData;

/// A vector being filled with non-temporal stores; see the module documentation.
pub(crate) struct Streamed<T> {
    items: Vec<T>,
    /// Neither `Send` nor `Sync`: its stores are fenced only when it is published.
    not_send: PhantomData<*const ()>,
}

impl<T> Streamed<T> {
    /// Fills `items` (reused: kept as it is, with its capacity).
    pub(crate) fn new(items: Vec<T>) -> Streamed<T> {
        Streamed {
            items,
            not_send: PhantomData,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Appends `value`.
    #[inline]
    pub(crate) fn push(&mut self, value: T) {
        #[cfg(target_arch = "x86_64")]
        if std::mem::size_of::<T>().is_multiple_of(8) && std::mem::size_of::<T>() > 0 {
            self.items.reserve(1);
            let len = self.items.len();
            let words = std::mem::size_of::<T>() / 8;
            // SAFETY: `reserve` made room for one more element, so `dst` and the
            // `size_of::<T>()` bytes after it lie in the vector's allocation, unused; `src` is
            // the whole of `value`, which lives until it is forgotten below. The loop copies
            // `words` 8-byte words from `src` to `dst` (neither `mov` nor `movnti` needs them
            // aligned) and touches nothing else: no stack, and only the registers named.
            unsafe {
                let dst = self.items.as_mut_ptr().add(len).cast::<u64>();
                let src = (&value as *const T).cast::<u64>();
                std::arch::asm!(
                    "2:",
                    "mov {tmp}, qword ptr [{src}]",
                    "movnti qword ptr [{dst}], {tmp}",
                    "add {src}, 8",
                    "add {dst}, 8",
                    "sub {n}, 1",
                    "jnz 2b",
                    src = inout(reg) src => _,
                    dst = inout(reg) dst => _,
                    n = inout(reg) words => _,
                    tmp = out(reg) _,
                    options(nostack),
                );
            }
            // The value now lives in the vector, moved bit for bit.
            std::mem::forget(value);
            // SAFETY: the slot at `len` holds a copy of every byte of a valid `T`, and the
            // capacity covers it.
            unsafe { self.items.set_len(len + 1) };
            return;
        }
        self.items.push(value);
    }

    /// Makes every store so far visible to other threads before any store that follows, and
    /// gives the vector out (leaving an empty one without capacity).
    pub(crate) fn publish(&mut self) -> Vec<T> {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `sfence` only orders stores; SSE is part of every x86-64 CPU.
        unsafe {
            std::arch::x86_64::_mm_sfence();
        }
        std::mem::take(&mut self.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};

    static DROPPED: AtomicUsize = AtomicUsize::new(0);

    /// Seven bytes of padding after `tag`, an owned heap value, and 32 bytes in all.
    #[derive(Debug)]
    struct Padded {
        tag: u8,
        value: u64,
        owned: Option<Box<[u8]>>,
    }

    impl Drop for Padded {
        fn drop(&mut self) {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn streamed_values_read_back_whole_and_are_dropped_once() {
        assert_eq!(std::mem::size_of::<Padded>(), 32);
        let mut s = Streamed::new(Vec::with_capacity(2));
        for i in 0..1000u64 {
            s.push(Padded {
                tag: i as u8,
                value: i * 3,
                owned: i
                    .is_multiple_of(3)
                    .then(|| vec![i as u8; (i % 50) as usize].into()),
            });
        }
        assert_eq!(s.len(), 1000);
        let items = s.publish();
        assert!(s.is_empty());
        for (i, p) in items.iter().enumerate() {
            let i = i as u64;
            assert_eq!(p.tag, i as u8);
            assert_eq!(p.value, i * 3);
            assert_eq!(
                p.owned.as_deref(),
                i.is_multiple_of(3)
                    .then(|| vec![i as u8; (i % 50) as usize])
                    .as_deref()
            );
        }
        // Read and dropped on another thread, as the engine's workers do.
        let owned = std::thread::spawn(move || items.iter().filter(|p| p.owned.is_some()).count())
            .join()
            .expect("reader");
        assert_eq!(owned, 334);
        assert_eq!(
            DROPPED.load(Ordering::Relaxed),
            1000,
            "each value dropped once"
        );
    }

    #[test]
    fn odd_sized_values_are_pushed_the_ordinary_way() {
        let mut s = Streamed::new(Vec::new());
        for i in 0..100u8 {
            s.push([i, i, i]);
        }
        let items = s.publish();
        assert_eq!(items.len(), 100);
        assert!(items.iter().enumerate().all(|(i, v)| *v == [i as u8; 3]));
    }
}
