//! The dead-letter store, every piece of it in one place: what it holds, how the dead-letters
//! consumer fills it, and how the admin API reads and acts on it.
//!
//! - [`record`]: one row of the store (`migrations/0002_dead_letters.sql`), built from a
//!   dead-letter-queue message whatever its kind; the ids an entry may have; the store's size
//!   against its warning threshold.
//! - [`intake`]: the consumer's decision for one message (store it, drop it, retry it, or first
//!   settle its job in the ledger) as pure functions, and `settle_and_decide`, which carries it
//!   out over the ledger and R2 ports.
//! - [`consumer`]: the consumer's batch over the ports: store each record through
//!   [`DeadLetterStore`](crate::ports::DeadLetterStore), ack or retry by age, check the store's
//!   size against `DEAD_LETTER_WARN_ROWS`, and say what to log.
//! - [`query`]: the admin API's filters, cursor pages and list answers.
//! - [`selection`]: which entries a replay or purge takes, and which of them a replay sends.

pub mod consumer;
pub mod intake;
pub mod query;
pub mod record;
pub mod selection;
