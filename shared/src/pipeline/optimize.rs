//! The optimization job kind: one message is one customer site in one sweep. Its work is three
//! elite calls, concurrently, then one R2 write of the result; a job whose earlier attempt
//! crashed first looks for the result that attempt may have written, so success is never
//! redone. The claim, the verdicts and the dead letters are the [`Consumer`]'s.
//!
//! The job's calls (the three elite calls, the R2 write, a recovery's R2 read) take their
//! connections from the invocation's [`Slots`], one per call, so the invocation never holds
//! more than `ELITE_CALLS_IN_FLIGHT` (4 as deployed: one job's three calls and the next job's
//! first) whatever the jobs' phases.
//!
//! Every request carries the platform context of the month before its sweep's (the insights
//! the monthly analytics wrote, `reports::insights`), read from R2 once per batch and month
//! before any job is worked ([`JobKind::before_work`]), never per message. A context that is
//! missing, unreadable or of another version is left out: it is advice, and never fails a job.
//!
//! Where the Worker gives it the elite circuit breakers ([`OptimizeJobs::with_breakers`]), a
//! batch first asks them how many of its jobs may be worked ([`JobKind::admit`]: an open role
//! holds them all back, unclaimed, for its cool-down) and, alongside the ledger's completes, tells them what
//! each role's calls did (one request each; a breakers instance that cannot be reached admits
//! everything and learns nothing from that batch).
//!
//! [`Consumer`]: super::consumer::Consumer

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use futures::future::{join3, join_all};

use crate::breaker::{BreakerReport, GateRequest, RoleCalls};
use crate::config::{ConsumerConfig, ELITE_CALLS_PER_JOB};
use crate::elite::{EliteRequest, EliteRole, PlatformContext, ELITE_CONTRACT_VERSION, PLATFORM_CONTEXT_VERSION};
use crate::error::{ErrorClass, JobError};
use crate::ids::{from_epoch_ms, rfc3339};
use crate::ledger::{JobClaim, JobMetrics, Recovery};
use crate::optimization::{optimization_key, OptimizationResult};
use crate::pipeline::budget::Slots;
use crate::pipeline::consumer::{Claimed, JobKind, Worked};
use crate::ports::{Breakers, EliteClient, NoBreakers, ObjectReader, ResultStore};
use crate::reports::insights::{context_key, context_month};
use crate::reports::period::Month;
use crate::wire::OptimizeJob;

/// The service-binding calls of one optimization job: one per elite role. A consumer of
/// optimization jobs keeps `max_batch_size` at or below
/// `budget::jobs_per_invocation(SERVICE_BINDING_CALLS_PER_JOB)` (checked by the configuration
/// check).
pub const SERVICE_BINDING_CALLS_PER_JOB: u32 = ELITE_CALLS_PER_JOB;

/// Optimization jobs, with the ports their work needs.
pub struct OptimizeJobs<'a, E, R, B = NoBreakers> {
    /// The three elite workers.
    elite: &'a E,
    /// The results bucket (R2): written by the work, read by a recovery and for the context.
    results: &'a R,
    /// The platform context per month of insights, as read by `before_work` for this batch.
    contexts: RefCell<BTreeMap<Month, Option<PlatformContext>>>,
    /// The invocation's connections, shared by every call of every job.
    slots: Slots,
    /// The elite circuit breakers, and what this batch's calls did per role.
    breakers: &'a B,
    observed: RefCell<BTreeMap<EliteRole, RoleCalls>>,
    /// Jobs the gate admitted, and those of them that called the elites.
    admitted: Cell<u32>,
    called: Cell<u32>,
}

impl<'a, E, R> OptimizeJobs<'a, E, R, NoBreakers> {
    /// Without breakers: every job is worked; its calls share `config.elite_calls_in_flight`
    /// connections.
    pub fn new(elite: &'a E, results: &'a R, config: &ConsumerConfig) -> Self {
        Self::with_breakers(elite, results, config, &NoBreakers)
    }
}

impl<'a, E, R, B> OptimizeJobs<'a, E, R, B> {
    /// The jobs of one invocation, whose calls share `config.elite_calls_in_flight` connections,
    /// gated by `breakers`.
    pub fn with_breakers(elite: &'a E, results: &'a R, config: &ConsumerConfig, breakers: &'a B) -> Self {
        let (admitted, called) = (Cell::new(0), Cell::new(0));
        Self {
            elite,
            results,
            contexts: RefCell::new(BTreeMap::new()),
            slots: Slots::new(config.elite_calls_in_flight),
            breakers,
            observed: RefCell::default(),
            admitted,
            called,
        }
    }

    /// Counts one elite call's answer for the breakers: transient failures are what an outage
    /// looks like; a permanent one is an answer from a working role.
    fn observe<T>(&self, role: EliteRole, answer: &Result<T, JobError>) {
        let mut observed = self.observed.borrow_mut();
        let calls = observed.entry(role).or_default();
        calls.calls += 1;
        calls.failures += u64::from(answer.as_ref().is_err_and(|e| e.class == ErrorClass::Transient));
    }
}

/// The connections the consumer counts per job when it decides how many jobs work side by
/// side (its bound divided by this): two jobs for four slots, enough that the slots never idle
/// while a job writes its result (one job's three calls and the next job's first fill four),
/// few enough that a job seldom waits for slots with its duration running; one for three.
const CONNECTIONS_PER_JOB_SHARE: u32 = 2;

/// The platform context stored at `key`, if there is a readable one of this build's version.
async fn read_context(results: &impl ObjectReader, month: Month) -> Option<PlatformContext> {
    let body = results.get(&context_key(month)).await.ok()??;
    let context: Option<PlatformContext> = serde_json::from_slice(&body).ok()?;
    context.filter(|c| c.v == PLATFORM_CONTEXT_VERSION)
}

impl<E: EliteClient, R: ResultStore + ObjectReader, B: Breakers> JobKind for OptimizeJobs<'_, E, R, B> {
    type Job = OptimizeJob;

    fn decode(body: &str) -> Result<OptimizeJob, JobError> {
        OptimizeJob::decode(body)
    }

    fn claim(job: &OptimizeJob) -> JobClaim {
        JobClaim::of(job)
    }

    fn lease_ms(config: &ConsumerConfig) -> i64 {
        config.lease_ms()
    }

    /// One call per elite role.
    fn service_binding_calls(_job: &OptimizeJob) -> u32 {
        SERVICE_BINDING_CALLS_PER_JOB
    }

    /// Not what a job holds (its calls take their connections from the slots, at most
    /// `elite_calls_in_flight` for all jobs together) but the share the consumer divides its
    /// bound by to decide how many jobs work side by side: two for four slots, one for three.
    fn connections(_job: &OptimizeJob) -> u32 {
        CONNECTIONS_PER_JOB_SHARE
    }

    /// Asks the breakers how many jobs may be worked; the others wait out the cool-down.
    async fn admit(&self, jobs: u32, now_ms: i64) -> (u32, u32) {
        match self.breakers.gate(&GateRequest { jobs, now_ms }).await {
            Ok(answer) => {
                self.admitted.set(answer.admit.min(jobs));
                (answer.admit.min(jobs), u32::try_from(answer.retry_after_ms.div_euclid(1_000) + 1).unwrap_or(u32::MAX))
            }
            Err(_) => (jobs, 0),
        }
    }

    /// Tells the breakers what this batch's elite calls did, per role (alongside the ledger's
    /// completes: what the breakers learn does not depend on the verdicts).
    async fn after_work(&self, now: &dyn Fn() -> i64) {
        let calls: Vec<(EliteRole, RoleCalls)> = std::mem::take(&mut *self.observed.borrow_mut()).into_iter().collect();
        let unused = self.admitted.replace(0).saturating_sub(self.called.replace(0));
        if !calls.is_empty() || unused > 0 {
            // A lost report only delays an opening or a closing by a batch.
            let _ = self.breakers.report(&BreakerReport { calls, unused, now_ms: now() }).await;
        }
    }

    /// Reads the platform context of each month the batch's sweeps need, once (one R2 read per
    /// month, concurrently; a batch is almost always one sweep, so one read).
    async fn before_work(&self, jobs: &[&OptimizeJob]) {
        let months: Vec<Month> = {
            let known = self.contexts.borrow();
            let mut months: Vec<Month> =
                jobs.iter().map(|j| context_month(Month::of(j.scheduled))).filter(|m| !known.contains_key(m)).collect();
            months.sort();
            months.dedup();
            months
        };
        let read = join_all(months.iter().map(|m| read_context(self.results, *m))).await;
        self.contexts.borrow_mut().extend(months.into_iter().zip(read));
    }

    /// One job: the three elite calls concurrently, then the R2 write. A job in recovery first
    /// looks for the object a crashed attempt may have written, so success is not redone.
    async fn work(&self, job: &OptimizeJob, claimed: Claimed, now: &dyn Fn() -> i64) -> Result<Worked, JobError> {
        let key = optimization_key(&job.customer_id, job.scheduled);
        if claimed.recovery != Recovery::Fresh {
            if self.slots.run(|| self.results.job_of(&key)).await?.as_deref() == Some(job.job_id.as_str()) {
                return Ok(Worked::Recovered);
            }
            if claimed.recovery == Recovery::LookOnly {
                return Ok(Worked::Superseded);
            }
        }
        let platform_context = self.contexts.borrow().get(&context_month(Month::of(job.scheduled))).cloned().flatten();
        let request = |role| EliteRequest {
            v: ELITE_CONTRACT_VERSION,
            role,
            job_id: job.job_id.as_str().to_owned(),
            customer_id: job.customer_id.as_str().to_owned(),
            site_url: job.site_url.as_str().to_owned(),
            scheduled_at: rfc3339(job.scheduled),
            platform_context: platform_context.clone(),
        };
        let (brand, designer, developer) = (request(EliteRole::Brand), request(EliteRole::Designer), request(EliteRole::Developer));
        self.called.set(self.called.get() + 1);
        let call = |request| self.slots.run(move || self.elite.optimize(request));
        let (b, d, v) = join3(call(&brand), call(&designer), call(&developer)).await;
        self.observe(EliteRole::Brand, &b);
        self.observe(EliteRole::Designer, &d);
        self.observe(EliteRole::Developer, &v);
        let answers = match (b, d, v) {
            (Ok(b), Ok(d), Ok(v)) => [b, d, v],
            (b, d, v) => return Err(worst([b.err(), d.err(), v.err()])),
        };
        let at = from_epoch_ms(now()).unwrap_or(job.scheduled);
        let scores = [answers[0].score, answers[1].score, answers[2].score];
        let result = OptimizationResult::new(job, claimed.attempt, at, answers);
        let body = serde_json::to_vec_pretty(&result).map_err(|e| JobError::permanent(format!("result does not serialize: {e}")))?;
        self.slots.run(|| self.results.put(&key, body, job.job_id.as_str())).await?;
        Ok(Worked::Done { scores: Some(scores) })
    }

    /// What the customer's daily rollup learns of a worked job: its duration, and its scores
    /// when this attempt wrote the result. A superseded job is not a run and reports nothing.
    fn rollup_metrics(outcome: &Result<Worked, JobError>, duration_ms: i64) -> Option<JobMetrics> {
        match outcome {
            Ok(Worked::Superseded) => None,
            Ok(Worked::Done { scores }) => Some(JobMetrics { duration_ms, scores: *scores }),
            Ok(Worked::Recovered) | Err(_) => Some(JobMetrics { duration_ms, scores: None }),
        }
    }
}

/// The error that decides a job's fate when several elite calls failed: any permanent failure
/// makes the job permanent (retrying cannot fix it); the messages are joined for the record.
fn worst(errors: [Option<JobError>; 3]) -> JobError {
    let errors: Vec<JobError> = errors.into_iter().flatten().collect();
    let class = if errors.iter().any(|e| e.class == ErrorClass::Permanent) { ErrorClass::Permanent } else { ErrorClass::Transient };
    let message = errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ");
    JobError::new(class, message)
}
