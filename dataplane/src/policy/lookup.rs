//! The session table: which listed subscriber a packet belongs to, by GTP-U TEID or by UE
//! address (exact address, then longest prefix). Built once when a policy compiles; a lookup is
//! a few binary searches and never allocates.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// Sorted (network, subscriber index) pairs of one prefix length.
type Level = Box<[(u128, u32)]>;

/// Prefixes of one address family, grouped by length, longest first.
#[derive(Debug, Default)]
struct PrefixTable {
    /// (prefix length, sorted (network, subscriber index)) per length present, longest first.
    levels: Box<[(u8, Level)]>,
    width: u8,
}

impl PrefixTable {
    fn build(width: u8, by_len: BTreeMap<u8, Vec<(u128, u32)>>) -> Self {
        let levels = by_len
            .into_iter()
            .rev()
            .map(|(len, mut entries)| {
                entries.sort_unstable();
                (len, entries.into_boxed_slice())
            })
            .collect();
        PrefixTable { levels, width }
    }

    fn lookup(&self, addr: u128) -> Option<u32> {
        self.levels.iter().find_map(|(len, entries)| {
            let net = addr & mask(self.width, *len);
            entries
                .binary_search_by_key(&net, |e| e.0)
                .ok()
                .and_then(|i| entries.get(i))
                .map(|e| e.1)
        })
    }
}

/// The mask of a `len`-bit prefix of a `width`-bit address, as the low `width` bits of a u128.
pub(crate) fn mask(width: u8, len: u8) -> u128 {
    let width = u32::from(width.min(128));
    let len = u32::from(len).min(width);
    if len == 0 {
        return 0;
    }
    let all = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    all & !all.checked_shr(len).unwrap_or(0)
}

/// An address as (family width, bits); IPv4-mapped IPv6 addresses count as IPv4.
pub(crate) fn addr_bits(addr: IpAddr) -> (u8, u128) {
    match addr {
        IpAddr::V4(a) => (32, u128::from(u32::from(a))),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => (32, u128::from(u32::from(v4))),
            None => (128, u128::from(a)),
        },
    }
}

/// Collects identifiers while a policy compiles.
#[derive(Debug, Default)]
pub(crate) struct SessionTableBuilder {
    teids: Vec<(u32, u32)>,
    v4: BTreeMap<u8, Vec<(u128, u32)>>,
    v6: BTreeMap<u8, Vec<(u128, u32)>>,
}

impl SessionTableBuilder {
    pub(crate) fn teid(&mut self, teid: u32, subscriber: u32) {
        self.teids.push((teid, subscriber));
    }

    /// `width` is 32 or 128; `bits` has no bits set beyond the prefix.
    pub(crate) fn prefix(&mut self, width: u8, bits: u128, len: u8, subscriber: u32) {
        let table = if width == 32 {
            &mut self.v4
        } else {
            &mut self.v6
        };
        table.entry(len).or_default().push((bits, subscriber));
    }

    pub(crate) fn build(mut self) -> SessionTable {
        self.teids.sort_unstable();
        SessionTable {
            teids: self.teids.into_boxed_slice(),
            v4: PrefixTable::build(32, self.v4),
            v6: PrefixTable::build(128, self.v6),
        }
    }
}

/// TEID and address lookups for listed subscribers.
#[derive(Debug, Default)]
pub(crate) struct SessionTable {
    teids: Box<[(u32, u32)]>,
    v4: PrefixTable,
    v6: PrefixTable,
}

impl SessionTable {
    /// The index of the listed subscriber: by TEID first when one is given, then by the UE
    /// address (an exact address is a full-length prefix, so longest prefix covers both).
    pub(crate) fn lookup(&self, ue: IpAddr, teid: Option<u32>) -> Option<u32> {
        if let Some(teid) = teid {
            if let Ok(i) = self.teids.binary_search_by_key(&teid, |e| e.0) {
                return self.teids.get(i).map(|e| e.1);
            }
        }
        let (width, bits) = addr_bits(ue);
        if width == 32 {
            self.v4.lookup(bits)
        } else {
            self.v6.lookup(bits)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_covers_prefix_bits_only() {
        assert_eq!(mask(32, 0), 0);
        assert_eq!(mask(32, 8), 0xff00_0000);
        assert_eq!(mask(32, 32), 0xffff_ffff);
        assert_eq!(mask(128, 128), u128::MAX);
        assert_eq!(mask(128, 1), 1u128 << 127);
        assert_eq!(mask(32, 200), 0xffff_ffff);
    }

    #[test]
    fn lookup_prefers_teid_then_longest_prefix() {
        let mut b = SessionTableBuilder::default();
        let ip = |s: &str| addr_bits(s.parse().expect("ip")).1;
        b.prefix(32, ip("10.45.0.0"), 16, 1);
        b.prefix(32, ip("10.45.1.0"), 24, 2);
        b.prefix(32, ip("10.45.1.7"), 32, 3);
        b.prefix(128, ip("2001:db8:45::"), 64, 4);
        b.teid(0x1234, 5);
        let t = b.build();
        let cases: [(&str, Option<u32>, Option<u32>); 8] = [
            ("10.45.1.7", None, Some(3)),
            ("10.45.1.8", None, Some(2)),
            ("10.45.9.9", None, Some(1)),
            ("10.46.0.1", None, None),
            ("10.45.1.7", Some(0x1234), Some(5)),
            ("10.45.1.7", Some(0x9999), Some(3)),
            ("2001:db8:45::99", None, Some(4)),
            ("::ffff:10.45.1.7", None, Some(3)),
        ];
        for (addr, teid, want) in cases {
            assert_eq!(
                t.lookup(addr.parse().expect("ip"), teid),
                want,
                "{addr} {teid:?}"
            );
        }
    }
}
