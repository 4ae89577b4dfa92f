//! pcgate's control side: loads policy and catalog, drains the data plane's queues into sinks.
//! Thin for now: the embedded default needs none of the outside services.

pub use dataplane;
