//! The optimizer consumer's batch processing. For one delivered batch it decides, per
//! message, ack or retry-after-delay, and performs the work in between:
//!
//! 1. decode every body (an undecodable one is dead-lettered with its reason, alone);
//! 2. claim the jobs in the ledger, one request per shard touched;
//! 3. work the claimed jobs concurrently: three elite calls each, then one R2 write;
//! 4. report the outcomes to the ledger, one request per shard touched;
//! 5. turn the ledger's verdicts into acks, delayed retries and dead letters.
//!
//! A failure of one message never decides the fate of another.

use futures::future::{join3, join_all};

use crate::backoff::Rng;
use crate::config::ConsumerConfig;
use crate::elite::{EliteRequest, EliteRole, ELITE_CONTRACT_VERSION};
use crate::error::{ErrorClass, JobError};
use crate::ids::from_epoch_ms;
use crate::ledger::{shard_of, ClaimDecision, JobClaim, JobMetrics, JobOutcome};
use crate::pipeline::batch::{
    self, after_lease_s, claim_per_shard, complete_per_shard, group_by_shard, send_dead_letter, JobIds, Letter, Verdicts, WorkedMessage,
};
use crate::ports::{DeadLetterSink, EliteClient, Ledger, Metrics, ResultStore};
use crate::result::{optimization_key, rfc3339, OptimizationResult};
use crate::wire::OptimizeJob;

/// One delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The body as text.
    pub body: String,
    /// When the message was first sent (epoch ms): infrastructure retries back off by age.
    pub sent_ms: i64,
}

/// What to do with one delivered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Ack,
    /// Retry after this many seconds.
    Retry {
        delay_s: u32,
    },
}

/// The ports and settings one consumer invocation works with.
pub struct Consumer<'a, L, E, R, D, M> {
    pub ledger: &'a L,
    pub elite: &'a E,
    pub results: &'a R,
    pub dead_letters: &'a D,
    pub metrics: &'a M,
    pub config: &'a ConsumerConfig,
    /// Name of the queue the batch came from, recorded in dead letters.
    pub origin_queue: &'a str,
}

/// How a claimed job is to be worked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A first attempt or a retry: do the work.
    Fresh,
    /// A crashed attempt may have written the result: use it if so, else do the work.
    Recovering,
    /// A crashed attempt may have written the result: use it if so, else the job is
    /// superseded by a newer sweep and must not be worked.
    RecoverOnly,
}

/// How a worked job ended well.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Worked {
    /// Written now, with the elite workers' scores (brand, designer, developer).
    Written {
        scores: [u8; 3],
    },
    /// A crashed attempt's result was found in R2: nothing redone.
    Recovered,
    Superseded,
}

/// Per message, what is known so far.
enum Slot {
    Decided(Action),
    Claiming(OptimizeJob),
    Working {
        job: OptimizeJob,
        attempt: u32,
        mode: Mode,
    },
    /// `duration_ms`: from the start of the batch's work to the end of this job's.
    Worked {
        job: OptimizeJob,
        attempt: u32,
        outcome: Result<Worked, JobError>,
        duration_ms: i64,
    },
}

impl<L, E, R, D, M> Consumer<'_, L, E, R, D, M>
where
    L: Ledger,
    E: EliteClient,
    R: ResultStore,
    D: DeadLetterSink,
    M: Metrics,
{
    /// Processes one batch; returns one action per delivery, in order.
    pub async fn process_batch(&self, deliveries: &[Delivery], now: &dyn Fn() -> i64, rng: &mut Rng) -> Vec<Action> {
        let ages: Vec<i64> = deliveries.iter().map(|d| now() - d.sent_ms).collect();
        let mut slots = Vec::with_capacity(deliveries.len());
        for (d, age) in deliveries.iter().zip(&ages) {
            slots.push(match OptimizeJob::decode(&d.body) {
                Ok(job) => Slot::Claiming(job),
                Err(e) if e.class == ErrorClass::Transient => Slot::Decided(self.infra_retry(*age)),
                Err(error) => Slot::Decided(self.dead_letter(&d.body, None, 0, error, now(), *age).await),
            });
        }
        self.claim(&mut slots, &ages, now).await;
        self.work(&mut slots, now).await;
        self.complete(&mut slots, deliveries, &ages, now, rng).await;
        slots
            .into_iter()
            .map(|s| match s {
                Slot::Decided(a) => a,
                // Every other state was resolved above; a leftover is retried, never dropped.
                _ => Action::Retry { delay_s: 1 },
            })
            .collect()
    }

    /// A retry for an infrastructure failure, backing off by the message's age.
    fn infra_retry(&self, age_ms: i64) -> Action {
        batch::infra_retry(&self.config.retry, age_ms)
    }

    /// Step 2: one claim request per shard touched, concurrently.
    async fn claim(&self, slots: &mut [Slot], ages: &[i64], now: &dyn Fn() -> i64) {
        let claims = slots.iter().enumerate().filter_map(|(i, s)| match s {
            Slot::Claiming(job) => Some((i, shard_of(&job.customer_id), JobClaim::of(job))),
            _ => None,
        });
        let groups = group_by_shard(claims.collect::<Vec<_>>());
        for (i, decision) in claim_per_shard(self.ledger, groups, now(), self.config.lease_ms()).await {
            // The ledger is unreachable (or answered nonsense): nothing was decided for this
            // message, so it is retried after a short backoff.
            let Some(decision) = decision else {
                slots[i] = Slot::Decided(self.infra_retry(ages[i]));
                continue;
            };
            let Slot::Claiming(job) = std::mem::replace(&mut slots[i], Slot::Decided(Action::Ack)) else {
                unreachable!("indexed only claiming slots")
            };
            slots[i] = match decision {
                ClaimDecision::Work { attempt, recovering } => {
                    let mode = if recovering { Mode::Recovering } else { Mode::Fresh };
                    Slot::Working { job, attempt, mode }
                }
                ClaimDecision::Recover { attempt } => Slot::Working { job, attempt, mode: Mode::RecoverOnly },
                ClaimDecision::Duplicate | ClaimDecision::Superseded => Slot::Decided(Action::Ack),
                ClaimDecision::Busy { retry_after_ms } => Slot::Decided(Action::Retry { delay_s: after_lease_s(retry_after_ms) }),
                ClaimDecision::AlreadyDead { attempts, error } => {
                    let body = job.encode();
                    Slot::Decided(self.dead_letter(&body, Some(&job), attempts, error, now(), ages[i]).await)
                }
            };
        }
    }

    /// Step 3: every claimed job concurrently.
    async fn work(&self, slots: &mut [Slot], now: &dyn Fn() -> i64) {
        let started_ms = now();
        let jobs: Vec<(usize, &OptimizeJob, u32, Mode)> = slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Slot::Working { job, attempt, mode } => Some((i, job, *attempt, *mode)),
                _ => None,
            })
            .collect();
        // Each job's own end time: a slow job must not lend its duration to the whole batch.
        let results = join_all(jobs.iter().map(|(_, job, attempt, mode)| async move {
            let outcome = self.run_job(job, *attempt, *mode, now).await;
            (outcome, now())
        }))
        .await;
        let slot_of: Vec<usize> = jobs.iter().map(|(i, ..)| *i).collect();
        for (i, (outcome, ended_ms)) in slot_of.into_iter().zip(results) {
            let Slot::Working { job, attempt, .. } = std::mem::replace(&mut slots[i], Slot::Decided(Action::Ack)) else {
                unreachable!("indexed only working slots")
            };
            slots[i] = Slot::Worked { job, attempt, outcome, duration_ms: ended_ms - started_ms };
        }
    }

    /// One job: the three elite calls concurrently, then the R2 write. A recovered job first
    /// looks for the object a crashed attempt may have written, so success is not redone.
    async fn run_job(&self, job: &OptimizeJob, attempt: u32, mode: Mode, now: &dyn Fn() -> i64) -> Result<Worked, JobError> {
        let key = optimization_key(&job.customer_id, job.scheduled);
        if mode != Mode::Fresh {
            if self.results.job_of(&key).await?.as_deref() == Some(job.job_id.as_str()) {
                return Ok(Worked::Recovered);
            }
            if mode == Mode::RecoverOnly {
                return Ok(Worked::Superseded);
            }
        }
        let request = |role| EliteRequest {
            v: ELITE_CONTRACT_VERSION,
            role,
            job_id: job.job_id.as_str().to_owned(),
            customer_id: job.customer_id.as_str().to_owned(),
            site_url: job.site_url.as_str().to_owned(),
            scheduled_at: rfc3339(job.scheduled),
        };
        let (brand, designer, developer) = (request(EliteRole::Brand), request(EliteRole::Designer), request(EliteRole::Developer));
        let (b, d, v) = join3(self.elite.optimize(&brand), self.elite.optimize(&designer), self.elite.optimize(&developer)).await;
        let answers = match (b, d, v) {
            (Ok(b), Ok(d), Ok(v)) => [b, d, v],
            (b, d, v) => return Err(worst([b.err(), d.err(), v.err()])),
        };
        let at = from_epoch_ms(now()).unwrap_or(job.scheduled);
        let scores = [answers[0].score, answers[1].score, answers[2].score];
        let result = OptimizationResult::new(job, attempt, at, answers);
        let body = serde_json::to_vec_pretty(&result).map_err(|e| JobError::permanent(format!("result does not serialize: {e}")))?;
        self.results.put(&key, body, job.job_id.as_str()).await?;
        Ok(Worked::Written { scores })
    }

    /// Steps 4 and 5: report outcomes per shard, then act on the verdicts.
    async fn complete(&self, slots: &mut [Slot], deliveries: &[Delivery], ages: &[i64], now: &dyn Fn() -> i64, rng: &mut Rng) {
        let outcomes = slots.iter().enumerate().filter_map(|(i, s)| match s {
            Slot::Worked { job, attempt, outcome, duration_ms } => Some((
                i,
                shard_of(&job.customer_id),
                JobOutcome {
                    job_id: job.job_id.as_str().to_owned(),
                    attempt: *attempt,
                    error: outcome.as_ref().err().cloned(),
                    superseded: outcome.as_ref().is_ok_and(|w| *w == Worked::Superseded),
                    metrics: metrics_of(outcome, *duration_ms),
                },
            )),
            _ => None,
        });
        let groups = group_by_shard(outcomes.collect::<Vec<_>>());
        for (i, verdict) in complete_per_shard(self.ledger, groups, now(), self.config.max_attempts).await {
            // An unrecorded outcome: retry. The redelivery finds the job still in flight, waits
            // out the lease, and recovers a written result without redoing it.
            let Some(verdict) = verdict else {
                slots[i] = Slot::Decided(self.infra_retry(ages[i]));
                continue;
            };
            let Slot::Worked { job, attempt, outcome, duration_ms } = std::mem::replace(&mut slots[i], Slot::Decided(Action::Ack)) else {
                unreachable!("indexed only worked slots")
            };
            let worked = WorkedMessage {
                ids: ids_of(&job),
                body: &deliveries[i].body,
                attempt,
                succeeded: matches!(outcome, Ok(Worked::Written { .. } | Worked::Recovered)),
                duration_ms,
                age_ms: ages[i],
            };
            slots[i] = Slot::Decided(self.verdicts().act(verdict, worked, now(), rng).await);
        }
    }

    fn verdicts(&self) -> Verdicts<'_, D, M> {
        Verdicts { dead_letters: self.dead_letters, metrics: self.metrics, retry: &self.config.retry, origin_queue: self.origin_queue }
    }

    /// Sends a dead letter naming the job (when decoded); see [`send_dead_letter`].
    async fn dead_letter(&self, body: &str, job: Option<&OptimizeJob>, attempts: u32, error: JobError, now_ms: i64, age_ms: i64) -> Action {
        let letter = Letter { origin_queue: self.origin_queue, body, job: job.map(ids_of), attempts, error, now_ms };
        send_dead_letter(self.dead_letters, letter, &self.config.retry, age_ms).await
    }
}

fn ids_of(job: &OptimizeJob) -> JobIds<'_> {
    JobIds { job_id: job.job_id.as_str(), sweep_id: job.sweep_id.as_str(), customer_id: job.customer_id.as_str() }
}

/// What the ledger's daily rollup learns of a worked job: its duration, and its scores when
/// this attempt wrote the result. A superseded job is not a run and reports nothing.
fn metrics_of(outcome: &Result<Worked, JobError>, duration_ms: i64) -> Option<JobMetrics> {
    match outcome {
        Ok(Worked::Superseded) => None,
        Ok(Worked::Written { scores }) => Some(JobMetrics { duration_ms, scores: Some(*scores) }),
        Ok(Worked::Recovered) | Err(_) => Some(JobMetrics { duration_ms, scores: None }),
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
