//! The dead-letter store, every piece of it in one place: what it holds, how the dead-letters
//! consumer fills it, and how the admin API reads and acts on it.
//!
//! - [`record`]: one row of the store (`migrations/0002_dead_letters.sql`), built from a
//!   dead-letter-queue message whatever its kind; the ids an entry may have; the store's size
//!   against its warning threshold.
//! - [`intake`]: the dead-letters consumer's decision for one message (store, drop, retry, or
//!   first settle the job in the ledger) and the small driver that carries it out over ports.
//! - [`query`]: the admin API's filters, cursor pages and list answers.
//! - [`selection`]: which entries a replay or purge takes, and which of them a replay sends.
//! - `memory`: the store's in-memory twin (tests and the `testkit` feature only).

pub mod intake;
pub mod query;
pub mod record;
pub mod selection;
