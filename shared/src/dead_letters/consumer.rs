//! The dead-letters consumer's batch processing, written once against the ports: for every
//! message of a dead-letter queue it takes [`settle_and_decide`]'s action, writes the record
//! to the store, and answers one ack or delayed retry; then it checks the store's size against
//! `DEAD_LETTER_WARN_ROWS`. The Worker (`consumers/dead-letters`) builds the ports, hands the
//! batch here, logs the events and carries out the actions.
//!
//! Architecture invariant: a message is acked only once its record is written (or the ledger
//! said its job ended after all). Every failure is a retry whose delay grows with the
//! message's age up to the queues' 12-hour maximum, so the consumer's 100 retries outlast the
//! queue's retention and nothing is dropped unstored.

use serde::Serialize;

use crate::backoff::RetryPolicy;
use crate::config;
use crate::dead_letters::intake::{origin_of, settle_and_decide, DeadLetterAction};
use crate::dead_letters::record::StoreStats;
use crate::error::ErrorClass;
use crate::pipeline::consumer::{Action, Delivery};
use crate::ports::{DeadLetterStore, Ledger, ResultStore};

/// Retry delays of this consumer: from 30 s up to the queues' 12-hour maximum, growing with
/// the message's age, so a long store outage spends few of the queue's retries.
pub const RETRY: RetryPolicy = RetryPolicy { base_s: 30, max_s: RetryPolicy::QUEUE_MAX_DELAY_S };

/// What the operator should do about a store near its warning size.
const NEAR_CAPACITY_ADVICE: &str = "purge handled entries (code24-ops dlq purge) or raise DEAD_LETTER_WARN_ROWS; nothing is dropped";

/// One thing worth a log line. Serialized as the line itself: `{"event": "...", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event")]
pub enum IntakeEvent {
    #[serde(rename = "dead_letter_stored")]
    Stored { id: String, class: ErrorClass, error: String },
    #[serde(rename = "dead_letter_dropped")]
    Dropped { id: String, reason: String },
    #[serde(rename = "dead_letter_retry")]
    Retried { delay_s: u32, reason: String },
    /// The Worker could not build its ports: every message of the batch is retried.
    #[serde(rename = "dead_letters_unbound")]
    Unbound { error: String },
    #[serde(rename = "dead_letter_store_near_capacity")]
    NearCapacity { rows: u64, warn_at: u64, advice: &'static str },
    #[serde(rename = "dead_letter_store_count_failed")]
    CountFailed { error: String },
    /// `DEAD_LETTER_WARN_ROWS` is malformed: the size check is skipped (no threshold is made
    /// up), the messages are stored all the same.
    #[serde(rename = "dead_letter_config_invalid")]
    ConfigInvalid { variable: &'static str, error: String },
}

impl IntakeEvent {
    /// Whether an operator should look (logged as an error): anything but a message handled.
    pub fn is_alarm(&self) -> bool {
        !matches!(self, Self::Stored { .. } | Self::Dropped { .. })
    }
}

/// A batch's outcome: one action per delivery, in order, and what to log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Processed {
    pub actions: Vec<Action>,
    pub events: Vec<IntakeEvent>,
}

/// The ports one dead-letters consumer invocation works with.
pub struct DeadLetterConsumer<'a, L, R, S> {
    pub ledger: &'a L,
    pub results: &'a R,
    pub store: &'a S,
    /// The dead-letter queue the batch came from (with its environment suffix when deployed).
    pub dlq: &'a str,
}

impl<L: Ledger, R: ResultStore, S: DeadLetterStore> DeadLetterConsumer<'_, L, R, S> {
    /// Decides, stores and answers every delivery of a batch, one at a time; `vars` are the
    /// Worker's vars, `now` its clock.
    pub async fn process_batch(&self, deliveries: &[Delivery], vars: &dyn Fn(&str) -> Option<String>, now: &dyn Fn() -> i64) -> Processed {
        let origin = origin_of(self.dlq);
        let mut out = Processed::default();
        for delivery in deliveries {
            let now_ms = now();
            let age_ms = now_ms - delivery.sent_ms;
            let (action, event) = match settle_and_decide(&delivery.body, self.dlq, &origin, self.ledger, self.results, now_ms).await {
                DeadLetterAction::Store(record) => match self.store.upsert(&record).await {
                    Ok(()) => (Action::Ack, IntakeEvent::Stored { class: record.error.class, error: record.error.message, id: record.id }),
                    Err(e) => retry(age_ms, 0, format!("store {}: {e}", record.id)),
                },
                DeadLetterAction::Drop { id, reason } => (Action::Ack, IntakeEvent::Dropped { id, reason }),
                DeadLetterAction::Retry { reason, after_ms } => retry(age_ms, after_ms, reason),
            };
            out.actions.push(action);
            out.events.push(event);
        }
        out.events.extend(self.capacity_warning(vars).await);
        out
    }

    /// The store never drops an entry to make room; when it nears its configured size it says
    /// so, once per batch, so an operator purges or raises the limit.
    async fn capacity_warning(&self, vars: &dyn Fn(&str) -> Option<String>) -> Option<IntakeEvent> {
        let warn_at = match config::dead_letter_warn_rows(vars) {
            Ok(warn_at) => warn_at,
            Err(e) => return Some(IntakeEvent::ConfigInvalid { variable: e.variable, error: e.to_string() }),
        };
        let rows = match self.store.count().await {
            Ok(rows) => rows,
            Err(e) => return Some(IntakeEvent::CountFailed { error: e.to_string() }),
        };
        let stats = StoreStats::new(rows, warn_at);
        stats.near_capacity.then_some(IntakeEvent::NearCapacity { rows: stats.rows, warn_at: stats.warn_at, advice: NEAR_CAPACITY_ADVICE })
    }
}

/// A batch whose ports could not be built (a binding missing): every message is retried after
/// the longest delay, for an operator to fix the deployment meanwhile.
pub fn unbound(deliveries: &[Delivery], error: String) -> Processed {
    Processed { actions: vec![Action::Retry { delay_s: RETRY.max_s }; deliveries.len()], events: vec![IntakeEvent::Unbound { error }] }
}

/// A retry no sooner than `after_ms`, and later the older the message is.
fn retry(age_ms: i64, after_ms: i64, reason: String) -> (Action, IntakeEvent) {
    let delay_s = RETRY.delay_for_age_after_wait_s(age_ms, after_ms);
    (Action::Retry { delay_s }, IntakeEvent::Retried { delay_s, reason })
}

#[cfg(test)]
mod tests;
