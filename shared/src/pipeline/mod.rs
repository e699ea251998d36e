//! The pipeline's two halves, written once against the ports: the producer's fan-out (cron
//! firing → one message per active site) and the job consumer (messages → claims → work →
//! verdicts → ack/retry/dead letter). The Workers and the simulation both run exactly this
//! code.
//!
//! - [`producer`]: the fan-out of a sweep or a report run.
//! - [`rotation`]: the order a fan-out sends its sites in, starting after the run's origin,
//!   and by ledger shard within blocks while the work keeps up ([`rotation::by_shard`]).
//! - [`latest`]: the producer's part in latest-wins: where the work stands before a sweep
//!   opens, and the shards told once its fan-out finished.
//! - [`pacing`]: its sends paced under the queue's throughput, refusals retried with backoff.
//! - [`consumer`]: the job consumer, one driver for every kind of job.
//! - [`kind`]: what differs between kinds of job ([`kind::JobKind`]) and the hooks it runs.
//! - [`delivery`]: a delivered message and the consumer's action on it.
//! - [`shard_calls`]: its one claim and one complete request per ledger shard touched.
//! - [`budget`]: what one invocation may start: service-binding calls in total, connections
//!   at once.
//! - [`optimize`]: the optimization job kind (elite calls, the R2 result, recovery).
//! - [`reports`]: the report job kind (report work, health check, the monthly fan-in).

pub mod budget;
pub mod consumer;
pub mod delivery;
pub mod kind;
pub mod latest;
pub mod optimize;
pub mod pacing;
pub mod producer;
pub mod reports;
pub mod rotation;
pub(crate) mod shard_calls;
