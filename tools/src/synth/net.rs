//! The synthesized network: subscriber addresses (IPv4 in 10.45.0.0/16, one IPv6 /64 each in
//! 2001:db8:45::/48), their GTP-U tunnels (one TEID per subscriber), the addresses of the
//! servers of named hosts (198.18.0.0/15, RFC 2544's benchmarking range, and
//! 2001:db8:ff::/48), of servers never named anywhere (203.0.113.0/24 and 2001:db8:fe::/48),
//! and the operator's resolver.
//!
//! A named host always resolves to the same address and no DNS answer ever points to an
//! unnamed server, so that a flow's expected name cannot depend on what an earlier DNS answer
//! taught a classifier. Client ports are handed out per subscriber in sequence, so no two flows
//! of a capture share a 5-tuple until one subscriber has opened 64 512 flows.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::packets::Gtpu;

/// Subscribers a capture can have (host numbers of 10.45.0.0/16 but the network and
/// broadcast addresses).
pub const MAX_SUBSCRIBERS: u32 = 65_534;
/// TEID of subscriber 0's tunnel; subscriber `s` has `TEID_BASE + s`.
pub const TEID_BASE: u32 = 0x0100_0000;
/// The first client port handed out.
const FIRST_PORT: u16 = 32_768;
/// Ports below this are never handed out.
const LOWEST_PORT: u16 = 1_024;
/// Addresses of 198.18.0.0/15 usable for named hosts.
const HOST_V4_SPAN: u32 = (1 << 17) - 2;
/// eNodeBs/gNBs the subscribers are spread over (outer GTP-U source addresses).
const RADIO_SITES: u32 = 250;

/// The operator's resolver (IPv4).
pub const RESOLVER_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 53);
/// The operator's resolver (IPv6).
pub const RESOLVER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x53, 0, 0, 0, 0, 0x53);
/// The core side (UPF) of every GTP-U tunnel.
pub const UPF: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// Subscribers and their client ports.
#[derive(Debug, Clone)]
pub struct Subscribers {
    next_port: Vec<u16>,
}

impl Subscribers {
    /// `n` subscribers (clamped to `1..=MAX_SUBSCRIBERS`).
    pub fn new(n: u32) -> Subscribers {
        let n = n.clamp(1, MAX_SUBSCRIBERS);
        Subscribers {
            next_port: vec![FIRST_PORT; n as usize],
        }
    }

    /// Number of subscribers.
    pub fn len(&self) -> u32 {
        self.next_port.len() as u32 // at most MAX_SUBSCRIBERS
    }

    /// Always false: there is at least one subscriber.
    pub fn is_empty(&self) -> bool {
        self.next_port.is_empty()
    }

    /// The next client port of subscriber `s` (wraps from 65535 to 1024).
    pub fn next_port(&mut self, s: u32) -> u16 {
        match self.next_port.get_mut(s as usize) {
            Some(p) => {
                let port = *p;
                *p = if port == u16::MAX {
                    LOWEST_PORT
                } else {
                    port + 1
                };
                port
            }
            None => FIRST_PORT,
        }
    }
}

/// Subscriber `s`'s IPv4 address: 10.45.0.0/16, host number `s + 1`.
pub fn subscriber_v4(s: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 45, 0, 0)) + (s % MAX_SUBSCRIBERS) + 1)
}

/// Subscriber `s`'s IPv6 address: `2001:db8:45:s::1` (its own /64).
pub fn subscriber_v6(s: u32) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0x45, (s & 0xffff) as u16, 0, 0, 0, 1)
}

/// Subscriber `s`'s address of the given family.
pub fn subscriber(s: u32, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(subscriber_v6(s))
    } else {
        IpAddr::V4(subscriber_v4(s))
    }
}

/// Subscriber `s`'s GTP-U tunnel: its own TEID, the radio site it is attached to, the UPF.
pub fn tunnel(s: u32) -> Gtpu {
    let site = s % RADIO_SITES;
    Gtpu {
        teid: TEID_BASE.wrapping_add(s),
        access: IpAddr::V4(Ipv4Addr::new(192, 0, 2, (site + 1) as u8)), // site < 250
        core: IpAddr::V4(UPF),
    }
}

/// The IPv4 address named host number `h` resolves to.
pub fn host_v4(h: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + (h % HOST_V4_SPAN) + 1)
}

/// The IPv6 address named host number `h` resolves to.
pub fn host_v6(h: u32) -> Ipv6Addr {
    let n = u64::from(h) + 1;
    Ipv6Addr::new(
        0x2001,
        0xdb8,
        0xff,
        0,
        0,
        (n >> 32) as u16,
        (n >> 16) as u16,
        n as u16,
    )
}

/// A named host's address of the given family.
pub fn host(h: u32, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(host_v6(h))
    } else {
        IpAddr::V4(host_v4(h))
    }
}

/// Server `k` of the servers no name points to.
pub fn unnamed_server(k: u32, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0xfe,
            0,
            0,
            0,
            0,
            (k % 0xfffe) as u16 + 1,
        ))
    } else {
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, (k % 254) as u8 + 1))
    }
}

/// The resolver of the given family.
pub fn resolver(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(RESOLVER_V6)
    } else {
        IpAddr::V4(RESOLVER_V4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriber_addresses_stay_in_their_prefixes() {
        assert_eq!(subscriber_v4(0), Ipv4Addr::new(10, 45, 0, 1));
        assert_eq!(
            subscriber_v4(MAX_SUBSCRIBERS - 1),
            Ipv4Addr::new(10, 45, 255, 254)
        );
        assert_eq!(subscriber_v6(258).to_string(), "2001:db8:45:102::1");
        assert_eq!(tunnel(3).teid, TEID_BASE + 3);
    }

    #[test]
    fn ports_run_in_sequence_per_subscriber_and_wrap_above_1023() {
        let mut s = Subscribers::new(2);
        assert_eq!(s.next_port(0), 32_768);
        assert_eq!(s.next_port(0), 32_769);
        assert_eq!(s.next_port(1), 32_768);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..64_512 {
            assert!(seen.insert(s.next_port(1)));
        }
        assert!(seen.iter().all(|&p| p >= 1024));
        assert!(!seen.insert(s.next_port(1)));
    }

    #[test]
    fn named_and_unnamed_servers_never_share_an_address() {
        for h in [0, 1, 70_000, HOST_V4_SPAN - 1] {
            let a = host_v4(h);
            assert_eq!(a.octets()[0], 198);
            assert!((18..=19).contains(&a.octets()[1]), "{a}");
        }
        assert_ne!(host_v6(0), host_v6(1));
        assert_ne!(host_v6(0xffff), host_v6(0x1_0000));
        assert!(
            matches!(unnamed_server(9, false), IpAddr::V4(a) if a.octets()[..3] == [203, 0, 113])
        );
    }
}
