//! The one-request-per-shard protocol of a job consumer: a batch's jobs are grouped by ledger
//! shard, and each shard touched gets one claim request and one complete request, concurrently
//! but at most `concurrency` at once (a batch may touch all 8 shards; an invocation has 6
//! connections, see `super::budget`).
//! A shard that fails, or answers out of shape, decides nothing for its jobs: each is answered
//! `None`, and the caller retries those messages. This module knows the ledger, not messages.

use std::collections::BTreeMap;
use std::future::Future;

use crate::error::JobError;
use crate::ledger::{ClaimDecision, ClaimRequest, CompleteRequest, JobClaim, JobOutcome, Verdict};
use crate::pipeline::budget::bounded;
use crate::ports::Ledger;

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

/// One request per group, at most `concurrency` at once.
async fn per_shard<T, R, F, Fut>(groups: Vec<ShardGroup<T>>, concurrency: usize, call: F) -> ShardAnswers<R>
where
    F: Fn(u32, Vec<T>) -> Fut,
    Fut: Future<Output = Result<Vec<R>, JobError>>,
{
    let mut slots = Vec::with_capacity(groups.len());
    let requests: Vec<(u32, Vec<T>)> = groups
        .into_iter()
        .map(|g| {
            slots.push(g.slots);
            (g.shard, g.items)
        })
        .collect();
    let answers = bounded(requests, concurrency, |(shard, items)| call(shard, items)).await;
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
    concurrency: usize,
) -> ShardAnswers<ClaimDecision> {
    per_shard(groups, concurrency, |shard, claims| async move {
        ledger.claim(shard, &ClaimRequest { claims, now_ms, lease_ms }).await.map(|r| r.decisions)
    })
    .await
}

/// Reports every group's outcomes, one request per shard.
pub(crate) async fn complete_per_shard(
    ledger: &impl Ledger,
    groups: Vec<ShardGroup<JobOutcome>>,
    now_ms: i64,
    max_attempts: u32,
    concurrency: usize,
) -> ShardAnswers<Verdict> {
    per_shard(groups, concurrency, |shard, outcomes| async move {
        ledger.complete(shard, &CompleteRequest { outcomes, now_ms, max_attempts }).await.map(|r| r.verdicts)
    })
    .await
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
}
