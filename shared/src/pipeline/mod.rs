//! The two halves of a sweep, written once against the ports: the producer's fan-out (cron
//! firing → one message per active site) and the consumer's batch processing (messages →
//! elite calls → R2 → ledger → ack/retry/dead letter). The Workers and the simulation both
//! run exactly this code. The reports consumer ([`reports`]) is the same protocol around
//! report work; the plumbing both consumers share is [`batch`].

pub(crate) mod batch;
pub mod consumer;
pub mod producer;
pub mod reports;
