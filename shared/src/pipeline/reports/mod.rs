//! The report job kind: one message is one unit of report work ([`ReportJob`]). The
//! [`Consumer`] decodes, claims, completes and dead-letters report jobs as it does optimizations;
//! what is particular to them:
//!
//! - the claim: a run's jobs are its own lanes, so a report job never waits for an optimization
//!   or supersedes anything, and a recovery is a plain redo;
//! - the lease: a health check may wait on slow probes ([`EXTRA_LEASE_MS`]);
//! - the work of each kind of job ([`work`]; the health check in [`health`]; the finalize and
//!   end-of-month jobs, which read every customer in pages and write as they read, in
//!   [`streamed`]);
//! - the fan-in of monthly analytics after the verdicts ([`fan_in`]): for every run whose
//!   customer jobs ended in the batch, ask the ledger once whether the run is complete, and
//!   enqueue its finalize job when the ledger says so.
//!
//! Every report write is idempotent (a section is upserted by run and customer; a report
//! object is rewritten at its key), so a redelivered or recovered job simply does its work
//! again. A failure of one message never decides another's, except that the messages that
//! completed a run share the fate of its finalize request.
//!
//! [`Consumer`]: super::consumer::Consumer

pub mod fan_in;
mod health;
mod streamed;
mod work;

#[cfg(test)]
mod streamed_tests;
#[cfg(test)]
mod tests;

use self::fan_in::FanIn;
use crate::backoff::RetryPolicy;
use crate::config::ConsumerConfig;
use crate::error::JobError;
use crate::ledger::{JobClaim, JobMetrics};
use crate::pipeline::consumer::{Claimed, JobKind, Settled, Worked};
use crate::ports::{HealthProbes, JobQueue, Metrics, ObjectReader, PartUploads, ReportStore, ResultStore, RunFinalizer};
use crate::reports::jobs::ReportJob;

/// A claimed report job may take longer than an optimization: a health check waits for up to
/// fifty sites, a few timeouts in a row. Its lease is the optimizer's plus this much.
pub const EXTRA_LEASE_MS: i64 = 60_000;

/// The most service-binding calls one report job makes (the health check's); the reports
/// consumer's `max_batch_size` is checked against it as if every job were a health check.
pub const MAX_SERVICE_BINDING_CALLS_PER_JOB: u32 = health::SERVICE_BINDING_CALLS;

/// Report jobs, with the ports their work and their runs' fan-in need.
pub struct ReportJobs<'a, S, R, Q, H, F, M> {
    /// Rollups, billing events and monthly sections (D1).
    pub store: &'a S,
    /// The report objects (R2), whole or in parts, and the optimization objects the insights
    /// read back.
    pub results: &'a R,
    /// The reports queue itself, for the finalize job of a monthly run.
    pub queue: &'a Q,
    /// Everything the health check probes.
    pub probes: &'a H,
    /// The ledger's fan-in (the same ledger the consumer claims with).
    pub finalizer: &'a F,
    /// The reports' aggregates (Analytics Engine; the consumer's own metrics).
    pub metrics: &'a M,
}

/// The ledger claim of a report job: its run, and its subject in place of a customer.
pub fn claim_of(job: &ReportJob) -> JobClaim {
    JobClaim {
        job_id: job.job_id.clone(),
        run_id: job.run_id.clone(),
        subject: job.subject().to_owned(),
        scheduled_ms: job.scheduled_ms,
        replay: false,
        replay_at_ms: None,
    }
}

impl<S, R, Q, H, F, M> JobKind for ReportJobs<'_, S, R, Q, H, F, M>
where
    S: ReportStore,
    R: ResultStore + PartUploads + ObjectReader,
    Q: JobQueue,
    H: HealthProbes,
    F: RunFinalizer,
    M: Metrics,
{
    type Job = ReportJob;

    /// Undecodable or inconsistent: dead-lettered; a newer version: retried.
    fn decode(body: &str) -> Result<ReportJob, JobError> {
        ReportJob::decode(body)
    }

    fn claim(job: &ReportJob) -> JobClaim {
        claim_of(job)
    }

    fn lease_ms(config: &ConsumerConfig) -> i64 {
        config.lease_ms() + EXTRA_LEASE_MS
    }

    fn service_binding_calls(job: &ReportJob) -> u32 {
        work::service_binding_calls(job)
    }

    fn connections(job: &ReportJob) -> u32 {
        work::connections(job)
    }

    /// A report lane belongs to its run alone, so no newer run ever takes it over: whatever
    /// the claim's recovery, the (idempotent) work is done again.
    async fn work(&self, job: &ReportJob, _claimed: Claimed, now: &dyn Fn() -> i64) -> Result<Worked, JobError> {
        work::run(self.store, self.results, self.probes, self.metrics, job, now).await?;
        Ok(Worked::Done { scores: None })
    }

    /// Report jobs are not optimization runs: no rollup counts them.
    fn rollup_metrics(_outcome: &Result<Worked, JobError>, _duration_ms: i64) -> Option<JobMetrics> {
        None
    }

    async fn after_verdicts(&self, settled: &mut [Settled<'_, ReportJob>], now: &dyn Fn() -> i64, retry: &RetryPolicy) {
        let fan_in = FanIn { finalizer: self.finalizer, queue: self.queue, results: self.results };
        fan_in.after_verdicts(settled, now, retry).await;
    }
}
