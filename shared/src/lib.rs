//! The sans-IO core of the Code24 scheduled-work pipeline.
//!
//! Every decision of the pipeline lives here as plain functions and state machines over plain
//! data; the Workers (`producer/`, `consumers/`, `ledger/`, `elite-standin/`) only decode
//! input, call into this crate and carry out what it returns. Nothing here depends on the
//! Workers runtime or reads a clock: time is always a parameter. The crate builds for the host
//! (tests, simulation, xtask) and for wasm32 (the Workers).
//!
//! Map of the components:
//! - [`names`]: binding, queue, bucket and Worker names mirroring the wrangler tomls.
//! - [`ids`]: validated customer ids, deterministic sweep and job ids, R2 timestamps.
//! - [`schedule`]: which cron runs which task.
//! - [`dashboard`]: the operator dashboard's sessions, schedule descriptions and pages.
//! - [`error`]: job errors and their transient/permanent class.
//! - [`elite`]: the elite-worker contract and the classification of its answers.
//! - [`standin`]: the control contract of the local, simulated elite stand-in.
//! - [`auth`], [`api`]: the admin API's token check, route table and request-size limits.
pub mod api;
pub mod auth;
pub mod backoff;
pub mod config;
pub mod dashboard;
pub mod dead_letters;
pub mod elite;
pub mod error;
pub mod ids;
pub mod ledger;
pub mod memory;
pub mod memory_reports;
pub mod names;
pub mod pipeline;
pub mod ports;
pub mod reports;
pub mod result;
pub mod schedule;
pub mod sim;
pub mod site;
pub mod standin;
pub mod url;
pub mod wire;
