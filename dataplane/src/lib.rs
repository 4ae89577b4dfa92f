//! pcgate's data plane: everything between a captured packet and a verdict, with no I/O of its
//! own beyond reading capture files. Synchronous and lock-free on the hot path; the control
//! crate fills the snapshots it reads and drains the queues it writes.
//!
//! The path of a packet: [`capture`] yields frames, [`decode`] peels them down to the innermost
//! TCP/UDP packet, [`flow`] keeps per-flow state, [`inspect`] names the flow, [`classify`] maps
//! the name to an application and category, [`policy`] decides, and [`engine`] runs it all.

pub mod capture;
pub mod classify;
pub mod decode;
pub mod engine;
pub mod flow;
pub mod input;
pub mod inspect;
pub mod lines;
pub mod policy;
pub(crate) mod prefetch;
pub(crate) mod streamed;
