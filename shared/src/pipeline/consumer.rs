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

use std::collections::BTreeMap;

use futures::future::{join3, join_all};

use crate::backoff::Rng;
use crate::config::ConsumerConfig;
use crate::elite::{EliteRequest, EliteRole, ELITE_CONTRACT_VERSION};
use crate::error::{ErrorClass, JobError};
use crate::ids::from_epoch_ms;
use crate::ledger::{shard_of, ClaimDecision, ClaimRequest, CompleteRequest, JobClaim, JobOutcome, Verdict};
use crate::ports::{DeadLetterSink, EliteClient, JobFinished, Ledger, Metrics, ResultStore};
use crate::result::{optimization_key, rfc3339, OptimizationResult};
use crate::wire::{DeadLetter, OptimizeJob, DEAD_LETTER_VERSION};

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
    Retry { delay_s: u32 },
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
    Written,
    /// A crashed attempt's result was found in R2: nothing redone.
    Recovered,
    Superseded,
}

/// Per message, what is known so far.
enum Slot {
    Decided(Action),
    Claiming(OptimizeJob),
    Working { job: OptimizeJob, attempt: u32, mode: Mode },
    Worked { job: OptimizeJob, attempt: u32, outcome: Result<Worked, JobError>, started_ms: i64 },
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
        Action::Retry { delay_s: self.config.retry.delay_for_age_s(age_ms) }
    }

    /// Step 2: one claim request per shard touched, concurrently.
    async fn claim(&self, slots: &mut [Slot], ages: &[i64], now: &dyn Fn() -> i64) {
        let lease_ms = self.config.lease_ms();
        let now_ms = now();
        let requests: Vec<(u32, Vec<usize>, ClaimRequest)> = by_shard(slots, |s| match s {
            Slot::Claiming(job) => Some(JobClaim::of(job)),
            _ => None,
        })
        .into_iter()
        .map(|(shard, idx, claims)| (shard, idx, ClaimRequest { claims, now_ms, lease_ms }))
        .collect();
        let answers = join_all(requests.iter().map(|(shard, _, req)| self.ledger.claim(*shard, req))).await;
        for ((_, idx, _), answer) in requests.into_iter().zip(answers) {
            let decisions = match answer {
                Ok(r) if r.decisions.len() == idx.len() => r.decisions,
                // The ledger is unreachable (or answered nonsense): nothing was decided for these
                // messages, so they are retried as a whole after a short backoff.
                _ => {
                    for i in idx {
                        slots[i] = Slot::Decided(self.infra_retry(ages[i]));
                    }
                    continue;
                }
            };
            for (i, decision) in idx.into_iter().zip(decisions) {
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
        let results = join_all(jobs.iter().map(|(_, job, attempt, mode)| self.run_job(job, *attempt, *mode, now))).await;
        let worked: Vec<(usize, Result<Worked, JobError>)> = jobs.iter().map(|(i, ..)| *i).zip(results).collect();
        for (i, outcome) in worked {
            let Slot::Working { job, attempt, .. } = std::mem::replace(&mut slots[i], Slot::Decided(Action::Ack)) else {
                unreachable!("indexed only working slots")
            };
            slots[i] = Slot::Worked { job, attempt, outcome, started_ms };
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
        let result = OptimizationResult::new(job, attempt, at, answers);
        let body = serde_json::to_vec_pretty(&result).map_err(|e| JobError::permanent(format!("result does not serialize: {e}")))?;
        self.results.put(&key, body, job.job_id.as_str()).await?;
        Ok(Worked::Written)
    }

    /// Steps 4 and 5: report outcomes per shard, then act on the verdicts.
    async fn complete(&self, slots: &mut [Slot], deliveries: &[Delivery], ages: &[i64], now: &dyn Fn() -> i64, rng: &mut Rng) {
        let now_ms = now();
        let max_attempts = self.config.max_attempts;
        let requests: Vec<(u32, Vec<usize>, CompleteRequest)> = by_shard(slots, |s| match s {
            Slot::Worked { job, attempt, outcome, .. } => Some(JobOutcome {
                job_id: job.job_id.as_str().to_owned(),
                attempt: *attempt,
                error: outcome.as_ref().err().cloned(),
                superseded: outcome.as_ref().is_ok_and(|w| *w == Worked::Superseded),
            }),
            _ => None,
        })
        .into_iter()
        .map(|(shard, idx, outcomes)| (shard, idx, CompleteRequest { outcomes, now_ms, max_attempts }))
        .collect();
        let answers = join_all(requests.iter().map(|(shard, _, req)| self.ledger.complete(*shard, req))).await;
        for ((_, idx, _), answer) in requests.into_iter().zip(answers) {
            let verdicts = match answer {
                Ok(r) if r.verdicts.len() == idx.len() => r.verdicts,
                // Unrecorded outcomes: retry. The redelivery finds the job still in flight,
                // waits out the lease, and recovers a written result without redoing it.
                _ => {
                    for i in idx {
                        slots[i] = Slot::Decided(self.infra_retry(ages[i]));
                    }
                    continue;
                }
            };
            for (i, verdict) in idx.into_iter().zip(verdicts) {
                let Slot::Worked { job, attempt, outcome, started_ms } = std::mem::replace(&mut slots[i], Slot::Decided(Action::Ack))
                else {
                    unreachable!("indexed only worked slots")
                };
                let finished = |succeeded, attempts| JobFinished {
                    job_id: job.job_id.as_str().to_owned(),
                    sweep_id: job.sweep_id.as_str().to_owned(),
                    customer_id: job.customer_id.as_str().to_owned(),
                    succeeded,
                    attempts,
                    duration_ms: now_ms - started_ms,
                };
                slots[i] = Slot::Decided(match verdict {
                    Verdict::Ack => {
                        if matches!(outcome, Ok(Worked::Written | Worked::Recovered)) {
                            self.metrics.job_finished(&finished(true, attempt));
                        }
                        Action::Ack
                    }
                    Verdict::Retry { attempt } => Action::Retry { delay_s: self.config.retry.delay_s(attempt, rng.next_u64()) },
                    Verdict::Dead { attempts, error } => {
                        self.metrics.job_finished(&finished(false, attempts));
                        self.dead_letter(&deliveries[i].body, Some(&job), attempts, error, now(), ages[i]).await
                    }
                });
            }
        }
    }

    /// Sends a dead letter; the message is acked only once the letter is safely sent.
    async fn dead_letter(&self, body: &str, job: Option<&OptimizeJob>, attempts: u32, error: JobError, now_ms: i64, age_ms: i64) -> Action {
        let letter = DeadLetter {
            v: DEAD_LETTER_VERSION,
            origin_queue: self.origin_queue.to_owned(),
            body: body.to_owned(),
            error,
            attempts,
            job_id: job.map(|j| j.job_id.as_str().to_owned()),
            sweep_id: job.map(|j| j.sweep_id.as_str().to_owned()),
            customer_id: job.map(|j| j.customer_id.as_str().to_owned()),
            dead_at_ms: now_ms,
        };
        match self.dead_letters.send(&letter).await {
            Ok(()) => Action::Ack,
            Err(_) => self.infra_retry(age_ms),
        }
    }
}

/// Groups the slots `item` selects by the ledger shard of their job: (shard, slot indexes,
/// items), one group per shard touched, so each step makes one ledger request per shard.
fn by_shard<T>(slots: &[Slot], item: impl Fn(&Slot) -> Option<T>) -> Vec<(u32, Vec<usize>, Vec<T>)> {
    let mut groups: BTreeMap<u32, (Vec<usize>, Vec<T>)> = BTreeMap::new();
    for (i, slot) in slots.iter().enumerate() {
        let job = match slot {
            Slot::Claiming(job) | Slot::Working { job, .. } | Slot::Worked { job, .. } => job,
            Slot::Decided(_) => continue,
        };
        if let Some(value) = item(slot) {
            let group = groups.entry(shard_of(&job.customer_id)).or_default();
            group.0.push(i);
            group.1.push(value);
        }
    }
    groups.into_iter().map(|(shard, (idx, items))| (shard, idx, items)).collect()
}

/// Whole seconds until a lease of `retry_after_ms` has passed. Never shorter than the lease:
/// a shorter retry would only meet the same lease again and spend a queue retry.
fn after_lease_s(retry_after_ms: i64) -> u32 {
    let s = u32::try_from((retry_after_ms.max(0) + 999) / 1000).unwrap_or(u32::MAX);
    s.clamp(1, crate::backoff::RetryPolicy::QUEUE_MAX_DELAY_S)
}

/// The error that decides a job's fate when several elite calls failed: any permanent failure
/// makes the job permanent (retrying cannot fix it); the messages are joined for the record.
fn worst(errors: [Option<JobError>; 3]) -> JobError {
    let errors: Vec<JobError> = errors.into_iter().flatten().collect();
    let class = if errors.iter().any(|e| e.class == ErrorClass::Permanent) { ErrorClass::Permanent } else { ErrorClass::Transient };
    let message = errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ");
    JobError::new(class, message)
}
