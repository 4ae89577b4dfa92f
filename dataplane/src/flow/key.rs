//! The bidirectional flow key: both directions of a conversation map to one key, and a
//! [`Direction`] says which way a packet went relative to the key's stored order. The key's hash
//! is symmetric and seeded with a fixed value, so the same flow lands in the same place (worker,
//! table slot) on every run.

use crate::decode::{Packet, L4};
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Fixed seed: hashing must give the same answer on every run and every worker count.
const HASH_SEED: u64 = 0x7063_6761_7465_0001;

/// An endpoint in a fixed-size form: IPv4 addresses are stored IPv4-mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    addr: [u8; 16],
    port: u16,
}

/// An address as the big-endian integer of its 16-byte form (IPv4 mapped into IPv6), which
/// orders as the bytes do.
#[inline]
fn wide(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().to_bits(),
        IpAddr::V6(v6) => v6.to_bits(),
    }
}

impl Endpoint {
    pub fn new(ip: IpAddr, port: u16) -> Endpoint {
        Endpoint {
            addr: wide(ip).to_be_bytes(),
            port,
        }
    }

    pub fn ip(&self) -> IpAddr {
        let v6 = Ipv6Addr::from(self.addr);
        match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip(), self.port)
    }
}

impl std::fmt::Display for Endpoint {
    /// `ip:port`, IPv6 as `[addr]:port`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.socket_addr())
    }
}

impl Default for Endpoint {
    fn default() -> Self {
        Endpoint::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    }
}

/// Which way a packet travels relative to the key's order (`lo` -> `hi` is [`Direction::LoHi`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    LoHi,
    HiLo,
}

/// A bidirectional 5-tuple with its endpoints in a canonical order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub lo: Endpoint,
    pub hi: Endpoint,
    pub l4: L4,
}

impl FlowKey {
    /// The key of a packet and the direction the packet travels.
    #[inline]
    pub fn of(packet: &Packet<'_>) -> (FlowKey, Direction) {
        FlowKey::of_tuple(
            packet.src,
            packet.src_port,
            packet.dst,
            packet.dst_port,
            packet.l4,
        )
    }

    /// The key of a 5-tuple and the direction from `src` to `dst`. The endpoints are ordered
    /// as [`Endpoint`]'s `Ord` orders them (address bytes, then port), computed on the addresses
    /// as big-endian integers and selected with masks, with no branch: which way a packet goes
    /// is as good as random from one packet to the next, so a branch on it cannot be predicted
    /// (one worker replayed the bench capture 3-4 % faster than with a byte-wise compare and a
    /// branch).
    #[inline]
    pub fn of_tuple(src: IpAddr, sp: u16, dst: IpAddr, dp: u16, l4: L4) -> (FlowKey, Direction) {
        let (a, b) = (wide(src), wide(dst));
        // `&` and `|`, not `&&` and `||`, which would branch on the order.
        let swap = (a > b) | ((a == b) & (sp > dp));
        let mask = u128::from(swap).wrapping_neg();
        let port_mask = u16::from(swap).wrapping_neg();
        let lo = Endpoint {
            addr: ((a & !mask) | (b & mask)).to_be_bytes(),
            port: (sp & !port_mask) | (dp & port_mask),
        };
        let hi = Endpoint {
            addr: ((a & mask) | (b & !mask)).to_be_bytes(),
            port: (sp & port_mask) | (dp & !port_mask),
        };
        let dir = if swap {
            Direction::HiLo
        } else {
            Direction::LoHi
        };
        (FlowKey { lo, hi, l4 }, dir)
    }

    /// A symmetric, run-independent hash (both directions give the same value): the key is
    /// already in canonical order. Fed to foldhash as five words, every packet hashes its key.
    #[inline]
    pub fn hash64(&self) -> u64 {
        let words = |a: &[u8; 16]| {
            let x = u128::from_le_bytes(*a);
            (x as u64, (x >> 64) as u64)
        };
        let (lo0, lo1) = words(&self.lo.addr);
        let (hi0, hi1) = words(&self.hi.addr);
        let mut h = foldhash::fast::FixedState::with_seed(HASH_SEED).build_hasher();
        h.write_u64(lo0);
        h.write_u64(lo1);
        h.write_u64(hi0);
        h.write_u64(hi1);
        h.write_u64(u64::from(self.lo.port) << 24 | u64::from(self.hi.port) << 8 | self.l4 as u64);
        h.finish()
    }

    /// The endpoint that sends in direction `dir`.
    pub fn sender(&self, dir: Direction) -> Endpoint {
        match dir {
            Direction::LoHi => self.lo,
            Direction::HiLo => self.hi,
        }
    }

    /// The endpoint that receives in direction `dir`.
    pub fn receiver(&self, dir: Direction) -> Endpoint {
        match dir {
            Direction::LoHi => self.hi,
            Direction::HiLo => self.lo,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(src: &str, sp: u16, dst: &str, dp: u16) -> Packet<'static> {
        Packet {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            l4: L4::Tcp,
            src_port: sp,
            dst_port: dp,
            seq: 0,
            flags: 0,
            payload: &[],
            teid: None,
        }
    }

    #[test]
    fn both_directions_give_one_key_and_hash() {
        let (k1, d1) = FlowKey::of(&packet("10.0.0.1", 40000, "93.184.216.34", 443));
        let (k2, d2) = FlowKey::of(&packet("93.184.216.34", 443, "10.0.0.1", 40000));
        assert_eq!(k1, k2);
        assert_eq!(k1.hash64(), k2.hash64());
        assert_ne!(d1, d2);
        assert_eq!(k1.sender(d1).to_string(), "10.0.0.1:40000");
        assert_eq!(k2.sender(d2).to_string(), "93.184.216.34:443");
    }

    #[test]
    fn endpoints_print_ipv6_in_brackets_and_ipv4_plain() {
        let e = Endpoint::new("2001:db8::1".parse().unwrap(), 443);
        assert_eq!(e.to_string(), "[2001:db8::1]:443");
        let e = Endpoint::new("192.0.2.7".parse().unwrap(), 53);
        assert_eq!(e.to_string(), "192.0.2.7:53");
    }

    mod order {
        use super::super::*;
        use proptest::prelude::*;

        /// IPv4 and IPv6 addresses, with a few shared values so that equal addresses (and so
        /// the port deciding the order) come up often.
        fn ip() -> impl Strategy<Value = IpAddr> {
            prop_oneof![
                (0u32..4).prop_map(|x| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + x))),
                any::<u32>().prop_map(|x| IpAddr::V4(Ipv4Addr::from(x))),
                (0u128..4).prop_map(|x| IpAddr::V6(Ipv6Addr::from(x << 64 | 1))),
                any::<u128>().prop_map(|x| IpAddr::V6(Ipv6Addr::from(x))),
                // An IPv4-mapped IPv6 address is the same endpoint as the IPv4 one.
                (0u32..4)
                    .prop_map(|x| IpAddr::V6(Ipv4Addr::from(0x0a00_0000 + x).to_ipv6_mapped())),
            ]
        }

        proptest! {
            /// The key holds its endpoints in `Endpoint`'s order, gives each packet back its
            /// sender and receiver, and is the same key both ways.
            #[test]
            fn key_orders_endpoints_as_endpoint_ord_does(
                src in ip(), sp in 0u16..4, dst in ip(), dp in 0u16..4,
            ) {
                let (key, dir) = FlowKey::of_tuple(src, sp, dst, dp, L4::Tcp);
                let (s, d) = (Endpoint::new(src, sp), Endpoint::new(dst, dp));
                prop_assert_eq!((key.lo, key.hi), (s.min(d), s.max(d)));
                prop_assert_eq!((key.sender(dir), key.receiver(dir)), (s, d));
                let (back, back_dir) = FlowKey::of_tuple(dst, dp, src, sp, L4::Tcp);
                prop_assert_eq!(back, key);
                prop_assert_eq!(back_dir == dir, s == d);
            }
        }
    }

    #[test]
    fn different_ports_give_different_keys() {
        let (k1, _) = FlowKey::of(&packet("10.0.0.1", 40000, "10.0.0.2", 443));
        let (k2, _) = FlowKey::of(&packet("10.0.0.1", 40001, "10.0.0.2", 443));
        assert_ne!(k1, k2);
        assert_ne!(k1.hash64(), k2.hash64());
    }
}
