//! What differs between kinds of job ([`JobKind`]), as the job consumer
//! ([`super::consumer::Consumer`]) drives them: decoding, the claim, the invocation's budget,
//! the work, and the hooks around the batch's claims, completes and verdicts.

use crate::backoff::RetryPolicy;
use crate::config::ConsumerConfig;
use crate::error::JobError;
use crate::ledger::{JobClaim, JobMetrics};

use super::delivery::{Action, Claimed, Worked};

/// What differs between kinds of job; everything else (claims, verdicts, dead letters, data
/// points, retries) is the [`Consumer`](super::consumer::Consumer)'s. The ports a kind's work needs are its own fields.
#[allow(async_fn_in_trait)]
pub trait JobKind {
    /// A decoded queue body.
    type Job;

    /// Decodes one body. A transient error (a newer wire version) retries the message; a
    /// permanent one dead-letters it.
    fn decode(body: &str) -> Result<Self::Job, JobError>;

    /// The job's ledger claim. Its subject and its run's scheduled time pick the shard
    /// ([`JobClaim::shard_in`]), its subject the lane; its ids are the ones dead letters and data points name.
    fn claim(job: &Self::Job) -> JobClaim;

    /// How long a claim holds the job's lane: long enough for the kind's slowest work.
    fn lease_ms(config: &ConsumerConfig) -> i64;

    /// The most service-binding calls the job's work makes: an invocation takes jobs while
    /// their sum fits [`super::budget::service_binding_budget`].
    fn service_binding_calls(job: &Self::Job) -> u32;

    /// The most connections (service-binding calls, fetches, R2, D1, queue sends) the job's
    /// work holds open at once: how many jobs may work side by side within
    /// `elite_calls_in_flight`.
    fn connections(job: &Self::Job) -> u32;

    /// Runs once per batch before any claim, over the number of jobs about to be claimed: how
    /// many of them (the first in the batch) may be worked now, and how long the others wait.
    /// The others are retried after that delay, unclaimed: no attempt is counted and nothing is
    /// dead-lettered (the optimizer's elite circuit breakers, `crate::breaker`). Most kinds
    /// admit everything.
    async fn admit(&self, jobs: u32, now_ms: i64) -> (u32, u32) {
        let _ = now_ms;
        (jobs, 0)
    }

    /// Runs once per batch, alongside the claims, over the jobs being claimed (so it costs the
    /// batch no round trip of its own; it may hold one connection, which the claims leave free):
    /// what a kind reads for the whole batch it reads here, once, never once per message (the
    /// optimizer's platform context). A job it read for may still be found a duplicate by its
    /// claim. Most kinds have nothing to do.
    async fn before_work(&self, jobs: &[&Self::Job]) {
        let _ = jobs;
    }

    /// Does the work of one claimed job.
    async fn work(&self, job: &Self::Job, claimed: Claimed, now: &dyn Fn() -> i64) -> Result<Worked, JobError>;

    /// What the ledger's daily rollup learns of a worked job; `None` when it is not a run the
    /// rollups count.
    fn rollup_metrics(outcome: &Result<Worked, JobError>, duration_ms: i64) -> Option<JobMetrics>;

    /// Runs once the batch's jobs are worked, alongside the report of their outcomes to the
    /// ledger, so it costs the batch no round trip of its own; it may hold one connection (the
    /// ledger's reports keep one of `elite_calls_in_flight` free for it). What a kind learned
    /// from the work that is not a job's outcome goes here (the optimizer's elite calls, for
    /// its circuit breakers). Most kinds have nothing to do.
    async fn after_work(&self, now: &dyn Fn() -> i64) {
        let _ = now;
    }

    /// Runs once the verdicts are acted on, over every message whose job decoded and whose
    /// action is known; it may replace an action (say, retry the messages whose shared
    /// follow-up request failed). Most kinds have nothing to do.
    async fn after_verdicts(&self, settled: &mut [Settled<'_, Self::Job>], now: &dyn Fn() -> i64, retry: &RetryPolicy) {
        let _ = (settled, now, retry);
    }
}

/// A message whose job decoded, once its action is known: what [`JobKind::after_verdicts`]
/// sees and may change.
pub struct Settled<'b, J> {
    pub job: &'b J,
    /// Whether the job ended: it succeeded or died now, or had already ended (a duplicate, a
    /// superseded or an already-dead claim). An error acked is a stale attempt's: not ended.
    pub ended: bool,
    /// How old the message is: infrastructure retries back off by age.
    pub age_ms: i64,
    pub action: Action,
}
