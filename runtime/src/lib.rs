//! Workers-runtime adapters: the implementations of `code24_shared::ports` over D1, Queues,
//! R2, service bindings and the ledger Durable Object, plus small HTTP helpers. Every Worker
//! crate uses these instead of talking to bindings directly, so binding access lives in one
//! place and the Workers stay thin.

pub mod ledger_client;

pub mod body;
pub mod d1;
pub mod dead_letters;
pub mod elite;
pub mod env;
pub mod http;
pub mod inbox;
pub mod metrics;
pub mod probes;
pub mod queue;
pub mod registry;
pub mod reports;
pub mod results;
pub mod rollups;
pub mod timeout;
