//! Bad queue bodies through the optimizer's whole batch processing, over the in-memory twins:
//! each is dead-lettered alone, with its body and the decoder's reason (or retried, for a
//! newer wire version), and changes nothing else — no ledger request, no elite call, no
//! result, no metric — while a good job in the same batch is worked as usual.

use code24_shared::backoff::Rng;
use code24_shared::error::ErrorClass;
use code24_shared::pipeline::consumer::{Action, Consumer, Delivery};
use code24_shared::pipeline::optimize::OptimizeJobs;
use code24_shared::testkit::ports::{MemoryDeadLetters, MemoryElite, MemoryLedger, MemoryMetrics, MemoryResults};
use code24_shared::testkit::world::local_consumer_config;
use code24_shared::wire::{OptimizeJob, MAX_MESSAGE_BYTES};
use futures::executor::block_on;

use crate::corpus::{entries, text};

const NOW_MS: i64 = 1_795_914_960_000;

/// Every twin one batch touches, fresh.
#[derive(Default)]
pub(crate) struct Twins {
    pub(crate) ledger: MemoryLedger,
    pub(crate) elite: MemoryElite,
    pub(crate) results: MemoryResults,
    pub(crate) dead_letters: MemoryDeadLetters,
    pub(crate) metrics: MemoryMetrics,
}

impl Twins {
    pub(crate) fn run(&self, bodies: &[String]) -> Vec<Action> {
        let config = local_consumer_config();
        let consumer = Consumer {
            jobs: OptimizeJobs::new(&self.elite, &self.results, &config),
            ledger: &self.ledger,
            dead_letters: &self.dead_letters,
            metrics: &self.metrics,
            config: &config,
            origin_queue: code24_shared::names::OPTIMIZE_QUEUE,
        };
        let deliveries: Vec<Delivery> = bodies.iter().map(|b| Delivery { body: b.clone(), sent_ms: NOW_MS }).collect();
        block_on(consumer.process_batch(&deliveries, &|| NOW_MS, &mut Rng::new(7)))
    }

    /// Nothing but dead letters: no ledger request, elite call, result or metric.
    pub(crate) fn assert_untouched(&self, what: &str) {
        assert_eq!(self.ledger.requests.get(), 0, "{what}: no ledger request");
        assert!(self.elite.calls_per_job.borrow().is_empty(), "{what}: no elite call");
        assert!(self.results.objects.borrow().is_empty(), "{what}: no result");
        assert!(self.metrics.finished.borrow().is_empty(), "{what}: no metric");
    }
}

/// The corpus's wire bodies as the queue would hand them over (text).
fn corpus_bodies() -> Vec<(String, String, String)> {
    entries("wire")
        .into_iter()
        .map(|(name, bytes, cols)| {
            let body = text(&bytes).unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
            (name, body, cols[0].clone())
        })
        .collect()
}

/// A bad body's one dead letter: its body verbatim (or the longest prefix that fits a queue
/// message), and exactly the decoder's reason.
fn assert_dead_lettered(twins: &Twins, what: &str, body: &str) {
    let letters = twins.dead_letters.letters.borrow();
    let letter = letters.iter().find(|l| body.starts_with(&l.body) && (l.body == body || l.error.message.contains("cut to fit")));
    let letter = letter.unwrap_or_else(|| panic!("{what}: no dead letter carries its body"));
    let reason = OptimizeJob::decode(body).expect_err(what);
    let head: String = reason.message.chars().take(100).collect();
    assert!(letter.error.message.starts_with(&head), "{what}: {}", letter.error.message);
    assert_eq!(letter.error.class, ErrorClass::Permanent, "{what}");
    assert_eq!((letter.attempts, letter.job_id.as_deref()), (0, None), "{what}");
}

#[test]
fn each_bad_body_is_dead_lettered_alone_and_changes_nothing_else() {
    let bodies = corpus_bodies();
    for (name, body, expected) in &bodies {
        let twins = Twins::default();
        let actions = twins.run(std::slice::from_ref(body));
        match expected.as_str() {
            "ok" => {
                assert_eq!(actions, vec![Action::Ack], "{name}");
                assert_eq!(twins.results.objects.borrow().len(), 1, "{name}: one result");
                assert!(twins.dead_letters.letters.borrow().is_empty(), "{name}");
            }
            "permanent" => {
                assert_eq!(actions, vec![Action::Ack], "{name}: acked once its dead letter is sent");
                assert_eq!(twins.dead_letters.letters.borrow().len(), 1, "{name}");
                assert_dead_lettered(&twins, name, body);
                twins.assert_untouched(name);
            }
            "transient" => {
                assert!(matches!(actions[..], [Action::Retry { .. }]), "{name}: {actions:?}");
                assert!(twins.dead_letters.letters.borrow().is_empty(), "{name}");
                twins.assert_untouched(name);
            }
            other => panic!("{name}: unknown expectation {other}"),
        }
    }
}

#[test]
fn a_batch_of_every_bad_body_still_works_its_good_jobs() {
    let bodies = corpus_bodies();
    let all: Vec<String> = bodies.iter().map(|(_, b, _)| b.clone()).collect();
    let twins = Twins::default();
    let actions = twins.run(&all);
    let mut good_keys = std::collections::BTreeSet::new();
    for ((name, body, expected), action) in bodies.iter().zip(&actions) {
        match expected.as_str() {
            "permanent" => {
                assert_eq!(*action, Action::Ack, "{name}");
                assert_dead_lettered(&twins, name, body);
            }
            "transient" => assert!(matches!(action, Action::Retry { .. }), "{name}: {action:?}"),
            _ => {
                let job = OptimizeJob::decode(body).expect("a good body");
                // Good bodies may name the same job (a duplicate delivery): it is worked once.
                good_keys.insert(code24_shared::optimization::optimization_key(&job.customer_id, job.scheduled));
            }
        }
    }
    let permanent = bodies.iter().filter(|(_, _, e)| e == "permanent").count();
    assert_eq!(twins.dead_letters.letters.borrow().len(), permanent, "one letter per bad body, no more");
    let written: std::collections::BTreeSet<String> = twins.results.objects.borrow().keys().cloned().collect();
    assert_eq!(written, good_keys, "exactly the good jobs' results");
    assert!(twins.ledger.requests.get() <= 2 * 8, "one claim and one complete per shard touched at most");
}

#[test]
fn oversized_bodies_are_refused_unread_and_their_letters_fit_the_queue() {
    let good = corpus_bodies().into_iter().find(|(n, _, _)| n == "good.json").expect("good.json").1;
    let bodies = [
        // Over the queue's limit: refused before parsing.
        format!("{good}{}", " ".repeat(MAX_MESSAGE_BYTES)),
        // Under the limit, but each control character escapes to six bytes in the letter.
        format!("{{\"v\":1,\"x\":\"{}\"}}", "\u{1}".repeat(60_000)),
        // Quotes and backslashes escape to two bytes each.
        format!("{{\"v\":1,\"x\":\"{}\"}}", "\\\"".repeat(40_000)),
    ];
    for body in &bodies {
        let twins = Twins::default();
        let actions = twins.run(std::slice::from_ref(body));
        let what = format!("a body of {} bytes", body.len());
        assert_eq!(actions, vec![Action::Ack], "{what}: its letter is sent, not retried forever");
        assert_dead_lettered(&twins, &what, body);
        let letters = twins.dead_letters.letters.borrow();
        assert!(letters[0].encode().len() <= MAX_MESSAGE_BYTES, "{what}");
        twins.assert_untouched(&what);
    }
}
