//! The dead-letters consumer's decision for one message of a dead-letter queue: store it,
//! drop it because nothing was lost, or retry later. A job the queue dead-lettered on its own
//! (after `max_retries` deliveries without an ack) is first settled in the ledger, after a
//! look in R2 for a result a crashed attempt may have written: the ledger then agrees with the
//! store, and the sweep can complete. A report job the reports queue dead-lettered on its own
//! is settled the same way (as dead: its outcome was never recorded), so its run completes.

use crate::dead_letters::record::{record_for, DeadLetterRecord};
use crate::error::JobError;
use crate::ledger::{shard_of, JobClaim, SettleDecision, SettleRequest};
use crate::pipeline::reports::{claim_of, shard_of_job};
use crate::ports::{Ledger, ResultStore};
use crate::reports::jobs::ReportJob;
use crate::result::optimization_key;
use crate::wire::OptimizeJob;

/// What to do with one dead-letter-queue message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterAction {
    /// Write the record to the store, then ack.
    Store(DeadLetterRecord),
    /// Ack without storing: the job ended after all (its result was written, or it was
    /// superseded or succeeded by another delivery). The reason is for the log.
    Drop { id: String, reason: String },
    /// Ask again later (a delivery holds the job's lease, or R2 or the ledger failed).
    Retry { reason: String, after_ms: i64 },
}

/// Decides what to do with one DLQ message.
pub async fn decide(
    body: &str,
    dlq_name: &str,
    origin_queue: &str,
    ledger: &impl Ledger,
    results: &impl ResultStore,
    now_ms: i64,
) -> DeadLetterAction {
    let record = record_for(body, dlq_name, origin_queue, now_ms);
    // Only a raw job body was dead-lettered by the queue itself; a DeadLetter the optimizer
    // sent was already recorded as dead by the ledger.
    let settled = match (OptimizeJob::decode(body), ReportJob::decode(body)) {
        (Ok(job), _) => settle(&job, &record.error, ledger, results, now_ms).await,
        // A report job's work is idempotent and leaves no marker of a crashed attempt to look
        // for: it is settled as dead, and a replay of its letter does the work again.
        (_, Ok(job)) => {
            let request = SettleRequest { claim: claim_of(&job), written: false, error: record.error.clone(), now_ms };
            ledger.settle(shard_of_job(&job), &request).await
        }
        _ => return DeadLetterAction::Store(record),
    };
    match settled {
        Ok(SettleDecision::Dead { attempts }) => DeadLetterAction::Store(DeadLetterRecord { attempts, ..record }),
        Ok(SettleDecision::Ended { state }) => {
            DeadLetterAction::Drop { id: record.id, reason: format!("the job ended as {} after all", state.as_str()) }
        }
        Ok(SettleDecision::Busy { retry_after_ms }) => {
            DeadLetterAction::Retry { reason: "a delivery holds the job's lease".into(), after_ms: retry_after_ms }
        }
        Err(e) => DeadLetterAction::Retry { reason: e.to_string(), after_ms: 0 },
    }
}

async fn settle(
    job: &OptimizeJob,
    error: &JobError,
    ledger: &impl Ledger,
    results: &impl ResultStore,
    now_ms: i64,
) -> Result<SettleDecision, JobError> {
    let key = optimization_key(&job.customer_id, job.scheduled);
    let written = results.job_of(&key).await?.as_deref() == Some(job.job_id.as_str());
    let request = SettleRequest { claim: JobClaim::of(job), written, error: error.clone(), now_ms };
    ledger.settle(shard_of(&job.customer_id), &request).await
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::ids::CustomerId;
    use crate::ledger::{ClaimRequest, JobState};
    use crate::memory::{MemoryLedger, MemoryResults};
    use crate::names::{REPORTS_DLQ, REPORTS_QUEUE};

    const NOW: i64 = 1_800_000_000_000;

    fn monthly_job(customer: &str) -> ReportJob {
        let month = crate::reports::period::Month::new(2027, 1).expect("a month");
        let run = crate::reports::jobs::monthly_run_id("local", crate::reports::jobs::MONTHLY_ANALYTICS, month);
        ReportJob::monthly_customer(&run, month, NOW, CustomerId::parse(customer).expect("an id"))
    }

    /// One backstop-dead-lettered report job, in a given ledger state: what the consumer does
    /// with it, and the state the ledger then records.
    fn check(claimed_before: bool, lease_left_ms: i64, expected: fn(&DeadLetterAction) -> bool, state_after: Option<JobState>) {
        let (ledger, results) = (MemoryLedger::default(), MemoryResults::default());
        let job = monthly_job("acme");
        let shard = shard_of_job(&job);
        if claimed_before {
            let claim = ClaimRequest { claims: vec![claim_of(&job)], now_ms: NOW - 60_000 + lease_left_ms, lease_ms: 60_000 };
            block_on(ledger.claim(shard, &claim)).expect("claim");
        }
        let action = block_on(decide(&job.encode(), REPORTS_DLQ, REPORTS_QUEUE, &ledger, &results, NOW));
        assert!(expected(&action), "{action:?}");
        assert_eq!(ledger.job(&job.job_id).map(|j| j.state), state_after);
    }

    #[test]
    fn a_report_job_the_queue_dead_lettered_is_settled_so_its_run_completes() {
        // Never claimed (the consumer crashed before its claim): dead, stored.
        check(false, 0, |a| matches!(a, DeadLetterAction::Store(r) if r.origin_queue == REPORTS_QUEUE), Some(JobState::Dead));
        // Claimed, lease lapsed (the consumer crashed mid-work): dead, stored.
        check(true, -1, |a| matches!(a, DeadLetterAction::Store(_)), Some(JobState::Dead));
        // Claimed and still leased: ask again after the lease.
        check(true, 5_000, |a| matches!(a, DeadLetterAction::Retry { after_ms: 5_000, .. }), Some(JobState::InFlight));
    }

    #[test]
    fn a_settled_report_job_counts_in_its_run_and_a_second_copy_is_stored_once() {
        let (ledger, results) = (MemoryLedger::default(), MemoryResults::default());
        let (a, b) = (monthly_job("acme"), monthly_job("blue"));
        for job in [&a, &b] {
            let claim = ClaimRequest { claims: vec![claim_of(job)], now_ms: NOW - 120_000, lease_ms: 60_000 };
            block_on(ledger.claim(shard_of_job(job), &claim)).expect("claim");
        }
        for _ in 0..2 {
            for job in [&a, &b] {
                let action = block_on(decide(&job.encode(), REPORTS_DLQ, REPORTS_QUEUE, &ledger, &results, NOW));
                assert!(matches!(action, DeadLetterAction::Store(ref r) if r.id == job.job_id), "{action:?}");
            }
        }
        let counts: Vec<_> = ledger.shards.borrow().iter().filter_map(|s| s.counts.get(&a.run_id).cloned()).collect();
        let sum = |f: fn(&crate::ledger::ShardCounts) -> u64| counts.iter().map(f).sum::<u64>();
        assert_eq!((sum(|c| c.dead), sum(|c| c.in_flight), sum(|c| c.retrying)), (2, 0, 0), "{counts:?}");
    }
}
