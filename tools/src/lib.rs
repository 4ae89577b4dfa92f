//! Shared code of pcgate's tools: capture writers (pcap, pcapng), packet builders (Ethernet,
//! 802.1Q, Linux SLL, raw IP, IPv4/IPv6, TCP/UDP, GTP-U), conversation builders (TCP with
//! out-of-order segments and retransmissions, UDP), application payloads (TLS, QUIC Initial,
//! HTTP, DNS), and [`flow::Flow`], which ties a conversation to what a classifier is expected
//! to find in it; and [`synth`], a traffic synthesizer that streams large captures of a simulated
//! mobile evening to disk. Everything is deterministic: filler bytes come from a seeded
//! [`rng::Rng`].

#![forbid(unsafe_code)]

pub mod capture;
pub mod conversation;
pub mod dns;
pub mod evening;
pub mod fixtures;
pub mod flow;
pub mod http;
pub mod packets;
pub mod pcap_writer;
pub mod pgw;
pub mod quic;
pub mod recipes;
pub mod rng;
pub mod synth;
pub mod tls;

pub use conversation::{SegmentPlan, TcpConversation, Timing, UdpExchange};
pub use flow::{AppInfo, ExpectedFlow, Flow};
pub use packets::{Direction, Frame, Gtpu, Link, Path};
pub use pcap_writer::{Endian, LinkType, PcapWriter, PcapngWriter, TsResolution};
