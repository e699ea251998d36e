//! The job consumer: one driver for every queue of jobs (optimizations, report work). For one
//! delivered batch it decides, per message, ack or retry-after-delay, and performs the work in
//! between:
//!
//! 1. decode every body (an undecodable one is dead-lettered with its reason, alone; a newer
//!    wire version is retried until the consumer is updated);
//! 2. hold back what the kind does not admit now, unclaimed ([`JobKind::admit`]: the elite
//!    circuit breakers), and claim the rest in the ledger, one request per shard touched
//!    ([`super::shard_calls`]), while the kind reads what the whole batch needs
//!    ([`JobKind::before_work`]: the optimizer's platform context);
//! 3. work the claimed jobs concurrently, each timed on its own, within the invocation's
//!    budget ([`super::budget`]): jobs whose service-binding calls would not fit are deferred
//!    unclaimed, and at most `elite_calls_in_flight` connections are open at once;
//! 4. report the outcomes to the ledger, one request per shard touched, and act on the
//!    verdicts: ack (with an analytics data point), retry with backoff, or dead-letter; the
//!    kind's after-work hook runs alongside ([`JobKind::after_work`]: the optimizer's report to
//!    its circuit breakers), on a connection kept for it;
//! 5. hand the settled messages to the job kind's after-verdicts hook (the reports consumer's
//!    fan-in of monthly runs), which may hold some of them back.
//!
//! What differs between kinds of job is a [`JobKind`]: [`super::optimize::OptimizeJobs`] and
//! [`super::reports::ReportJobs`]. A failure of one message never decides the fate of another,
//! except where the kind's hook ties messages to one shared request.

use super::delivery::infra_retry;
use crate::backoff::RetryPolicy;
use crate::backoff::Rng;
use crate::config::ConsumerConfig;
use crate::error::{ErrorClass, JobError};
use crate::ledger::{ClaimDecision, JobClaim, JobOutcome, Verdict};
use crate::pipeline::budget::{admit, bounded, jobs_in_flight, DEFERRED_DELAY_S};
use crate::pipeline::shard_calls::{claim_per_shard, complete_per_shard, group_by_shard};
use crate::ports::{DeadLetterSink, JobFinished, Ledger, Metrics};
use crate::wire::{DeadLetter, DEAD_LETTER_VERSION};

pub use super::delivery::{Action, Claimed, Delivery, Worked};
pub use super::kind::{JobKind, Settled};

/// The ports and settings one consumer invocation works with: the kind's jobs (with the ports
/// their work needs) and what every kind shares.
pub struct Consumer<'a, K, L, D, M> {
    pub jobs: K,
    /// Claims jobs and records their outcomes.
    pub ledger: &'a L,
    pub dead_letters: &'a D,
    /// One data point per finished job.
    pub metrics: &'a M,
    pub config: &'a ConsumerConfig,
    /// Name of the queue the batch came from, recorded in dead letters.
    pub origin_queue: &'a str,
}

/// One message while its batch is being decided.
struct Message<'d, J> {
    delivery: &'d Delivery,
    age_ms: i64,
    /// The decoded job and its claim, when the body decoded.
    job: Option<(J, JobClaim)>,
    state: Slot,
    /// See [`Settled::ended`].
    ended: bool,
}

/// Per message, what is known so far.
enum Slot {
    Decided(Action),
    Claiming,
    Working(Claimed),
    /// `duration_ms`: from the start of this job's work to its end.
    Worked {
        attempt: u32,
        outcome: Result<Worked, JobError>,
        duration_ms: i64,
    },
}

impl<K, L, D, M> Consumer<'_, K, L, D, M>
where
    K: JobKind,
    L: Ledger,
    D: DeadLetterSink,
    M: Metrics,
{
    /// Processes one batch; returns one action per delivery, in order.
    pub async fn process_batch(&self, deliveries: &[Delivery], now: &dyn Fn() -> i64, rng: &mut Rng) -> Vec<Action> {
        let ages: Vec<i64> = deliveries.iter().map(|d| now() - d.sent_ms).collect();
        let mut batch = Vec::with_capacity(deliveries.len());
        for (delivery, age_ms) in deliveries.iter().zip(ages) {
            let (job, state) = match K::decode(&delivery.body) {
                Ok(job) => {
                    let claim = K::claim(&job);
                    (Some((job, claim)), Slot::Claiming)
                }
                Err(e) if e.class == ErrorClass::Transient => (None, Slot::Decided(self.infra_retry(age_ms))),
                Err(error) => (None, Slot::Decided(self.dead_letter(&delivery.body, None, 0, error, now(), age_ms).await)),
            };
            batch.push(Message { delivery, age_ms, job, state, ended: false });
        }
        self.defer_beyond_budget(&mut batch);
        self.hold_back(&mut batch, now).await;
        self.claim(&mut batch, now).await;
        self.work(&mut batch, now).await;
        futures::join!(self.complete(&mut batch, now, rng), self.jobs.after_work(now));
        self.after_verdicts(&mut batch, now).await;
        batch
            .into_iter()
            .map(|m| match m.state {
                Slot::Decided(a) => a,
                // Every other state was resolved above; a leftover is retried, never dropped.
                _ => Action::Retry { delay_s: 1 },
            })
            .collect()
    }

    /// Before claiming: the jobs whose service-binding calls would overrun the invocation's
    /// budget are retried at once, unclaimed (no attempt is counted), for another invocation.
    fn defer_beyond_budget(&self, batch: &mut [Message<'_, K::Job>]) {
        let claiming: Vec<usize> = (0..batch.len()).filter(|&i| matches!(batch[i].state, Slot::Claiming)).collect();
        let calls = claiming.iter().map(|&i| batch[i].job.as_ref().map_or(0, |(job, _)| K::service_binding_calls(job)));
        for (i, _) in claiming.iter().zip(admit(calls)).filter(|(_, taken)| !taken) {
            batch[*i].state = Slot::Decided(Action::Retry { delay_s: DEFERRED_DELAY_S });
        }
    }

    /// Before claiming: the jobs the kind does not admit now ([`JobKind::admit`]) are retried
    /// after its delay, unclaimed.
    async fn hold_back(&self, batch: &mut [Message<'_, K::Job>], now: &dyn Fn() -> i64) {
        let claiming: Vec<usize> = (0..batch.len()).filter(|&i| matches!(batch[i].state, Slot::Claiming)).collect();
        if claiming.is_empty() {
            return;
        }
        let (admitted, delay_s) = self.jobs.admit(claiming.len() as u32, now()).await;
        for &i in claiming.iter().skip(admitted as usize) {
            batch[i].state = Slot::Decided(Action::Retry { delay_s });
        }
    }

    /// Step 2: one claim request per shard touched, concurrently, and the kind's
    /// [`JobKind::before_work`] alongside them, on the connection the claims leave free.
    async fn claim(&self, batch: &mut [Message<'_, K::Job>], now: &dyn Fn() -> i64) {
        let in_flight = (self.config.elite_calls_in_flight as usize).saturating_sub(1).max(1);
        let claimed = {
            let (claims, claiming): (Vec<_>, Vec<&K::Job>) = batch
                .iter()
                .enumerate()
                .filter_map(|(i, m)| match (&m.state, &m.job) {
                    (Slot::Claiming, Some((job, claim))) => Some(((i, claim.shard_in(self.ledger.shard_maps()), claim.clone()), job)),
                    _ => None,
                })
                .unzip();
            let claims = claim_per_shard(self.ledger, group_by_shard(claims), now(), K::lease_ms(self.config), in_flight);
            let read = async {
                if !claiming.is_empty() {
                    self.jobs.before_work(&claiming).await;
                }
            };
            futures::join!(claims, read).0
        };
        for (i, decision) in claimed {
            let m = &mut batch[i];
            // The ledger is unreachable (or answered nonsense): nothing was decided for this
            // message, so it is retried after a short backoff.
            let Some(decision) = decision else {
                m.state = Slot::Decided(self.infra_retry(m.age_ms));
                continue;
            };
            m.state = match decision {
                ClaimDecision::Work { attempt, recovery } => Slot::Working(Claimed { attempt, recovery }),
                ClaimDecision::Duplicate | ClaimDecision::Superseded => {
                    m.ended = true;
                    Slot::Decided(Action::Ack)
                }
                ClaimDecision::Busy { retry_after_ms } => {
                    Slot::Decided(Action::Retry { delay_s: RetryPolicy::after_lease_s(retry_after_ms) })
                }
                ClaimDecision::AlreadyDead { attempts, error } => {
                    m.ended = true;
                    let claim = m.job.as_ref().map(|(_, claim)| claim);
                    Slot::Decided(self.dead_letter(&m.delivery.body, claim, attempts, error, now(), m.age_ms).await)
                }
            };
        }
    }

    /// Step 3: the claimed jobs, as many at once as `elite_calls_in_flight` connections allow,
    /// each timed on its own from when it starts: a slow job must not lend its duration to the
    /// others, and a job waiting for a slot is not yet running.
    async fn work(&self, batch: &mut [Message<'_, K::Job>], now: &dyn Fn() -> i64) {
        let working: Vec<(usize, &K::Job, Claimed)> = batch
            .iter()
            .enumerate()
            .filter_map(|(i, m)| match (&m.state, &m.job) {
                (Slot::Working(claimed), Some((job, _))) => Some((i, job, *claimed)),
                _ => None,
            })
            .collect();
        let widest = working.iter().map(|(_, job, _)| K::connections(job)).max().unwrap_or(1);
        let concurrency = jobs_in_flight(self.config.elite_calls_in_flight, widest);
        let results =
            bounded(working.iter().map(|(_, job, claimed)| (*job, *claimed)).collect(), concurrency, |(job, claimed)| async move {
                let started_ms = now();
                let outcome = self.jobs.work(job, claimed, now).await;
                (claimed.attempt, outcome, now() - started_ms)
            })
            .await;
        let slots: Vec<usize> = working.into_iter().map(|(i, ..)| i).collect();
        for (i, (attempt, outcome, duration_ms)) in slots.into_iter().zip(results) {
            batch[i].state = Slot::Worked { attempt, outcome, duration_ms };
        }
    }

    /// Step 4: report outcomes per shard, then act on the verdicts. One connection of the
    /// budget is left to the kind's [`JobKind::after_work`], which runs alongside.
    async fn complete(&self, batch: &mut [Message<'_, K::Job>], now: &dyn Fn() -> i64, rng: &mut Rng) {
        let outcomes = batch.iter().enumerate().filter_map(|(i, m)| match (&m.state, &m.job) {
            (Slot::Worked { attempt, outcome, duration_ms }, Some((_, claim))) => Some((
                i,
                claim.shard_in(self.ledger.shard_maps()),
                JobOutcome {
                    job_id: claim.job_id.clone(),
                    attempt: *attempt,
                    error: outcome.as_ref().err().cloned(),
                    superseded: outcome.as_ref().is_ok_and(|w| *w == Worked::Superseded),
                    metrics: K::rollup_metrics(outcome, *duration_ms),
                },
            )),
            _ => None,
        });
        let groups = group_by_shard(outcomes.collect::<Vec<_>>());
        let in_flight = (self.config.elite_calls_in_flight as usize).saturating_sub(1).max(1);
        for (i, verdict) in complete_per_shard(self.ledger, groups, now(), self.config.max_attempts, in_flight).await {
            let m = &mut batch[i];
            // An unrecorded outcome: retry. The redelivery finds the job still in flight, waits
            // out the lease, and recovers a written result (or redoes idempotent work).
            let Some(verdict) = verdict else {
                m.state = Slot::Decided(self.infra_retry(m.age_ms));
                continue;
            };
            let (Slot::Worked { attempt, outcome, duration_ms }, Some((_, claim))) =
                (std::mem::replace(&mut m.state, Slot::Decided(Action::Ack)), &m.job)
            else {
                unreachable!("indexed only worked slots of decoded jobs")
            };
            m.ended = matches!(verdict, Verdict::Dead { .. }) || (verdict == Verdict::Ack && outcome.is_ok());
            let worked = WorkedMessage {
                claim,
                body: &m.delivery.body,
                attempt,
                succeeded: matches!(outcome, Ok(Worked::Done { .. } | Worked::Recovered)),
                scores: match outcome {
                    Ok(Worked::Done { scores }) => scores,
                    _ => None,
                },
                duration_ms,
                age_ms: m.age_ms,
            };
            m.state = Slot::Decided(self.act(verdict, worked, now(), rng).await);
        }
    }

    /// Step 5: the kind's hook over every decoded job, whose changed actions are kept.
    async fn after_verdicts(&self, batch: &mut [Message<'_, K::Job>], now: &dyn Fn() -> i64) {
        let (slots, mut settled): (Vec<usize>, Vec<Settled<'_, K::Job>>) = batch
            .iter()
            .enumerate()
            .filter_map(|(i, m)| match (&m.state, &m.job) {
                (Slot::Decided(action), Some((job, _))) => Some((i, Settled { job, ended: m.ended, age_ms: m.age_ms, action: *action })),
                _ => None,
            })
            .unzip();
        self.jobs.after_verdicts(&mut settled, now, &self.config.retry).await;
        let actions: Vec<Action> = settled.into_iter().map(|s| s.action).collect();
        for (i, action) in slots.into_iter().zip(actions) {
            batch[i].state = Slot::Decided(action);
        }
    }

    /// Acts on the ledger's verdict about one worked message: ack (with a data point when this
    /// delivery's work succeeded), retry with backoff by the job's attempt, or dead-letter (with
    /// a data point) and ack once the letter is sent.
    async fn act(&self, verdict: Verdict, w: WorkedMessage<'_>, now_ms: i64, rng: &mut Rng) -> Action {
        match verdict {
            Verdict::Ack => {
                if w.succeeded {
                    self.metrics.job_finished(&finished(&w, true, w.attempt));
                }
                Action::Ack
            }
            Verdict::Retry { attempt } => Action::Retry { delay_s: self.config.retry.delay_s(attempt, rng.next_u64()) },
            Verdict::Dead { attempts, error } => {
                self.metrics.job_finished(&finished(&w, false, attempts));
                self.dead_letter(w.body, Some(w.claim), attempts, error, now_ms, w.age_ms).await
            }
        }
    }

    /// Sends a dead letter naming the job (when decoded). The message is acked only once the
    /// letter is safely sent, and retried (by age) when it could not be.
    async fn dead_letter(&self, body: &str, job: Option<&JobClaim>, attempts: u32, error: JobError, now_ms: i64, age_ms: i64) -> Action {
        let letter = DeadLetter {
            v: DEAD_LETTER_VERSION,
            origin_queue: self.origin_queue.to_owned(),
            body: body.to_owned(),
            job_id: job.map(|j| j.job_id.clone()),
            run_id: job.map(|j| j.run_id.clone()),
            customer_id: job.map(|j| j.subject.clone()),
            error,
            attempts,
            dead_at_ms: now_ms,
        }
        .fitted();
        match self.dead_letters.send(&letter).await {
            Ok(()) => Action::Ack,
            Err(_) => self.infra_retry(age_ms),
        }
    }

    fn infra_retry(&self, age_ms: i64) -> Action {
        infra_retry(&self.config.retry, age_ms)
    }
}

/// A worked message whose outcome the ledger answered with a verdict.
struct WorkedMessage<'a> {
    claim: &'a JobClaim,
    /// The delivered body, for a dead letter.
    body: &'a str,
    /// The claim token this delivery worked with.
    attempt: u32,
    /// Whether this delivery's work succeeded (an acked failure is a stale attempt's).
    succeeded: bool,
    /// The scores this delivery's work produced, if any.
    scores: Option<[u8; 3]>,
    duration_ms: i64,
    age_ms: i64,
}

/// The analytics data point of a job that finished (succeeded or died).
fn finished(w: &WorkedMessage<'_>, succeeded: bool, attempts: u32) -> JobFinished {
    let [job_id, run_id, customer_id] = [&w.claim.job_id, &w.claim.run_id, &w.claim.subject].map(String::clone);
    let scores = if succeeded { w.scores } else { None };
    JobFinished { job_id, run_id, customer_id, succeeded, attempts, duration_ms: w.duration_ms, scores }
}
