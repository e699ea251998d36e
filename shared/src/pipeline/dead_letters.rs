//! The dead-letters consumer's decision for one message of a dead-letter queue: store it,
//! drop it because nothing was lost, or retry later. A job the queue dead-lettered on its own
//! (after `max_retries` deliveries without an ack) is first settled in the ledger, after a
//! look in R2 for a result a crashed attempt may have written: the ledger then agrees with the
//! store, and the sweep can complete.

use crate::dead_letters::{record_for, DeadLetterRecord};
use crate::error::JobError;
use crate::ledger::{shard_of, JobClaim, SettleDecision, SettleRequest};
use crate::ports::{Ledger, ResultStore};
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
    let Ok(job) = OptimizeJob::decode(body) else { return DeadLetterAction::Store(record) };
    match settle(&job, &record.error, ledger, results, now_ms).await {
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
    let request = SettleRequest {
        claim: JobClaim::of(job),
        written,
        error: error.clone(),
        now_ms,
    };
    ledger.settle(shard_of(&job.customer_id), &request).await
}
