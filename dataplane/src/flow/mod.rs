//! Flows: the bidirectional key ([`key`]), the per-flow record ([`Flow`]), the table that owns
//! them with expiry by a timer wheel ([`table`]), and the per-client DNS answer cache that names
//! flows carrying no name of their own ([`dns_cache`]).
//!
//! The client is the side that sent the flow's first packet, or the SYN's sender when the SYN is
//! seen. A TCP flow closes on RST or on FIN from both sides; a closed flow lingers briefly to
//! absorb late packets, and a new SYN on its 5-tuple starts a new flow.

pub mod dns_cache;
pub mod key;
pub mod table;

pub use key::{Direction, Endpoint, FlowKey};

use crate::engine::enforce::Decision;
use crate::inspect::namer::{FlowName, Namer};

/// Idle timeouts, in seconds of packet time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// An open TCP flow with no packet for this long ends.
    pub tcp_idle_s: u32,
    /// A UDP flow with no packet for this long ends; the next packet starts a new flow.
    pub udp_idle_s: u32,
    /// A closed TCP flow (FIN both ways, or RST) is kept this long for late packets.
    pub tcp_closed_s: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_idle_s: 300,
            udp_idle_s: 120,
            tcp_closed_s: 10,
        }
    }
}

/// Bits of [`Flow::tcp`].
pub mod tcp_state {
    pub const SYN_SEEN: u8 = 0x01;
    pub const FIN_C2S: u8 = 0x02;
    pub const FIN_S2C: u8 = 0x04;
    pub const RST: u8 = 0x08;
    /// The client's SYN was seen; [`super::Flow::client_isn`] holds its sequence number.
    pub const CLIENT_SYN: u8 = 0x10;
}

/// Why a flow ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// FIN both ways or RST, then the linger time passed (or the 5-tuple was reused).
    Closed,
    /// No packet for the idle timeout.
    Idle,
    /// The input ended with the flow still open.
    EndOfInput,
}

/// One flow's state. Compact: inspection state and the name live behind pointers and exist only
/// while needed.
#[derive(Debug)]
pub struct Flow {
    pub key: FlowKey,
    /// Which direction of the key is client -> server.
    pub client_dir: Direction,
    /// Creation order within its table (a stable id for output ordering).
    pub serial: u32,
    /// The client's SYN sequence number, when [`tcp_state::CLIENT_SYN`] is set: where naming
    /// starts the client's stream (a SYN alone creates no inspection state).
    pub client_isn: u32,
    pub first_ts: u64,
    pub last_ts: u64,
    /// Bytes on the wire, `[client->server, server->client]`.
    pub bytes: [u64; 2],
    /// Packets, `[client->server, server->client]`.
    pub packets: [u32; 2],
    /// GTP-U TEID of the first tunnelled packet.
    pub teid: Option<u32>,
    /// [`tcp_state`] bits.
    pub tcp: u8,
    /// Naming has ended (named or given up): no namer is created again.
    pub naming_done: bool,
    /// Naming saw a sign of evasion ([`crate::inspect::namer::Evasion`]).
    pub evasive: bool,
    /// Naming in progress; `None` once named or given up.
    pub namer: Option<Box<Namer>>,
    /// The name, once known.
    pub name: Option<Box<FlowName>>,
    /// Classification and verdict, once naming has ended (with enforcement on).
    pub decision: Option<Box<Decision>>,
}

impl Flow {
    /// A flow seen first at `ts`, with `client_dir` the client's direction; nothing counted,
    /// inspected or decided yet.
    pub fn new(key: FlowKey, client_dir: Direction, serial: u32, ts: u64) -> Flow {
        Flow {
            key,
            client_dir,
            serial,
            client_isn: 0,
            first_ts: ts,
            last_ts: ts,
            bytes: [0; 2],
            packets: [0; 2],
            teid: None,
            tcp: 0,
            naming_done: false,
            evasive: false,
            namer: None,
            name: None,
            decision: None,
        }
    }

    /// Index (0 client->server, 1 server->client) of a packet travelling in `dir`.
    #[inline]
    pub fn side(&self, dir: Direction) -> usize {
        usize::from(dir != self.client_dir)
    }

    pub fn client(&self) -> Endpoint {
        self.key.sender(self.client_dir)
    }

    pub fn server(&self) -> Endpoint {
        self.key.receiver(self.client_dir)
    }

    pub fn is_closed(&self) -> bool {
        use tcp_state::*;
        self.tcp & RST != 0 || self.tcp & (FIN_C2S | FIN_S2C) == FIN_C2S | FIN_S2C
    }

    /// The idle timeout that applies to this flow now, in nanoseconds.
    pub fn timeout_ns(&self, t: &Timeouts) -> u64 {
        let s = match self.key.l4 {
            crate::decode::L4::Udp => t.udp_idle_s,
            crate::decode::L4::Tcp if self.is_closed() => t.tcp_closed_s,
            crate::decode::L4::Tcp => t.tcp_idle_s,
        };
        u64::from(s) * 1_000_000_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_state_is_compact() {
        // The budget: at most 128 bytes per flow before names are stored.
        assert!(
            std::mem::size_of::<Flow>() <= 128,
            "{}",
            std::mem::size_of::<Flow>()
        );
    }
}
