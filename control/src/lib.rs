//! pcgate's control side: what lies between the data plane's queues and snapshots and the
//! systems around it. For now the embedded default: block events as JSON-line records with
//! tallies ([`events`]). The data plane never knows this crate exists.

pub mod events;
pub mod kafka;
pub mod spool;
pub mod traffic;

pub use dataplane;
