//! Flow mode over Kafka: consume `network-traffic` in a consumer group, hand each record to a
//! [`RecordHandler`](crate::traffic::RecordHandler), publish its outputs, commit at-least-once.
//!
//! [`config`] is the `[kafka]` config section and the librdkafka client settings built from it;
//! [`msk_iam`] signs the OAUTHBEARER tokens of Amazon MSK's IAM authentication;
//! [`pipeline`] is the consume-decide-produce loop, which falls back to the
//! [spool](crate::spool) while the brokers do not take messages.

pub mod config;
pub mod msk_iam;
pub mod pipeline;

pub use config::{ConfigError, KafkaConfig};
pub use pipeline::{run, run_blocking, Metrics, PipelineError, RunOptions, RunStats};
