//! The reports consumer's batch processing: the optimizer's protocol around report work. For
//! one delivered batch of [`ReportJob`]s it decides, per message, ack or retry-after-delay:
//!
//! 1. decode every body (undecodable or inconsistent: dead-lettered alone, with its reason; a
//!    newer version: retried until this consumer is updated);
//! 2. claim the jobs in the ledger, one request per shard touched (a run's jobs are its own
//!    lanes, so a report job never waits for an optimization or supersedes anything);
//! 3. do the work of each claimed job concurrently ([`work`]; the health check in [`health`]);
//! 4. report the outcomes, one request per shard touched, and act on the verdicts (ack, retry
//!    with backoff, dead letter), writing one analytics data point per finished job;
//! 5. the fan-in of monthly analytics: for every run whose customer jobs ended in this batch,
//!    ask the ledger once whether the run is complete, and enqueue its finalize job when the
//!    ledger says so.
//!
//! Every report write is idempotent (a section is upserted by run and customer; a report
//! object is rewritten at its key), so a redelivered or recovered job simply does its work
//! again. A failure of one message never decides another's, except that the messages that
//! completed a run share the fate of its finalize request.

mod health;
mod work;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use futures::future::join_all;

use crate::backoff::Rng;
use crate::config::ConsumerConfig;
use crate::error::{ErrorClass, JobError};
use crate::ids::stable_hash;
use crate::ledger::{ClaimDecision, FinalizeDecision, JobClaim, JobOutcome, Verdict, JOB_SHARDS};
use crate::pipeline::batch::{
    after_lease_s, claim_per_shard, complete_per_shard, group_by_shard, infra_retry, send_dead_letter, JobIds, Letter, Verdicts,
    WorkedMessage,
};
use crate::pipeline::consumer::{Action, Delivery};
use crate::ports::{DeadLetterSink, HealthProbes, JobQueue, Ledger, Metrics, ReportStore, ResultStore, RunFinalizer};
use crate::reports::jobs::{ReportJob, ReportWork};

/// A claimed report job may take longer than an optimization: a health check waits for up to
/// fifty sites, a few timeouts in a row. Its lease is the optimizer's plus this much.
pub const EXTRA_LEASE_MS: i64 = 60_000;
/// When the ledger says a run's finalize job was already requested this long ago and its
/// report is still not written, the request is taken as lost (its sender failed after the
/// ledger's `Enqueue`) and the job is sent again; a duplicate is harmless, as the ledger
/// deduplicates it by job id. Younger requests are left alone, so duplicate deliveries of a
/// run's last jobs enqueue its finalize exactly once.
pub const FINALIZE_RESEND_AFTER_MS: i64 = 120_000;

/// The ports and settings one reports-consumer invocation works with.
pub struct ReportConsumer<'a, L, S, R, Q, H, D, M> {
    /// Claims and completes jobs; answers the fan-in.
    pub ledger: &'a L,
    /// Rollups, billing events and monthly sections (D1).
    pub store: &'a S,
    /// The report objects (R2).
    pub results: &'a R,
    /// The reports queue itself, for the finalize job of a monthly run.
    pub queue: &'a Q,
    /// Everything the health check probes.
    pub probes: &'a H,
    pub dead_letters: &'a D,
    pub metrics: &'a M,
    pub config: &'a ConsumerConfig,
    /// Name of the queue the batch came from, recorded in dead letters.
    pub origin_queue: &'a str,
}

/// One batch while it is being decided, one entry per message in each vector.
struct Batch<'d> {
    deliveries: &'d [Delivery],
    /// How old each message is: infrastructure retries back off by age.
    ages: Vec<i64>,
    /// The decoded job, when the body decoded.
    jobs: Vec<Option<ReportJob>>,
    slots: Vec<Slot>,
    /// Whether the message's job ended (now, or before this delivery): the fan-in's candidates.
    ended: Vec<bool>,
}

/// Per message, what is known so far.
enum Slot {
    Decided(Action),
    Claiming,
    Working { attempt: u32 },
    Worked { attempt: u32, outcome: Result<(), JobError>, duration_ms: i64 },
}

/// The ledger shard of a report job: its subject's, as for an optimization job's customer.
pub fn shard_of_job(job: &ReportJob) -> u32 {
    (stable_hash(job.subject().as_bytes()) % u64::from(JOB_SHARDS)) as u32
}

/// The ledger claim of a report job.
pub fn claim_of(job: &ReportJob) -> JobClaim {
    JobClaim {
        job_id: job.job_id.clone(),
        sweep_id: job.run_id.clone(),
        customer_id: job.subject().to_owned(),
        scheduled_ms: job.scheduled_ms,
        replay: false,
    }
}

impl<L, S, R, Q, H, D, M> ReportConsumer<'_, L, S, R, Q, H, D, M>
where
    L: Ledger + RunFinalizer,
    S: ReportStore,
    R: ResultStore,
    Q: JobQueue,
    H: HealthProbes,
    D: DeadLetterSink,
    M: Metrics,
{
    /// Processes one batch; returns one action per delivery, in order.
    pub async fn process_batch(&self, deliveries: &[Delivery], now: &dyn Fn() -> i64, rng: &mut Rng) -> Vec<Action> {
        let ages: Vec<i64> = deliveries.iter().map(|d| now() - d.sent_ms).collect();
        let mut jobs = Vec::with_capacity(deliveries.len());
        let mut slots = Vec::with_capacity(deliveries.len());
        for (d, age) in deliveries.iter().zip(&ages) {
            let decoded = ReportJob::decode(&d.body);
            slots.push(match &decoded {
                Ok(_) => Slot::Claiming,
                Err(e) if e.class == ErrorClass::Transient => Slot::Decided(self.infra_retry(*age)),
                Err(error) => Slot::Decided(self.dead_letter(&d.body, None, 0, error.clone(), now(), *age).await),
            });
            jobs.push(decoded.ok());
        }
        let mut b = Batch { deliveries, ages, jobs, slots, ended: vec![false; deliveries.len()] };
        self.claim(&mut b, now).await;
        self.work(&mut b, now).await;
        self.complete(&mut b, now, rng).await;
        self.fan_in(&mut b, now).await;
        b.slots
            .into_iter()
            .map(|s| match s {
                Slot::Decided(a) => a,
                // Every other state was resolved above; a leftover is retried, never dropped.
                _ => Action::Retry { delay_s: 1 },
            })
            .collect()
    }

    fn infra_retry(&self, age_ms: i64) -> Action {
        infra_retry(&self.config.retry, age_ms)
    }

    /// Step 2: one claim request per shard touched.
    async fn claim(&self, b: &mut Batch<'_>, now: &dyn Fn() -> i64) {
        let Batch { deliveries, ages, jobs, slots, ended } = b;
        let claiming = jobs.iter().enumerate().filter(|(i, _)| matches!(slots[*i], Slot::Claiming));
        let groups = group_by_shard(claiming.filter_map(|(i, job)| job.as_ref().map(|j| (i, shard_of_job(j), claim_of(j)))));
        let lease_ms = self.config.lease_ms() + EXTRA_LEASE_MS;
        for (i, decision) in claim_per_shard(self.ledger, groups, now(), lease_ms).await {
            let Some(decision) = decision else {
                slots[i] = Slot::Decided(self.infra_retry(ages[i]));
                continue;
            };
            slots[i] = match decision {
                // A report lane belongs to its run alone, so no newer run ever takes it
                // over: a recovery is a plain redo, and every report write is idempotent.
                ClaimDecision::Work { attempt, .. } | ClaimDecision::Recover { attempt } => Slot::Working { attempt },
                ClaimDecision::Duplicate | ClaimDecision::Superseded => {
                    ended[i] = true;
                    Slot::Decided(Action::Ack)
                }
                ClaimDecision::Busy { retry_after_ms } => Slot::Decided(Action::Retry { delay_s: after_lease_s(retry_after_ms) }),
                ClaimDecision::AlreadyDead { attempts, error } => {
                    ended[i] = true;
                    Slot::Decided(self.dead_letter(&deliveries[i].body, jobs[i].as_ref(), attempts, error, now(), ages[i]).await)
                }
            };
        }
    }

    /// Step 3: every claimed job concurrently, each timed on its own.
    async fn work(&self, b: &mut Batch<'_>, now: &dyn Fn() -> i64) {
        let Batch { jobs, slots, .. } = b;
        let working: Vec<(usize, &ReportJob, u32)> = slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match (s, &jobs[i]) {
                (Slot::Working { attempt }, Some(job)) => Some((i, job, *attempt)),
                _ => None,
            })
            .collect();
        let results = join_all(working.iter().map(|(_, job, _)| async move {
            let started_ms = now();
            let outcome = work::run(self.store, self.results, self.probes, job, now).await;
            (outcome, now() - started_ms)
        }))
        .await;
        for ((i, _, attempt), (outcome, duration_ms)) in working.into_iter().zip(results) {
            slots[i] = Slot::Worked { attempt, outcome, duration_ms };
        }
    }

    /// Step 4: report outcomes per shard, then act on the verdicts.
    async fn complete(&self, b: &mut Batch<'_>, now: &dyn Fn() -> i64, rng: &mut Rng) {
        let Batch { deliveries, ages, jobs, slots, ended } = b;
        let outcomes = slots.iter().enumerate().filter_map(|(i, s)| match (s, &jobs[i]) {
            (Slot::Worked { attempt, outcome, .. }, Some(job)) => Some((
                i,
                shard_of_job(job),
                JobOutcome {
                    job_id: job.job_id.clone(),
                    attempt: *attempt,
                    error: outcome.as_ref().err().cloned(),
                    superseded: false,
                    // Report jobs are not optimization runs: no rollup counts them.
                    metrics: None,
                },
            )),
            _ => None,
        });
        let groups = group_by_shard(outcomes.collect::<Vec<_>>());
        for (i, verdict) in complete_per_shard(self.ledger, groups, now(), self.config.max_attempts).await {
            // An unrecorded outcome: retry. The redelivery waits out the lease and redoes the
            // (idempotent) work.
            let Some(verdict) = verdict else {
                slots[i] = Slot::Decided(self.infra_retry(ages[i]));
                continue;
            };
            let (Slot::Worked { attempt, outcome, duration_ms }, Some(job)) =
                (std::mem::replace(&mut slots[i], Slot::Decided(Action::Ack)), &jobs[i])
            else {
                unreachable!("indexed only worked slots of decoded jobs")
            };
            // A run's customer job ended if it succeeded now or died; an error acked is a
            // stale attempt's (another delivery owns the job).
            ended[i] = matches!(verdict, Verdict::Dead { .. }) || (verdict == Verdict::Ack && outcome.is_ok());
            let worked = WorkedMessage {
                ids: ids_of(job),
                body: &deliveries[i].body,
                attempt,
                succeeded: outcome.is_ok(),
                duration_ms,
                age_ms: ages[i],
            };
            slots[i] = Slot::Decided(self.verdicts().act(verdict, worked, now(), rng).await);
        }
    }

    fn verdicts(&self) -> Verdicts<'_, D, M> {
        Verdicts { dead_letters: self.dead_letters, metrics: self.metrics, retry: &self.config.retry, origin_queue: self.origin_queue }
    }

    /// Step 5: one finalize request per monthly-analytics run whose customer jobs ended here.
    /// The messages of a run are acked only once its finalize decision is carried out.
    async fn fan_in(&self, b: &mut Batch<'_>, now: &dyn Fn() -> i64) {
        let Batch { ages, jobs, slots, ended, .. } = b;
        let mut runs: BTreeMap<&str, (&ReportJob, Vec<usize>)> = BTreeMap::new();
        for (i, job) in jobs.iter().enumerate() {
            let Some(job) = job else { continue };
            if ended[i] && matches!(job.work, ReportWork::MonthlyCustomer { .. }) && matches!(slots[i], Slot::Decided(Action::Ack)) {
                runs.entry(job.run_id.as_str()).or_insert_with(|| (job, Vec::new())).1.push(i);
            }
        }
        for (job, idx) in runs.into_values() {
            let oldest = idx.iter().map(|i| ages[*i]).max().unwrap_or(0);
            let failed = match self.finalize(job, now).await {
                Ok(()) => continue,
                // The finalize job could not be sent after the ledger's `Enqueue`: the retried
                // messages come back after the resend delay and send it again.
                Err(Failed::Send) => Action::Retry { delay_s: (FINALIZE_RESEND_AFTER_MS / 1000) as u32 },
                Err(Failed::Ledger) => self.infra_retry(oldest),
            };
            for i in idx {
                slots[i] = Slot::Decided(failed);
            }
        }
    }

    /// Carries out the fan-in for the run of `job` (one of its customer jobs).
    async fn finalize(&self, job: &ReportJob, now: &dyn Fn() -> i64) -> Result<(), Failed> {
        let now_ms = now();
        let finalize = ReportJob::single(&job.run_id, job.month, job.scheduled_ms, ReportWork::MonthlyFinalize);
        let send = match self.ledger.request_finalize(&job.run_id, now_ms).await.map_err(|_| Failed::Ledger)? {
            FinalizeDecision::NotComplete => false,
            FinalizeDecision::Enqueue => true,
            FinalizeDecision::AlreadyRequested { at_ms } => {
                now_ms - at_ms >= FINALIZE_RESEND_AFTER_MS && !self.report_written(&finalize).await
            }
        };
        if send {
            self.queue.send_batch(&[finalize.encode()]).await.map_err(|_| Failed::Send)?;
        }
        Ok(())
    }

    /// Whether the finalize job's report is in R2 (written by that job). A failed look counts
    /// as "not written": the resend it causes is harmless.
    async fn report_written(&self, finalize: &ReportJob) -> bool {
        let Some(month) = finalize.month else { return false };
        matches!(self.results.job_of(&month.analytics_key()).await, Ok(Some(id)) if id == finalize.job_id)
    }

    /// Sends a dead letter naming the job (when decoded); see [`send_dead_letter`].
    async fn dead_letter(&self, body: &str, job: Option<&ReportJob>, attempts: u32, error: JobError, now_ms: i64, age_ms: i64) -> Action {
        let letter = Letter { origin_queue: self.origin_queue, body, job: job.map(ids_of), attempts, error, now_ms };
        send_dead_letter(self.dead_letters, letter, &self.config.retry, age_ms).await
    }
}

fn ids_of(job: &ReportJob) -> JobIds<'_> {
    JobIds { job_id: &job.job_id, sweep_id: &job.run_id, customer_id: job.subject() }
}

/// Why a run's fan-in could not be carried out.
enum Failed {
    /// The ledger could not be asked.
    Ledger,
    /// The finalize job could not be sent.
    Send,
}
