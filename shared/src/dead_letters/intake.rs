//! The dead-letters consumer's decision for one message of a dead-letter queue: store it,
//! drop it because nothing was lost, retry later, or first settle its job in the ledger.
//!
//! A job the queue dead-lettered on its own (after `max_retries` deliveries without an ack)
//! is settled before it is stored, after a look in R2 for a result a crashed attempt may have
//! written: the ledger then agrees with the store, and the sweep can complete. A report job
//! the reports queue dead-lettered on its own is settled the same way (as dead: its outcome was
//! never recorded), so its run completes.
//!
//! The decision is pure: [`decide`] looks at the message, [`Settlement::decide`] at what the
//! ledger answered. [`settle_and_decide`] is the one function here that does I/O: it carries
//! the first decision out over the ledger and R2 ports and returns the second.

use crate::dead_letters::record::{record_for, DeadLetterRecord};
use crate::error::JobError;
use crate::ledger::{JobClaim, SettleDecision, SettleRequest};
use crate::names::{self, OPTIMIZE_DLQ, OPTIMIZE_QUEUE, REPORTS_DLQ, REPORTS_QUEUE};
use crate::optimization::optimization_key;
use crate::pipeline::reports::claim_of;
use crate::ports::{Ledger, ResultStore};
use crate::reports::jobs::ReportJob;
use crate::wire::OptimizeJob;

/// What to do with one dead-letter-queue message once everything is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterAction {
    /// Write the record to the store, then ack.
    Store(DeadLetterRecord),
    /// Ack without storing: the job ended after all (its result was written, or it was
    /// superseded or succeeded by another delivery). The reason is for the log.
    Drop { id: String, reason: String },
    /// Ask again later (a delivery holds the job's lease, or R2 or the ledger failed), no
    /// sooner than `after_ms`.
    Retry { reason: String, after_ms: i64 },
}

/// The first look at a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A dead letter a consumer sent (its job is already dead in the ledger) or a body that
    /// names no job: store it as it is.
    Store(DeadLetterRecord),
    /// A raw job the queue dead-lettered on its own: settle it in the ledger first.
    SettleFirst(Settlement),
}

/// What settling a queue-dead-lettered job takes, and the record it would be stored as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    pub record: DeadLetterRecord,
    /// The job's claim: its subject and run time pick the ledger shard that owns the job
    /// ([`JobClaim::shard_in`]).
    pub claim: JobClaim,
    /// The R2 key a crashed attempt may have written the job's result to; `None` for a report
    /// job, whose work is idempotent and leaves no marker to look for (it is settled as dead,
    /// and a replay of its letter does the work again).
    pub result_key: Option<String>,
}

/// Decides what one DLQ message needs: stored as it is, or its job settled first.
pub fn decide(body: &str, dlq_name: &str, origin_queue: &str, now_ms: i64) -> Decision {
    let record = record_for(body, dlq_name, origin_queue, now_ms);
    // Only a raw job body was dead-lettered by the queue itself; a DeadLetter the optimizer
    // sent was already recorded as dead by the ledger.
    if let Ok(job) = OptimizeJob::decode(body) {
        let result_key = Some(optimization_key(&job.customer_id, job.scheduled));
        return Decision::SettleFirst(Settlement { record, claim: JobClaim::of(&job), result_key });
    }
    if let Ok(job) = ReportJob::decode(body) {
        return Decision::SettleFirst(Settlement { record, claim: claim_of(&job), result_key: None });
    }
    Decision::Store(record)
}

impl Settlement {
    /// Whether the object R2 holds at [`Self::result_key`] (written by job `found`, if any)
    /// is this job's result.
    pub fn written(&self, found: Option<&str>) -> bool {
        found == Some(self.claim.job_id.as_str())
    }

    /// The ledger request that settles the job.
    pub fn request(&self, written: bool, now_ms: i64) -> SettleRequest {
        SettleRequest { claim: self.claim.clone(), written, error: self.record.error.clone(), now_ms }
    }

    /// Decides what to do with the message from what the ledger answered (an `Err` is a failed
    /// look in R2 or a failed ledger request).
    pub fn decide(self, answered: Result<SettleDecision, JobError>) -> DeadLetterAction {
        let record = self.record;
        match answered {
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
}

/// Decides what to do with one DLQ message, settling its job in the ledger first (after a look
/// in R2) when the message is a job the queue dead-lettered on its own.
pub async fn settle_and_decide(
    body: &str,
    dlq_name: &str,
    origin_queue: &str,
    ledger: &impl Ledger,
    results: &impl ResultStore,
    now_ms: i64,
) -> DeadLetterAction {
    let settlement = match decide(body, dlq_name, origin_queue, now_ms) {
        Decision::Store(record) => return DeadLetterAction::Store(record),
        Decision::SettleFirst(settlement) => settlement,
    };
    let answered = settle(&settlement, ledger, results, now_ms).await;
    settlement.decide(answered)
}

async fn settle(s: &Settlement, ledger: &impl Ledger, results: &impl ResultStore, now_ms: i64) -> Result<SettleDecision, JobError> {
    let written = match &s.result_key {
        Some(key) => s.written(results.job_of(key).await?.as_deref()),
        None => false,
    };
    ledger.settle(s.claim.shard_in(ledger.shard_maps()), &s.request(written, now_ms)).await
}

/// The queue whose dead letters arrive on `dlq`. Deployed queues carry their environment's
/// suffix: `code24-optimize-dlq-staging` is the dead-letter queue of `code24-optimize-staging`.
pub fn origin_of(dlq: &str) -> String {
    match names::split_env(dlq) {
        (OPTIMIZE_DLQ, env) => names::in_env(OPTIMIZE_QUEUE, env),
        (REPORTS_DLQ, env) => names::in_env(REPORTS_QUEUE, env),
        _ => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::error::ErrorClass;
    use crate::ids::{from_epoch_ms, CustomerId, RunId};
    use crate::ledger::{shard_of, ClaimRequest, JobState};
    use crate::schedule::Task;
    use crate::site::SiteUrl;
    use crate::testkit::ports::{MemoryLedger, MemoryResults};
    use crate::wire::{DeadLetter, DEAD_LETTER_VERSION};

    const NOW: i64 = 1_800_000_000_000;

    fn optimize_job() -> OptimizeJob {
        let at = from_epoch_ms(1_795_914_900_000).unwrap();
        let customer = CustomerId::parse("acme").unwrap();
        OptimizeJob::new(RunId::new("local", Task::Optimize, at), at, customer, SiteUrl::parse("https://a.example").unwrap())
    }

    fn monthly_job(customer: &str) -> ReportJob {
        let month = crate::reports::period::Month::new(2027, 1).expect("a month");
        let run = crate::reports::jobs::monthly_run_id("local", crate::schedule::MONTHLY_ANALYTICS, month);
        ReportJob::monthly_customer(&run, month, NOW, CustomerId::parse(customer).expect("an id"))
    }

    fn letter() -> DeadLetter {
        let job = optimize_job();
        DeadLetter {
            v: DEAD_LETTER_VERSION,
            origin_queue: OPTIMIZE_QUEUE.into(),
            body: job.encode(),
            error: JobError::permanent("elite brand answered HTTP 400"),
            attempts: 2,
            job_id: Some(job.job_id.as_str().into()),
            run_id: Some(job.sweep_id.as_str().into()),
            customer_id: Some("acme".into()),
            dead_at_ms: 5,
        }
    }

    /// One line per outcome, naming what a reader checks: the stored id, class and attempts;
    /// where a settlement goes and whether it looks in R2; why a message is dropped or retried.
    fn describe_action(action: &DeadLetterAction) -> String {
        match action {
            DeadLetterAction::Store(r) => format!("store {} {} attempts={}", r.id, r.error.class.as_str(), r.attempts),
            DeadLetterAction::Drop { id, reason } => format!("drop {id}: {reason}"),
            DeadLetterAction::Retry { reason, after_ms } => format!("retry after {after_ms} ms: {reason}"),
        }
    }

    /// The pure decision over one DLQ body and, when it asks to settle first, what the ledger
    /// answered: the described outcome of each step, joined with " then ".
    fn check(body: &str, answered: Option<Result<SettleDecision, JobError>>, expected: &str) {
        let got = match (decide(body, OPTIMIZE_DLQ, OPTIMIZE_QUEUE, NOW), answered) {
            (Decision::Store(record), None) => describe_action(&DeadLetterAction::Store(record)),
            (Decision::SettleFirst(s), Some(answer)) => {
                let first = format!("settle {} in shard {} r2={}", s.claim.job_id, s.claim.shard(), s.result_key.is_some());
                format!("{first} then {}", describe_action(&s.decide(answer)))
            }
            (decision, answer) => panic!("{body:?}: decided {decision:?}, given {answer:?}"),
        };
        assert_eq!(got, expected, "{body:?}");
    }

    #[test]
    fn each_kind_of_dlq_body_is_stored_or_settled_first() {
        let job = optimize_job();
        let (id, shard) = (job.job_id.as_str(), shard_of(&job.customer_id));
        let settle = format!("settle {id} in shard {shard} r2=true");
        check(&letter().encode(), None, &format!("store {id} permanent attempts=2"));
        check("\u{0}garbage", None, &format!("store {} permanent attempts=0", record_for("\u{0}garbage", "", "", 0).id));
        check(&job.encode(), Some(Ok(SettleDecision::Dead { attempts: 4 })), &format!("{settle} then store {id} transient attempts=4"));
        let ended = Ok(SettleDecision::Ended { state: JobState::Succeeded });
        check(&job.encode(), Some(ended), &format!("{settle} then drop {id}: the job ended as succeeded after all"));
        let busy = Ok(SettleDecision::Busy { retry_after_ms: 5_000 });
        check(&job.encode(), Some(busy), &format!("{settle} then retry after 5000 ms: a delivery holds the job's lease"));
        let down = Err(JobError::transient("ledger jobs-3 /jobs/settle: HTTP 503"));
        check(
            &job.encode(),
            Some(down),
            &format!("{settle} then retry after 0 ms: transient failure: ledger jobs-3 /jobs/settle: HTTP 503"),
        );
        let report = monthly_job("acme");
        let settle = format!("settle {} in shard {} r2=false", report.job_id, shard_of(report.subject()));
        check(
            &report.encode(),
            Some(Ok(SettleDecision::Dead { attempts: 1 })),
            &format!("{settle} then store {} transient attempts=1", report.job_id),
        );
    }

    #[test]
    fn a_result_counts_as_written_only_when_this_job_wrote_it() {
        let Decision::SettleFirst(s) = decide(&optimize_job().encode(), OPTIMIZE_DLQ, OPTIMIZE_QUEUE, NOW) else { panic!("a raw job") };
        assert!(s.written(Some(optimize_job().job_id.as_str())));
        assert!(!s.written(Some("local.optimize.20261129T011500Z.other")));
        assert!(!s.written(None));
        let request = s.request(true, NOW);
        assert_eq!((request.written, request.now_ms, request.error.class), (true, NOW, ErrorClass::Transient));
        assert!(request.error.message.contains("max_retries"), "{}", request.error.message);
    }

    #[test]
    fn a_dlq_names_its_origin_queue_in_every_environment() {
        let check = |dlq: &str, origin: &str| assert_eq!(origin_of(dlq), origin, "{dlq}");
        check("code24-optimize-dlq", "code24-optimize");
        check("code24-reports-dlq", "code24-reports");
        check("code24-optimize-dlq-staging", "code24-optimize-staging");
        check("code24-reports-dlq-production", "code24-reports-production");
        check("code24-optimize", "unknown");
        check("", "unknown");
    }

    /// One backstop-dead-lettered report job, in a given ledger state: what the consumer does
    /// with it, and the state the ledger then records.
    fn check_settled(claimed_before: bool, lease_left_ms: i64, expected: fn(&DeadLetterAction) -> bool, state_after: Option<JobState>) {
        let (ledger, results) = (MemoryLedger::default(), MemoryResults::default());
        let job = monthly_job("acme");
        let shard = shard_of(job.subject());
        if claimed_before {
            let claim = ClaimRequest { claims: vec![claim_of(&job)], now_ms: NOW - 60_000 + lease_left_ms, lease_ms: 60_000 };
            block_on(ledger.claim(shard, &claim)).expect("claim");
        }
        let action = block_on(settle_and_decide(&job.encode(), REPORTS_DLQ, REPORTS_QUEUE, &ledger, &results, NOW));
        assert!(expected(&action), "{action:?}");
        assert_eq!(ledger.job(&job.job_id).map(|j| j.state), state_after);
    }

    #[test]
    fn a_report_job_the_queue_dead_lettered_is_settled_so_its_run_completes() {
        // Never claimed (the consumer crashed before its claim): dead, stored.
        check_settled(false, 0, |a| matches!(a, DeadLetterAction::Store(r) if r.origin_queue == REPORTS_QUEUE), Some(JobState::Dead));
        // Claimed, lease lapsed (the consumer crashed mid-work): dead, stored.
        check_settled(true, -1, |a| matches!(a, DeadLetterAction::Store(_)), Some(JobState::Dead));
        // Claimed and still leased: ask again after the lease.
        check_settled(true, 5_000, |a| matches!(a, DeadLetterAction::Retry { after_ms: 5_000, .. }), Some(JobState::InFlight));
    }

    #[test]
    fn a_settled_report_job_counts_in_its_run_and_a_second_copy_is_stored_once() {
        let (ledger, results) = (MemoryLedger::default(), MemoryResults::default());
        let (a, b) = (monthly_job("acme"), monthly_job("blue"));
        for job in [&a, &b] {
            let claim = ClaimRequest { claims: vec![claim_of(job)], now_ms: NOW - 120_000, lease_ms: 60_000 };
            block_on(ledger.claim(shard_of(job.subject()), &claim)).expect("claim");
        }
        for _ in 0..2 {
            for job in [&a, &b] {
                let action = block_on(settle_and_decide(&job.encode(), REPORTS_DLQ, REPORTS_QUEUE, &ledger, &results, NOW));
                assert!(matches!(action, DeadLetterAction::Store(ref r) if r.id == job.job_id), "{action:?}");
            }
        }
        let counts: Vec<_> = ledger.shards.borrow().iter().filter_map(|s| s.counts.get(&a.run_id).cloned()).collect();
        let sum = |f: fn(&crate::ledger::ShardCounts) -> u64| counts.iter().map(f).sum::<u64>();
        assert_eq!((sum(|c| c.dead), sum(|c| c.in_flight), sum(|c| c.retrying)), (2, 0, 0), "{counts:?}");
    }
}
