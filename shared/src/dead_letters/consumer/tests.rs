//! The dead-letters consumer over the twins: what it answers for each message, what the store
//! then holds, and what it logs, when the store, the ledger or the configuration fail.

use std::collections::HashMap;

use futures::executor::block_on;

use super::*;
use crate::dead_letters::query::DeadLetterStatus;
use crate::dead_letters::record::record_for;
use crate::error::JobError;
use crate::ids::{from_epoch_ms, CustomerId, RunId};
use crate::ledger::{shard_of, ClaimRequest, JobClaim, JobState};
use crate::names::{OPTIMIZE_DLQ, OPTIMIZE_QUEUE};
use crate::schedule::Task;
use crate::site::SiteUrl;
use crate::testkit::dead_letters::MemoryDeadLetterStore;
use crate::testkit::ports::{MemoryLedger, MemoryResults};
use crate::wire::{DeadLetter, OptimizeJob, DEAD_LETTER_VERSION};

const NOW: i64 = 1_800_000_000_000;

/// The twins one batch runs over.
#[derive(Default)]
struct Twins {
    ledger: MemoryLedger,
    results: MemoryResults,
    store: MemoryDeadLetterStore,
}

impl Twins {
    /// Runs one batch of `bodies`, each sent `age_ms` before now, with the Worker's `vars`.
    fn run(&self, bodies: &[String], age_ms: i64, vars: &[(&str, &str)]) -> Processed {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let lookup = move |name: &str| vars.get(name).cloned();
        let deliveries: Vec<Delivery> = bodies.iter().map(|body| Delivery { body: body.clone(), sent_ms: NOW - age_ms }).collect();
        let consumer = DeadLetterConsumer { ledger: &self.ledger, results: &self.results, store: &self.store, dlq: OPTIMIZE_DLQ };
        block_on(consumer.process_batch(&deliveries, &lookup, &|| NOW))
    }
}

fn job(customer: &str) -> OptimizeJob {
    let at = from_epoch_ms(1_795_914_900_000).unwrap();
    let customer = CustomerId::parse(customer).unwrap();
    OptimizeJob::new(RunId::new("local", Task::Optimize, at), at, customer, SiteUrl::parse("https://a.example").unwrap())
}

fn letter(customer: &str) -> String {
    let job = job(customer);
    DeadLetter {
        v: DEAD_LETTER_VERSION,
        origin_queue: OPTIMIZE_QUEUE.into(),
        body: job.encode(),
        error: JobError::permanent("elite brand answered HTTP 400"),
        attempts: 3,
        job_id: Some(job.job_id.as_str().into()),
        run_id: Some(job.sweep_id.as_str().into()),
        customer_id: Some(customer.into()),
        dead_at_ms: NOW - 1_000,
    }
    .encode()
}

/// A letter, a poison body and a raw job the queue dead-lettered: the three kinds of message.
fn batch() -> Vec<String> {
    vec![letter("acme"), "\u{0}garbage".to_owned(), job("blue").encode()]
}

fn ids() -> Vec<String> {
    vec![job("acme").job_id.as_str().to_owned(), record_for("\u{0}garbage", "", "", 0).id, job("blue").job_id.as_str().to_owned()]
}

fn stored_ids(store: &MemoryDeadLetterStore) -> Vec<String> {
    let mut ids: Vec<String> = store.rows.borrow().keys().cloned().collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[test]
fn every_kind_of_message_is_stored_then_acked() {
    let twins = Twins::default();
    let out = twins.run(&batch(), 5_000, &[]);
    assert_eq!(out.actions, vec![Action::Ack; 3]);
    assert_eq!(stored_ids(&twins.store), sorted(ids()));
    assert_eq!(twins.ledger.job(job("blue").job_id.as_str()).map(|j| j.state), Some(JobState::Dead), "the raw job is settled first");
    let stored: Vec<&IntakeEvent> = out.events.iter().filter(|e| matches!(e, IntakeEvent::Stored { .. })).collect();
    assert_eq!(stored.len(), 3, "{:?}", out.events);
    assert!(!out.events.iter().any(IntakeEvent::is_alarm), "{:?}", out.events);
    // The same batch again (a redelivery) updates the rows instead of adding any.
    assert_eq!(twins.run(&batch(), 5_000, &[]).actions, vec![Action::Ack; 3]);
    assert_eq!(block_on(twins.store.count()), Ok(3));
}

#[test]
fn a_store_failure_is_retried_by_age_never_acked_unstored() {
    let twins = Twins::default();
    twins.store.fail_writes.set(true);
    for (age_ms, delay_s) in [(0, 30), (600_000, 300), (86_400_000, 43_200)] {
        let out = twins.run(&batch(), age_ms, &[]);
        assert_eq!(out.actions, vec![Action::Retry { delay_s }; 3], "age {age_ms}");
        for (event, id) in out.events.iter().zip(ids()) {
            let IntakeEvent::Retried { reason, .. } = event else { panic!("{event:?}") };
            assert!(reason.starts_with(&format!("store {id}: ")) && reason.contains("unavailable"), "{reason}");
        }
    }
    assert!(twins.store.rows.borrow().is_empty());
    // Once the store is back, the retried messages are stored and acked.
    twins.store.fail_writes.set(false);
    assert_eq!(twins.run(&batch(), 0, &[]).actions, vec![Action::Ack; 3]);
    assert_eq!(stored_ids(&twins.store), sorted(ids()));
}

#[test]
fn a_job_another_delivery_holds_waits_out_the_lease() {
    let twins = Twins::default();
    let held = job("blue");
    let claim = ClaimRequest { claims: vec![JobClaim::of(&held)], now_ms: NOW, lease_ms: 90_000 };
    block_on(twins.ledger.claim(shard_of(&held.customer_id), &claim)).expect("claim");
    let out = twins.run(&[held.encode()], 0, &[]);
    assert_eq!(out.actions, vec![Action::Retry { delay_s: 90 }]);
    assert!(matches!(&out.events[0], IntakeEvent::Retried { reason, .. } if reason.contains("lease")), "{:?}", out.events);
    assert!(twins.store.rows.borrow().is_empty());
}

#[test]
fn a_job_whose_result_was_written_is_dropped_as_ended() {
    let twins = Twins::default();
    let done = job("blue");
    let key = crate::optimization::optimization_key(&done.customer_id, done.scheduled);
    block_on(crate::ports::ResultStore::put(&twins.results, &key, b"{}".to_vec(), done.job_id.as_str())).unwrap();
    let out = twins.run(&[done.encode()], 0, &[]);
    assert_eq!(out.actions, vec![Action::Ack]);
    assert!(matches!(&out.events[0], IntakeEvent::Dropped { reason, .. } if reason.contains("succeeded")), "{:?}", out.events);
    assert!(twins.store.rows.borrow().is_empty());
}

#[test]
fn a_malformed_warning_size_is_a_clear_error_and_nothing_is_lost() {
    let twins = Twins::default();
    let out = twins.run(&batch(), 0, &[("DEAD_LETTER_WARN_ROWS", "100k")]);
    assert_eq!(out.actions, vec![Action::Ack; 3], "the messages are stored all the same");
    assert_eq!(stored_ids(&twins.store), sorted(ids()));
    let expected = IntakeEvent::ConfigInvalid {
        variable: "DEAD_LETTER_WARN_ROWS",
        error: "configuration variable DEAD_LETTER_WARN_ROWS: \"100k\" is not a whole number".into(),
    };
    assert_eq!(out.events.last(), Some(&expected));
    assert!(expected.is_alarm());
}

#[test]
fn the_store_says_when_it_nears_its_warning_size() {
    let twins = Twins::default();
    let last = |out: Processed| out.events.last().cloned();
    assert!(matches!(last(twins.run(&batch(), 0, &[("DEAD_LETTER_WARN_ROWS", "4")])), Some(IntakeEvent::Stored { .. })));
    let near = last(twins.run(&["another poison".to_owned()], 0, &[("DEAD_LETTER_WARN_ROWS", "4")]));
    assert!(matches!(near, Some(IntakeEvent::NearCapacity { rows: 4, warn_at: 4, .. })), "{near:?}");
    twins.store.fail_counts.set(true);
    let out = twins.run(&["a third poison".to_owned()], 0, &[]);
    assert_eq!(out.actions, vec![Action::Ack], "a failed count changes no message's fate");
    assert!(matches!(out.events.last(), Some(IntakeEvent::CountFailed { .. })), "{:?}", out.events);
}

#[test]
fn a_purged_entry_stays_purged_when_its_letter_comes_again() {
    let twins = Twins::default();
    twins.run(&[letter("acme")], 0, &[]);
    let id = job("acme").job_id.as_str().to_owned();
    twins.store.rows.borrow_mut().get_mut(&id).unwrap().status = DeadLetterStatus::Purged;
    assert_eq!(twins.run(&[letter("acme")], 0, &[]).actions, vec![Action::Ack]);
    assert_eq!(twins.store.row(&id).map(|r| r.status), Some(DeadLetterStatus::Purged));
}

#[test]
fn an_unbound_batch_is_retried_whole_after_the_longest_delay() {
    let deliveries = vec![Delivery { body: "x".into(), sent_ms: NOW }; 2];
    let out = unbound(&deliveries, "DB, LEDGER or RESULTS binding missing".into());
    assert_eq!(out.actions, vec![Action::Retry { delay_s: RetryPolicy::QUEUE_MAX_DELAY_S }; 2]);
    assert_eq!(out.events, vec![IntakeEvent::Unbound { error: "DB, LEDGER or RESULTS binding missing".into() }]);
}

#[test]
fn events_are_logged_as_the_lines_operators_search_for() {
    let check = |event: IntakeEvent, line: serde_json::Value| assert_eq!(serde_json::to_value(&event).unwrap(), line);
    check(
        IntakeEvent::Stored { id: "a".into(), class: ErrorClass::Permanent, error: "bad".into() },
        serde_json::json!({"event": "dead_letter_stored", "id": "a", "class": "permanent", "error": "bad"}),
    );
    check(
        IntakeEvent::Retried { delay_s: 30, reason: "r".into() },
        serde_json::json!({"event": "dead_letter_retry", "delay_s": 30, "reason": "r"}),
    );
    check(
        IntakeEvent::ConfigInvalid { variable: "DEAD_LETTER_WARN_ROWS", error: "e".into() },
        serde_json::json!({"event": "dead_letter_config_invalid", "variable": "DEAD_LETTER_WARN_ROWS", "error": "e"}),
    );
}
