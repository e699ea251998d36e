//! The dead-letter store's contents: the record the dead-letters consumer writes for each
//! message of a dead-letter queue, the ids an entry may have, and the store's size against its
//! warning threshold. Three kinds of body arrive on a dead-letter queue: a [`DeadLetter`] a
//! consumer sent with its reason; a raw job (optimize or report) the queue itself moved after
//! `max_retries` deliveries (the consumer never decided, e.g. it kept crashing); and anything
//! else (stored verbatim as poison). None is dropped.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorClass, JobError};
use crate::reports::jobs::ReportJob;
use crate::wire::{DeadLetter, OptimizeJob, DEAD_LETTER_VERSION};

/// One row of the dead-letter store (`migrations/0002_dead_letters.sql`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterRecord {
    /// The job id, or `body:{hash of the body}` for a body that names no job.
    pub id: String,
    pub origin_queue: String,
    pub job_id: Option<String>,
    /// The run the job belonged to; the D1 column and the wire keep the name `sweep_id` (see
    /// [`crate::ids::RunId`]).
    #[serde(rename = "sweep_id")]
    pub run_id: Option<String>,
    pub customer_id: Option<String>,
    /// The original message body, verbatim.
    pub body: String,
    pub error: JobError,
    pub attempts: u32,
    pub failed_ms: i64,
}

/// Whether `raw` can be a dead-letter id: a job id or a body hash id, printable and short.
pub fn valid_entry_id(raw: &str) -> bool {
    !raw.is_empty() && raw.len() <= 256 && raw.chars().all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c))
}

/// Size of the store and whether it nears its configured warning size. The store never drops
/// entries; this is how it says it is filling up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    /// Rows in the store, purged ones included.
    pub rows: u64,
    pub warn_at: u64,
    pub near_capacity: bool,
}

impl StoreStats {
    pub fn new(rows: u64, warn_at: u64) -> Self {
        Self { rows, warn_at, near_capacity: rows >= warn_at }
    }
}

/// The store id of a body that names no job: a hash of the body, so the same poison message
/// sent twice is stored once.
fn poison_id(body: &str) -> String {
    format!("body:{:016x}", crate::ids::stable_hash(body.as_bytes()))
}

/// Turns one dead-letter-queue message into the record to store. Ids come from content (job
/// id, or a hash of the body), so a re-sent message updates its row instead of adding one.
pub fn record_for(dlq_body: &str, dlq_name: &str, origin_queue: &str, now_ms: i64) -> DeadLetterRecord {
    if let Ok(letter) = serde_json::from_str::<DeadLetter>(dlq_body) {
        if letter.v == DEAD_LETTER_VERSION {
            // A letter's job id becomes the store's key and the admin API's path: one that the
            // API could not address (none of our consumers sends one) falls back to the hash.
            let id = letter.job_id.clone().filter(|id| valid_entry_id(id)).unwrap_or_else(|| poison_id(&letter.body));
            return DeadLetterRecord {
                id,
                origin_queue: letter.origin_queue,
                job_id: letter.job_id,
                run_id: letter.run_id,
                customer_id: letter.customer_id,
                body: letter.body,
                error: letter.error,
                attempts: letter.attempts,
                failed_ms: letter.dead_at_ms,
            };
        }
    }
    let ids = OptimizeJob::decode(dlq_body)
        .map(|j| (j.job_id.as_str().to_owned(), j.sweep_id.as_str().to_owned(), j.customer_id.as_str().to_owned()))
        .or_else(|_| ReportJob::decode(dlq_body).map(|j| (j.job_id.clone(), j.run_id.clone(), j.subject().to_owned())));
    if let Ok((job_id, run_id, customer_id)) = ids {
        return DeadLetterRecord {
            id: job_id.clone(),
            origin_queue: origin_queue.to_owned(),
            job_id: Some(job_id),
            run_id: Some(run_id),
            customer_id: Some(customer_id),
            body: dlq_body.to_owned(),
            error: JobError::new(
                ErrorClass::Transient,
                format!("the queue moved this job to {dlq_name} after its max_retries deliveries without an ack"),
            ),
            attempts: 0,
            failed_ms: now_ms,
        };
    }
    DeadLetterRecord {
        id: poison_id(dlq_body),
        origin_queue: origin_queue.to_owned(),
        job_id: None,
        run_id: None,
        customer_id: None,
        body: dlq_body.to_owned(),
        error: JobError::permanent(format!("a message on {dlq_name} is neither a dead letter nor a job")),
        attempts: 0,
        failed_ms: now_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{from_epoch_ms, CustomerId, RunId};
    use crate::schedule::Task;
    use crate::site::SiteUrl;

    fn job() -> OptimizeJob {
        let at = from_epoch_ms(1_795_914_900_000).unwrap();
        OptimizeJob::new(
            RunId::new("local", Task::Optimize, at),
            at,
            CustomerId::parse("acme").unwrap(),
            SiteUrl::parse("https://a.example").unwrap(),
        )
    }

    #[test]
    fn the_three_kinds_of_dlq_body_are_recorded() {
        let letter = DeadLetter {
            v: 1,
            origin_queue: "q".into(),
            body: job().encode(),
            error: JobError::permanent("elite brand answered HTTP 400"),
            attempts: 1,
            job_id: Some(job().job_id.as_str().into()),
            run_id: Some(job().sweep_id.as_str().into()),
            customer_id: Some("acme".into()),
            dead_at_ms: 5,
        };
        let r = record_for(&letter.encode(), "dlq", "q", 9);
        assert_eq!((r.id.as_str(), r.attempts, r.failed_ms, r.body.as_str()), (job().job_id.as_str(), 1, 5, job().encode().as_str()));

        let r = record_for(&job().encode(), "dlq", "q", 9);
        assert_eq!(r.id, job().job_id.as_str());
        assert!(r.error.message.contains("max_retries"), "{}", r.error.message);

        let month = crate::reports::period::Month::new(2026, 10).unwrap();
        let report = ReportJob::single("local.end-of-month.2026-10", Some(month), 0, crate::reports::jobs::ReportWork::EndOfMonth);
        let r = record_for(&report.encode(), "dlq", "q", 9);
        assert_eq!(
            (r.id.as_str(), r.run_id.as_deref(), r.customer_id.as_deref()),
            (report.job_id.as_str(), Some(report.run_id.as_str()), Some("report"))
        );
        assert!(r.error.message.contains("max_retries"), "{}", r.error.message);

        let r = record_for("\u{0}garbage", "dlq", "q", 9);
        assert_eq!(r.body, "\u{0}garbage");
        assert!(r.id.starts_with("body:"), "{}", r.id);
        assert_eq!(record_for("\u{0}garbage", "dlq", "q", 9).id, r.id, "the same poison is one row");
        assert_eq!(r.error.class, ErrorClass::Permanent);
    }
}
