//! A compact set of domain names for exact and label-boundary suffix lookups.
//!
//! Built for large category lists (a million names in well under 100 MB): every name is stored
//! once, lower-cased, in one byte arena; an entry holds its offset, its length and two values,
//! one for the name itself and one for its proper subdomains; an open-addressing table of
//! `(hash tag, entry index)` slots finds entries with linear probing.
//!
//! The hash is computed over the name from its LAST byte to its first, folding ASCII case as it
//! goes. A lookup therefore walks the queried name once, right to left, and at every dot already
//! holds the hash of the suffix to its right: one probe per label, no allocation, no copy, and
//! no lower-casing of the query (the compare folds case too).
//!
//! What it does not do: wildcards inside a name, IDNA conversion (names are compared as bytes;
//! `xn--` forms are just bytes), or removal.

/// The value stored for "no value".
pub const NONE: u32 = u32::MAX;

/// Marks an empty slot.
const EMPTY: u32 = u32::MAX;

/// Multipliers of the rolling hash and of the final mix (odd 64-bit constants).
const ROLL: u64 = 0x51_7c_c1_b7_27_22_0a_95;
const MIX: u64 = 0x9e_37_79_b9_7f_4a_7c_15;

/// Longest name a set accepts (RFC 1035 section 2.3.4 limits a name to 255 octets on the wire,
/// 253 in text form).
pub const MAX_NAME_LEN: usize = 253;

/// The table is grown when more than 3/4 of its slots are full.
const MAX_LOAD_NUM: usize = 3;
const MAX_LOAD_DEN: usize = 4;

#[derive(Clone, Copy, Debug)]
struct Entry {
    start: u32,
    len: u16,
    /// Value for the name itself.
    exact: u32,
    /// Value for every proper subdomain of the name.
    sub: u32,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    tag: u32,
    entry: u32,
}

const EMPTY_SLOT: Slot = Slot {
    tag: 0,
    entry: EMPTY,
};

/// Why a name could not be inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InsertError {
    #[error("empty name")]
    Empty,
    #[error("name longer than {MAX_NAME_LEN} bytes")]
    TooLong,
    #[error("the set is full (4 GiB of names or 2^32 entries)")]
    Full,
}

/// Which of an entry's two values an insert sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cover {
    /// The name itself only (`=example.com`).
    Exact,
    /// Proper subdomains only (`*.example.com`).
    Subdomains,
    /// The name and its subdomains (`example.com`).
    Both,
}

/// A set of lower-case domain names, each with a value for the name and one for its subdomains.
#[derive(Clone, Debug, Default)]
pub struct DomainSet {
    arena: Vec<u8>,
    entries: Vec<Entry>,
    slots: Vec<Slot>,
    /// `64 - log2(slots.len())`, used to take the table index from the hash's high bits.
    shift: u32,
}

#[inline]
fn lower(b: u8) -> u8 {
    b.to_ascii_lowercase()
}

#[inline]
fn roll(h: u64, b: u8) -> u64 {
    (h.rotate_left(5) ^ u64::from(lower(b))).wrapping_mul(ROLL)
}

#[inline]
fn mix(h: u64) -> u64 {
    let h = h ^ (h >> 31);
    h.wrapping_mul(MIX)
}

/// The hash of a whole name (case-folded), the same as a lookup computes at its left end.
fn hash_name(name: &[u8]) -> u64 {
    name.iter().rev().fold(0u64, |h, &b| roll(h, b))
}

impl DomainSet {
    pub fn new() -> DomainSet {
        DomainSet::with_capacity(0)
    }

    /// A set with room for `names` entries before it grows.
    pub fn with_capacity(names: usize) -> DomainSet {
        let wanted = names.saturating_mul(MAX_LOAD_DEN) / MAX_LOAD_NUM + 1;
        let slots = wanted
            .max(16)
            .checked_next_power_of_two()
            .unwrap_or(1 << 31);
        DomainSet {
            arena: Vec::new(),
            entries: Vec::with_capacity(names),
            slots: vec![EMPTY_SLOT; slots],
            shift: 64 - slots.trailing_zeros(),
        }
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of heap memory held (arena, entries and slots, counted by capacity).
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity()
            + self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.slots.capacity() * std::mem::size_of::<Slot>()
    }

    /// Release spare capacity (after loading a list).
    pub fn shrink_to_fit(&mut self) {
        self.arena.shrink_to_fit();
        self.entries.shrink_to_fit();
    }

    #[inline]
    fn index(&self, mixed: u64) -> usize {
        // `shift` is in 33..=60 for any table this type builds, so the result fits the table.
        (mixed >> self.shift) as usize
    }

    #[inline]
    fn name_of(&self, e: &Entry) -> &[u8] {
        let start = e.start as usize;
        self.arena
            .get(start..start + usize::from(e.len))
            .unwrap_or_default()
    }

    /// The entry index holding `name` (compared case-insensitively), given its rolling hash.
    #[inline]
    fn find(&self, name: &[u8], h: u64) -> Option<usize> {
        let mixed = mix(h);
        let tag = mixed as u32;
        let mask = self.slots.len() - 1;
        let mut i = self.index(mixed);
        loop {
            let slot = self.slots.get(i)?;
            if slot.entry == EMPTY {
                return None;
            }
            if slot.tag == tag {
                let e = self.entries.get(slot.entry as usize)?;
                if self.name_of(e).eq_ignore_ascii_case(name) {
                    return Some(slot.entry as usize);
                }
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let new_len = (self.slots.len() * 2).max(16);
        self.slots = vec![EMPTY_SLOT; new_len];
        self.shift = 64 - new_len.trailing_zeros();
        let mask = new_len - 1;
        for (idx, e) in self.entries.iter().enumerate() {
            let start = e.start as usize;
            let name = self
                .arena
                .get(start..start + usize::from(e.len))
                .unwrap_or_default();
            let mixed = mix(hash_name(name));
            let mut i = (mixed >> self.shift) as usize;
            while self.slots.get(i).is_some_and(|s| s.entry != EMPTY) {
                i = (i + 1) & mask;
            }
            if let Some(s) = self.slots.get_mut(i) {
                *s = Slot {
                    tag: mixed as u32,
                    entry: idx as u32,
                };
            }
        }
    }

    /// Insert `name` (ASCII case is folded; one trailing dot is dropped) with `value` for what
    /// `cover` says. A value already set for the same name and cover is kept (first wins); the
    /// return says whether anything was set.
    pub fn insert(&mut self, name: &str, cover: Cover, value: u32) -> Result<bool, InsertError> {
        let name = name.strip_suffix('.').unwrap_or(name).as_bytes();
        if name.is_empty() {
            return Err(InsertError::Empty);
        }
        if name.len() > MAX_NAME_LEN {
            return Err(InsertError::TooLong);
        }
        let h = hash_name(name);
        let idx = match self.find(name, h) {
            Some(idx) => idx,
            None => {
                if self.entries.len() >= (EMPTY - 1) as usize {
                    return Err(InsertError::Full);
                }
                let start = u32::try_from(self.arena.len()).map_err(|_| InsertError::Full)?;
                if u32::try_from(self.arena.len() + name.len()).is_err() {
                    return Err(InsertError::Full);
                }
                if (self.entries.len() + 1) * MAX_LOAD_DEN > self.slots.len() * MAX_LOAD_NUM {
                    self.grow();
                }
                self.arena.extend(name.iter().map(|&b| lower(b)));
                let idx = self.entries.len();
                self.entries.push(Entry {
                    start,
                    len: name.len() as u16,
                    exact: NONE,
                    sub: NONE,
                });
                let mixed = mix(h);
                let mask = self.slots.len() - 1;
                let mut i = self.index(mixed);
                while self.slots.get(i).is_some_and(|s| s.entry != EMPTY) {
                    i = (i + 1) & mask;
                }
                if let Some(s) = self.slots.get_mut(i) {
                    *s = Slot {
                        tag: mixed as u32,
                        entry: idx as u32,
                    };
                }
                idx
            }
        };
        let Some(e) = self.entries.get_mut(idx) else {
            return Ok(false);
        };
        let mut set = false;
        if matches!(cover, Cover::Exact | Cover::Both) && e.exact == NONE {
            e.exact = value;
            set = true;
        }
        if matches!(cover, Cover::Subdomains | Cover::Both) && e.sub == NONE {
            e.sub = value;
            set = true;
        }
        Ok(set)
    }

    /// The value for `name`: the name's own value if it has one, else the subdomain value of
    /// its longest stored suffix on a label boundary. Case-insensitive; one trailing dot is
    /// ignored. No allocation.
    pub fn lookup(&self, name: &str) -> Option<u32> {
        let name = name.strip_suffix('.').unwrap_or(name).as_bytes();
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return None;
        }
        let mut best = NONE;
        let mut h = 0u64;
        for i in (0..name.len()).rev() {
            let b = name.get(i).copied().unwrap_or(0);
            if b == b'.' {
                // `h` is the hash of name[i + 1..], a suffix on a label boundary.
                if let Some(suffix) = name.get(i + 1..) {
                    if !suffix.is_empty() {
                        if let Some(e) = self.find(suffix, h).and_then(|x| self.entries.get(x)) {
                            if e.sub != NONE {
                                best = e.sub; // later hits are longer suffixes
                            }
                        }
                    }
                }
            }
            h = roll(h, b);
        }
        if let Some(e) = self.find(name, h).and_then(|x| self.entries.get(x)) {
            if e.exact != NONE {
                return Some(e.exact);
            }
        }
        (best != NONE).then_some(best)
    }

    /// Every stored name with its two values (`NONE` where unset), in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u32, u32)> + '_ {
        self.entries.iter().map(move |e| {
            let name = std::str::from_utf8(self.name_of(e)).unwrap_or("");
            (name, e.exact, e.sub)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[(&str, Cover, u32)]) -> DomainSet {
        let mut s = DomainSet::new();
        for &(n, c, v) in items {
            s.insert(n, c, v).unwrap();
        }
        s
    }

    #[test]
    fn suffix_matches_only_on_label_boundaries() {
        let s = set(&[("ws.amazon.com", Cover::Both, 1)]);
        assert_eq!(s.lookup("a.ws.amazon.com"), Some(1));
        assert_eq!(s.lookup("ws.amazon.com"), Some(1));
        assert_eq!(s.lookup("aws.amazon.com"), None);
        assert_eq!(s.lookup("amazon.com"), None);
    }

    #[test]
    fn exact_subdomain_and_both_covers_differ() {
        let s = set(&[
            ("exact.test", Cover::Exact, 1),
            ("sub.test", Cover::Subdomains, 2),
            ("both.test", Cover::Both, 3),
        ]);
        assert_eq!(s.lookup("exact.test"), Some(1));
        assert_eq!(s.lookup("x.exact.test"), None);
        assert_eq!(s.lookup("sub.test"), None);
        assert_eq!(s.lookup("x.sub.test"), Some(2));
        assert_eq!(s.lookup("both.test"), Some(3));
        assert_eq!(s.lookup("a.b.both.test"), Some(3));
    }

    #[test]
    fn longest_suffix_wins_and_exact_beats_suffix() {
        let s = set(&[
            ("com", Cover::Both, 1),
            ("amazon.com", Cover::Both, 2),
            ("ws.amazon.com", Cover::Both, 3),
            ("x.ws.amazon.com", Cover::Exact, 4),
        ]);
        assert_eq!(s.lookup("y.ws.amazon.com"), Some(3));
        assert_eq!(s.lookup("x.ws.amazon.com"), Some(4));
        assert_eq!(s.lookup("z.x.ws.amazon.com"), Some(3));
        assert_eq!(s.lookup("shop.amazon.com"), Some(2));
        assert_eq!(s.lookup("other.com"), Some(1));
    }

    #[test]
    fn lookup_folds_case_and_trailing_dot() {
        let s = set(&[("TikTok.com", Cover::Both, 7)]);
        assert_eq!(s.lookup("WWW.TIKTOK.COM"), Some(7));
        assert_eq!(s.lookup("www.tiktok.com."), Some(7));
        assert_eq!(s.iter().next().map(|(n, _, _)| n), Some("tiktok.com"));
    }

    #[test]
    fn first_value_wins_per_cover() {
        let mut s = DomainSet::new();
        assert_eq!(s.insert("a.test", Cover::Exact, 1), Ok(true));
        assert_eq!(s.insert("a.test", Cover::Both, 2), Ok(true));
        assert_eq!(s.insert("a.test", Cover::Both, 3), Ok(false));
        assert_eq!(s.lookup("a.test"), Some(1));
        assert_eq!(s.lookup("b.a.test"), Some(2));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn odd_names_do_not_panic() {
        let s = set(&[("a.test", Cover::Both, 1)]);
        for n in [
            "",
            ".",
            "..",
            "...a.test",
            ".a.test",
            "a.test..",
            "\u{e9}.a.test",
            "a..test",
        ] {
            let _ = s.lookup(n);
        }
        assert_eq!(s.lookup(".a.test"), Some(1));
        assert_eq!(s.lookup(&"a.".repeat(200)), None);
        assert_eq!(
            DomainSet::new().insert(&"a".repeat(300), Cover::Both, 1),
            Err(InsertError::TooLong)
        );
        assert_eq!(
            DomainSet::new().insert(".", Cover::Both, 1),
            Err(InsertError::Empty)
        );
    }

    #[test]
    fn growing_keeps_every_name() {
        let mut s = DomainSet::new();
        for i in 0..10_000u32 {
            s.insert(&format!("host{i}.example{}.test", i % 37), Cover::Both, i)
                .unwrap();
        }
        assert_eq!(s.len(), 10_000);
        for i in (0..10_000u32).step_by(7) {
            assert_eq!(
                s.lookup(&format!("x.host{i}.example{}.test", i % 37)),
                Some(i)
            );
        }
        assert_eq!(s.lookup("host1.example2.test"), None);
    }
}
