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

impl Endpoint {
    pub fn new(ip: IpAddr, port: u16) -> Endpoint {
        let addr = match ip {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        Endpoint { addr, port }
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

    /// The key of a 5-tuple and the direction from `src` to `dst`.
    #[inline]
    pub fn of_tuple(src: IpAddr, sp: u16, dst: IpAddr, dp: u16, l4: L4) -> (FlowKey, Direction) {
        let src = Endpoint::new(src, sp);
        let dst = Endpoint::new(dst, dp);
        if src <= dst {
            (
                FlowKey {
                    lo: src,
                    hi: dst,
                    l4,
                },
                Direction::LoHi,
            )
        } else {
            (
                FlowKey {
                    lo: dst,
                    hi: src,
                    l4,
                },
                Direction::HiLo,
            )
        }
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

    #[test]
    fn different_ports_give_different_keys() {
        let (k1, _) = FlowKey::of(&packet("10.0.0.1", 40000, "10.0.0.2", 443));
        let (k2, _) = FlowKey::of(&packet("10.0.0.1", 40001, "10.0.0.2", 443));
        assert_ne!(k1, k2);
        assert_ne!(k1.hash64(), k2.hash64());
    }
}
