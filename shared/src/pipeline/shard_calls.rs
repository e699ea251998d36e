//! What every job consumer of the pipeline does the same way, whatever its jobs are: group a
//! batch's jobs by ledger shard and make one claim and one complete request per shard touched;
//! turn a lease into a retry delay; send a dead letter and ack only once it is sent; back off
//! from infrastructure failures by the message's age. The optimizer ([`super::consumer`]) and
//! the reports consumer ([`super::reports`]) are each this plumbing around their own work.

use std::collections::BTreeMap;
use std::future::Future;

use futures::future::join_all;

use crate::backoff::{RetryPolicy, Rng};
use crate::error::JobError;
use crate::ledger::{ClaimDecision, ClaimRequest, CompleteRequest, JobClaim, JobOutcome, Verdict};
use crate::pipeline::consumer::Action;
use crate::ports::{DeadLetterSink, JobFinished, Ledger, Metrics};
use crate::wire::{DeadLetter, DEAD_LETTER_VERSION};

/// Items of one ledger shard: the batch slots they came from, and the items in the same order.
pub(crate) struct ShardGroup<T> {
    pub(crate) shard: u32,
    pub(crate) slots: Vec<usize>,
    pub(crate) items: Vec<T>,
}

/// Groups `(slot, shard, item)` by shard, one group per shard touched, in shard order.
pub(crate) fn group_by_shard<T>(items: impl IntoIterator<Item = (usize, u32, T)>) -> Vec<ShardGroup<T>> {
    let mut groups: BTreeMap<u32, ShardGroup<T>> = BTreeMap::new();
    for (slot, shard, item) in items {
        let group = groups.entry(shard).or_insert_with(|| ShardGroup { shard, slots: Vec::new(), items: Vec::new() });
        group.slots.push(slot);
        group.items.push(item);
    }
    groups.into_values().collect()
}

/// One answer per slot, by slot: `None` when the slot's shard failed or answered out of shape
/// (nothing was decided for that slot).
pub(crate) type ShardAnswers<R> = Vec<(usize, Option<R>)>;

/// One request per group, concurrently.
async fn per_shard<T, R, F, Fut>(groups: Vec<ShardGroup<T>>, call: F) -> ShardAnswers<R>
where
    F: Fn(u32, Vec<T>) -> Fut,
    Fut: Future<Output = Result<Vec<R>, JobError>>,
{
    let (requests, slots): (Vec<Fut>, Vec<Vec<usize>>) = groups.into_iter().map(|g| (call(g.shard, g.items), g.slots)).unzip();
    let answers = join_all(requests).await;
    let mut out = Vec::new();
    for (slots, answer) in slots.into_iter().zip(answers) {
        match answer.ok().filter(|a| a.len() == slots.len()) {
            Some(answer) => out.extend(slots.into_iter().zip(answer.into_iter().map(Some))),
            None => out.extend(slots.into_iter().map(|slot| (slot, None))),
        }
    }
    out
}

/// Claims every group's jobs, one request per shard.
pub(crate) async fn claim_per_shard(
    ledger: &impl Ledger,
    groups: Vec<ShardGroup<JobClaim>>,
    now_ms: i64,
    lease_ms: i64,
) -> ShardAnswers<ClaimDecision> {
    per_shard(
        groups,
        |shard, claims| async move { ledger.claim(shard, &ClaimRequest { claims, now_ms, lease_ms }).await.map(|r| r.decisions) },
    )
    .await
}

/// Reports every group's outcomes, one request per shard.
pub(crate) async fn complete_per_shard(
    ledger: &impl Ledger,
    groups: Vec<ShardGroup<JobOutcome>>,
    now_ms: i64,
    max_attempts: u32,
) -> ShardAnswers<Verdict> {
    per_shard(groups, |shard, outcomes| async move {
        ledger.complete(shard, &CompleteRequest { outcomes, now_ms, max_attempts }).await.map(|r| r.verdicts)
    })
    .await
}

/// A retry for an infrastructure failure (ledger, queue or store unreachable), backing off by
/// the message's age: nothing was recorded, so there is no attempt count to back off by.
pub(crate) fn infra_retry(retry: &RetryPolicy, age_ms: i64) -> Action {
    Action::Retry { delay_s: retry.delay_for_age_s(age_ms) }
}

/// Whole seconds until a lease of `retry_after_ms` has passed. Never shorter than the lease:
/// a shorter retry would only meet the same lease again and spend a queue retry.
pub(crate) fn after_lease_s(retry_after_ms: i64) -> u32 {
    let s = u32::try_from(retry_after_ms.max(0).saturating_add(999) / 1000).unwrap_or(u32::MAX);
    s.clamp(1, RetryPolicy::QUEUE_MAX_DELAY_S)
}

/// The ids a dead letter or an analytics data point names, when the body was a decodable job.
#[derive(Clone, Copy)]
pub(crate) struct JobIds<'a> {
    pub(crate) job_id: &'a str,
    pub(crate) sweep_id: &'a str,
    pub(crate) customer_id: &'a str,
}

impl JobIds<'_> {
    fn finished(&self, succeeded: bool, attempts: u32, duration_ms: i64) -> JobFinished {
        let [job_id, sweep_id, customer_id] = [self.job_id, self.sweep_id, self.customer_id].map(str::to_owned);
        JobFinished { job_id, sweep_id, customer_id, succeeded, attempts, duration_ms }
    }
}

/// A worked message whose outcome the ledger answered with a verdict.
pub(crate) struct WorkedMessage<'a> {
    pub(crate) ids: JobIds<'a>,
    /// The delivered body, for a dead letter.
    pub(crate) body: &'a str,
    /// The claim token this delivery worked with.
    pub(crate) attempt: u32,
    /// Whether this delivery's work succeeded (an acked failure is a stale attempt's).
    pub(crate) succeeded: bool,
    pub(crate) duration_ms: i64,
    pub(crate) age_ms: i64,
}

/// The ports and settings acting on a verdict needs.
pub(crate) struct Verdicts<'a, D, M> {
    pub(crate) dead_letters: &'a D,
    pub(crate) metrics: &'a M,
    pub(crate) retry: &'a RetryPolicy,
    pub(crate) origin_queue: &'a str,
}

impl<D: DeadLetterSink, M: Metrics> Verdicts<'_, D, M> {
    /// Acts on the ledger's verdict about one worked message: ack (with a data point when this
    /// delivery's work succeeded), retry with backoff by the job's attempt, or dead-letter (with
    /// a data point) and ack once the letter is sent.
    pub(crate) async fn act(&self, verdict: Verdict, w: WorkedMessage<'_>, now_ms: i64, rng: &mut Rng) -> Action {
        match verdict {
            Verdict::Ack => {
                if w.succeeded {
                    self.metrics.job_finished(&w.ids.finished(true, w.attempt, w.duration_ms));
                }
                Action::Ack
            }
            Verdict::Retry { attempt } => Action::Retry { delay_s: self.retry.delay_s(attempt, rng.next_u64()) },
            Verdict::Dead { attempts, error } => {
                self.metrics.job_finished(&w.ids.finished(false, attempts, w.duration_ms));
                let letter = Letter { origin_queue: self.origin_queue, body: w.body, job: Some(w.ids), attempts, error, now_ms };
                send_dead_letter(self.dead_letters, letter, self.retry, w.age_ms).await
            }
        }
    }
}

/// What one dead letter says.
pub(crate) struct Letter<'a> {
    /// The queue the body was consumed from.
    pub(crate) origin_queue: &'a str,
    pub(crate) body: &'a str,
    pub(crate) job: Option<JobIds<'a>>,
    pub(crate) attempts: u32,
    pub(crate) error: JobError,
    pub(crate) now_ms: i64,
}

/// Sends a dead letter; the message is acked only once the letter is safely sent, and retried
/// (by age) when it could not be.
pub(crate) async fn send_dead_letter(sink: &impl DeadLetterSink, letter: Letter<'_>, retry: &RetryPolicy, age_ms: i64) -> Action {
    let ids = letter.job.as_ref().map(|j| [j.job_id, j.sweep_id, j.customer_id].map(str::to_owned));
    let [job_id, sweep_id, customer_id] = ids.map_or([None, None, None], |ids| ids.map(Some));
    let dead = DeadLetter {
        v: DEAD_LETTER_VERSION,
        origin_queue: letter.origin_queue.to_owned(),
        body: letter.body.to_owned(),
        job_id,
        sweep_id,
        customer_id,
        error: letter.error,
        attempts: letter.attempts,
        dead_at_ms: letter.now_ms,
    }
    .fitted();
    match sink.send(&dead).await {
        Ok(()) => Action::Ack,
        Err(_) => infra_retry(retry, age_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_keep_slot_order_per_shard() {
        let groups = group_by_shard([(0, 3, 'a'), (1, 1, 'b'), (2, 3, 'c'), (4, 0, 'd')]);
        let shape: Vec<(u32, Vec<usize>, Vec<char>)> = groups.into_iter().map(|g| (g.shard, g.slots, g.items)).collect();
        assert_eq!(shape, vec![(0, vec![4], vec!['d']), (1, vec![1], vec!['b']), (3, vec![0, 2], vec!['a', 'c'])]);
    }

    #[test]
    fn a_lease_is_waited_out_whole() {
        assert_eq!(after_lease_s(-5), 1);
        assert_eq!(after_lease_s(1), 1);
        assert_eq!(after_lease_s(1_001), 2);
        assert_eq!(after_lease_s(i64::MAX), RetryPolicy::QUEUE_MAX_DELAY_S);
    }
}
