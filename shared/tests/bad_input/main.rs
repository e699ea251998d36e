//! Bad input, natively: every decoder of untrusted input (queue bodies, admin request bodies
//! and query strings, customer ids, site URLs, bearer tokens) is fed
//!
//! - the kept corpus in `shared/tests/corpus/` ([`corpus`]): interesting inputs, one file (or one
//!   JSON line) each, with the outcome each must have, listed in the directory's manifest so no
//!   file is silently skipped;
//! - the same queue bodies through the optimizer's whole batch processing over the in-memory
//!   twins ([`pipeline`]): each bad body is dead-lettered alone with its reason and nothing else
//!   changes (no ledger call for it, no elite call, no result, no metric);
//! - the report-queue corpus through the reports consumer's batch ([`reports`]), likewise;
//! - generated inputs ([`props`], proptest): random strings, random mutations and truncations
//!   of valid bodies, and well-shaped JSON with wrong-typed values. Every property states what
//!   an accepted input guarantees (e.g. an R2 key of exactly three safe segments), not only
//!   that nothing panics.
//!
//! Case counts: `props::CASES` per property (`PROPTEST_CASES` does not override it, so the
//! figure in the README stays true); the corpus test prints how many entries it replayed.

mod corpus;
mod pipeline;
mod props;
mod reports;
