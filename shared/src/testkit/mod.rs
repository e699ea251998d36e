//! The test kit: in-memory twins of every port and the deterministic simulation of the whole
//! pipeline over them. Compiled for the core's own tests and behind the `testkit` feature,
//! which the crates that drive the core natively enable (`shared/tests/`, `bench/native`);
//! no Worker enables it, so no wasm bundle carries it (`tests/tests/bundle_contents.rs`
//! checks each Worker's resolved features).
//!
//! - [`ports`]: twins of the optimization path's ports (site registry, queue with the
//!   platform's throughput, ledger, elite workers, R2, dead-letter sink, metrics) and the
//!   simulated clock; the ledger twin runs the Durable Object's own decisions over
//!   [`ledger`]'s tables.
//! - [`breakers`]: the elite circuit breakers' twin (the `breakers` instance's book in memory).
//! - [`metered`]: any port counted against one invocation's limits (`limits::usage::Usage`).
//! - [`dead_letters`]: the dead-letter store's twin (rows as D1 keeps them, failures on demand).
//! - [`reports`]: twins of the report jobs' ports (report store, run finalizer, health probes).
//! - [`results`]: the R2 twin, multipart uploads included (re-exported by [`ports`]).
//! - [`scale`]: twins for runs too large to hold (a report store that makes each page when it
//!   is read, an object store that keeps sizes and parts, not bytes).
//! - [`overload`]: the simulated elite capacity (calls hold the elite workers for simulated
//!   time) and the staleness figure of overload runs.
//! - [`ledger`]: in-memory job and sweep tables, the twin of the Durable Object's SQLite.
//! - [`sim`]: the seeded simulation (duplicated firings and deliveries, crashes, elite faults,
//!   a throttling queue) and its invariant checks, every invocation held to the limits; its
//!   queue of messages by visibility (`sim_queue`).
//! - [`world`]: every twin a consumer batch touches, a clock and a local consumer's settings,
//!   for the consumers' scenario tests.

pub mod breakers;
pub mod dead_letters;
pub mod ledger;
pub mod metered;
pub mod overload;
pub mod ports;
pub mod reports;
pub mod results;
pub mod scale;
pub mod sim;
mod sim_queue;
pub mod world;
