//! The engine: runs packets through decode, flow tracking and naming. A [`Worker`] owns a flow
//! table and does all per-packet work for the flows it owns; the caller feeds it packets in
//! capture order and collects flows as they end.

pub mod cores;
pub mod counters;
pub mod dns_tap;
pub mod enforce;
pub mod limits;
pub mod parallel;
pub mod record;
pub mod replay;
mod window;
pub mod worker;

pub use cores::Placement;
pub use counters::Counters;
pub use record::FlowRecord;
pub use replay::{replay_files, ReplayConfig, ReplaySink};
pub use worker::{Worker, WorkerConfig};
