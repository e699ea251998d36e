//! Workers-runtime adapters: the implementations of `code24_shared::ports` over D1, Queues,
//! R2, service bindings and the ledger Durable Object, plus small HTTP helpers. Every Worker
//! crate uses these instead of talking to bindings directly, so binding access lives in one
//! place and the Workers stay thin.
//!
//! Map of the crate:
//! - [`ledger_client`]: the ledger Durable Object seen from a Worker.
//! - [`alerts`]: incidents and the webhook's outbox over D1, the breakers' state, the webhook.
//! - [`queue`], [`body`], [`inbox`]: queue producers, message bodies as text, and a consumer's
//!   batch as the core sees it.
//! - [`registry`], [`d1`]: the site registry over D1, and the one-query shape its reads share;
//!   [`canary`]: the canary's sites, for the post-deploy canary run.
//! - [`results`]: the R2 results bucket.
//! - [`elite`], [`timeout`]: the elite workers over service bindings, each call bounded in time.
//! - [`reports`], [`rollups`], [`probes`]: the report jobs' data over D1, the D1 copy of the
//!   daily rollups, and the dev health check's probes.
//! - [`dead_letters`]: the dead-letter store over D1 (the dead-letters consumer's upsert and count).
//! - [`metrics`]: finished jobs to Workers Analytics Engine.
//! - [`meter`]: one invocation's count of its per-invocation limits, logged before an overrun.
//! - [`env`], [`http`]: reading `[vars]`, the clock the producer waits on; JSON answers and the
//!   admin API's token check.

pub mod ledger_client;

pub mod alerts;

pub mod body;
pub mod canary;
pub mod d1;
pub mod dead_letters;
pub mod elite;
pub mod env;
pub mod http;
pub mod inbox;
pub mod meter;
pub mod metrics;
pub mod probes;
pub mod queue;
pub mod registry;
pub mod reports;
pub mod results;
pub mod rollups;
pub mod timeout;
