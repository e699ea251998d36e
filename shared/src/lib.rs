//! The sans-IO core of the Code24 scheduled-work pipeline.
//!
//! Every decision of the pipeline lives here as plain functions and state machines over plain
//! data; the Workers (`producer/`, `consumers/`, `ledger/`, `elite-standin/`) only decode
//! input, call into this crate and carry out what it returns. Nothing here depends on the
//! Workers runtime or reads a clock: time is always a parameter. The crate builds for the host
//! (tests, simulation, xtask) and for wasm32 (the Workers). The operator dashboard's pages are
//! a crate of their own (`code24-dashboard`), which only the dispatcher depends on.
//!
//! Map of the modules, grouped:
//!
//! Identity and names
//! - [`names`]: Worker, binding, queue, bucket, database and variable names mirroring the
//!   wrangler tomls, and the deployment [`names::Environment`].
//! - [`ids`]: validated customer ids, deterministic run and job ids, R2 and RFC 3339 timestamps, the
//!   stable hash.
//! - [`schedule`]: the schedule table (which cron runs which task where) and the tasks' names.
//! - [`config`]: a Worker's `[vars]`, read and validated in one place.
//! - [`site`]: customer sites as the registry holds them, with URL validation.
//! - [`url`]: percent-encoding shared by every client of the admin API.
//! - [`limits`]: Cloudflare's production limits, each with its documentation page, and the
//!   design's headroom; everything that must stay under a limit reads it here. Its
//!   [`limits::usage::Usage`] counts one invocation's figures against them.
//!
//! Wire and contracts
//! - [`wire`]: queue message bodies (versioned JSON) and their conversions to domain types.
//! - [`elite`]: the elite-worker contract and the classification of its answers.
//! - [`optimization`]: the optimization object written to R2, and its key in the seed's layout.
//! - [`error`]: job errors and their transient/permanent class.
//! - [`api`]: the admin API's route table (which is its router) and request-size limits.
//! - [`auth`]: the admin API's bearer-token check, in constant time.
//!
//! Who did what
//! - [`access`]: Cloudflare Access tokens: claims, algorithm and key selection, the key set's
//!   cache, over a signature check the Worker does with WebCrypto.
//! - [`audit`]: the append-only audit log: which requests are recorded, normalised, counted.
//! - [`secrets`]: how strong `ADMIN_TOKEN` and `SESSION_SECRET` must be, and generating one.
//! - [`gate`]: the dashboard's login limit per client and its server-side sessions.
//!
//! The ledger
//! - [`ledger`]: progress and deduplication of every run (sweep or report run): the run
//!   coordinator ([`ledger::runs`]), the job shards' state machine ([`ledger::jobs`]) and their daily
//!   rollups ([`ledger::rollups`]), latest-wins across sweeps ([`ledger::heads`]), with the
//!   Durable Object's request and response types.
//! - [`breaker`]: the elite circuit breakers, one per role (closed, open, half open), kept by
//!   the ledger's `breakers` instance, and the auto-replay of the dead letters an outage caused.
//!
//! The pipeline
//! - [`ports`]: the boundaries as small capability traits (registry, queue, ledger, elite, R2,
//!   dead-letter sink and store, metrics, report store, run finalizer, health probes).
//! - [`datapoints`]: the Analytics Engine data points of finished jobs and report aggregates,
//!   within the platform's limits.
//! - [`backoff`]: retry timing (exponential backoff with jitter) and its seeded random source.
//! - [`pipeline`]: the producer's fan-out and the consumers' batch processing, over the ports.
//!
//! Reports
//! - [`reports`]: report jobs' pure parts: messages, periods, revenue, monthly analytics, the
//!   end-of-month report, runs, the health check.
//!
//! Dead letters
//! - [`dead_letters`]: the dead-letter store in one place: its record, the dead-letters
//!   consumer's intake decision and batch, and the admin API's queries, replays and purges.
//!
//! Operations
//! - [`alerts`]: the alert conditions, the incidents' opening and resolution, and the webhook
//!   outbox's rate cap and retries.
//! - [`canary`]: the post-deploy canary's pure parts: its reserved, inactive sites, its run id,
//!   and its verdict over what a run left behind.
//!
//! The stand-in
//! - [`standin`]: the local elite stand-in's control contract and deterministic answers, and
//!   its model of the elite workers ([`standin::model`]), run by the `elite-standin` Worker.
//!
//! The test kit (compiled for tests and with the `testkit` feature only; no Worker enables it)
//! - `testkit`: in-memory twins of every port and the seeded simulation of the whole pipeline.

pub mod access;
pub mod alerts;
pub mod api;
pub mod audit;
pub mod auth;
pub mod backoff;
pub mod breaker;
pub mod canary;
pub mod config;
pub mod datapoints;
pub mod dead_letters;
pub mod elite;
pub mod error;
pub mod gate;
pub mod ids;
pub mod ledger;
pub mod limits;
pub mod names;
pub mod optimization;
pub mod pipeline;
pub mod ports;
pub mod reports;
pub mod schedule;
pub mod secrets;
pub mod site;
pub mod standin;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod url;
pub mod wire;
