//! The DNS tap: reads the A/AAAA answers of DNS responses (from port 53) into the shared
//! [`DnsCache`]. It runs where packets are still in capture order (the dispatcher, or the only
//! worker), so that every answer is in the cache before any later flow of its client starts.

use crate::decode::{Packet, L4};
use crate::flow::dns_cache::DnsCache;
use crate::inspect::dns;

const DNS_PORT: u16 = 53;

/// Takes the answers of `packet` if it is a DNS response. Returns whether it was one.
pub fn tap(packet: &Packet<'_>, ts_ns: u64, cache: &DnsCache) -> bool {
    if packet.src_port != DNS_PORT || packet.payload.is_empty() {
        return false;
    }
    let parsed = match packet.l4 {
        L4::Udp => dns::parse(packet.payload),
        // A response in one segment; longer ones are not worth reassembling here.
        L4::Tcp => dns::parse_tcp(packet.payload),
    };
    let Ok(msg) = parsed else { return false };
    if !msg.is_response {
        return false;
    }
    for (name, addr) in msg.answers {
        cache.insert(packet.dst, addr, name, ts_ns);
    }
    true
}
