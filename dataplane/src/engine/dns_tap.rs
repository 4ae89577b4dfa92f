//! The DNS tap: reads the A/AAAA answers of DNS responses (from port 53), for the answer caches
//! of the workers ([`crate::flow::dns_cache`]). It runs where packets are still in capture order
//! (the dispatcher, or the only worker), so that every worker learns each answer before any
//! later packet of its client.

use crate::decode::{Packet, L4};
use crate::flow::dns_cache::Resolved;
use crate::inspect::dns;

const DNS_PORT: u16 = 53;

/// Hands each answer of `packet` to `learn`, if it is a DNS response. Returns whether it was
/// one.
pub fn tap(packet: &Packet<'_>, ts_ns: u64, mut learn: impl FnMut(Resolved)) -> bool {
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
        learn(Resolved {
            client: packet.dst,
            addr,
            name,
            ts_ns,
        });
    }
    true
}
