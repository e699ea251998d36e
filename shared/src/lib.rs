//! The sans-IO core of the Code24 scheduled-work pipeline.
//!
//! Every decision of the pipeline lives here as plain functions and state machines over plain
//! data; the Workers (`producer/`, `consumers/`, `ledger/`, `elite-standin/`) only decode
//! input, call into this crate and carry out what it returns. Nothing here depends on the
//! Workers runtime or reads a clock: time is always a parameter. The crate builds for the host
//! (tests, simulation, xtask) and for wasm32 (the Workers).
//!
//! Map of the components:
//!
//! Names, ids and the schedule:
//! - [`names`]: binding, queue, bucket and Worker names mirroring the wrangler tomls.
//! - [`config`]: the Workers' `[vars]`, parsed and validated in one place.
//! - [`ids`]: validated customer ids, deterministic sweep and job ids, R2 timestamps.
//! - [`schedule`]: which cron runs which task.
//! - [`site`]: customer sites as the registry holds them, with URL validation.
//! - [`url`]: percent-encoding shared by every HTTP client of the admin API.
//!
//! The pipeline:
//! - [`ports`]: the boundaries as small capability traits.
//! - [`wire`]: versioned queue message bodies and their conversions.
//! - [`pipeline`]: the producer's fan-out and the consumers' batch processing, over the ports.
//! - [`ledger`]: progress and deduplication of every sweep, as deterministic state machines.
//! - [`error`]: job errors and their transient/permanent class.
//! - [`backoff`]: retry timing with seeded jitter.
//! - [`elite`]: the elite-worker contract and the classification of its answers.
//! - [`result`]: what a finished optimization writes to R2, and where.
//! - [`reports`]: the report jobs' pure parts (messages, periods, revenue, analytics, reports).
//! - [`dead_letters`]: what the dead-letters consumer stores for each dead-letter message.
//!
//! The admin API and the dashboard:
//! - [`auth`], [`api`]: the admin API's token check, router and request-size limits.
//! - [`admin`]: the admin API's dead-letter contract (filters, pages, replay and purge).
//! - [`dashboard`]: the operator dashboard's sessions, schedule descriptions and pages.
//!
//! Test kit:
//! - [`memory`], [`memory_reports`]: in-memory twins of every port.
//! - [`sim`]: the deterministic simulation of the whole pipeline with seeded faults.
//! - [`standin`]: the control contract of the local, simulated elite stand-in.
pub mod admin;
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
