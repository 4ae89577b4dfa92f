//! The one wrapper around the CPU's prefetch instruction: a hint to bring memory into cache ahead
//! of use, where the next address is known before the data is needed (the capture ahead of its
//! reader, the flow a due timer entry names). On targets without one it does nothing.

#![allow(unsafe_code)]

/// Bytes in a cache line.
const LINE: usize = 64;

/// Asks the CPU to bring every cache line of `*value` into every cache level. Only a hint: it
/// reads nothing into the program and never faults.
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = (value as *const T).cast::<i8>();
        let skew = start as usize % LINE;
        let mut offset = 0;
        while offset < skew + std::mem::size_of::<T>() {
            // SAFETY: a prefetch never faults and has no effect the program can observe; the
            // address is within a line of a live reference.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_sub(skew).wrapping_add(offset)) };
            offset += LINE;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
