//! Flow mode: pcgate fed by the P-Gateway's `network-traffic` records instead of packets.
//! [`record`] is the format of one record.

pub mod record;
