//! Auto-replay after an outage: once a breaker closes, the dead letters its outage caused are
//! replayed through the ordinary replay path (`dead_letters::selection`), where the
//! environment enables it (`BREAKER_AUTO_REPLAY`), at most [`AUTO_REPLAY_LIMIT`] per outage and
//! [`AUTO_REPLAY_RATE_PER_S`] a second.
//!
//! "Caused by the outage" is decided from the record alone: a transient failure, naming the
//! role (every elite error names its role: `elite brand answered HTTP 503`), whose last failure
//! fell between one window before the breaker opened (the failures that opened it) and its
//! closing ([`Outage`]).

use serde::{Deserialize, Serialize};

use super::{BreakerState, Transition};
use crate::dead_letters::query::{DeadLetterFilter, DeadLetterStatus};
use crate::dead_letters::record::DeadLetterRecord;
use crate::dead_letters::selection::Selection;
use crate::elite::EliteRole;
use crate::error::ErrorClass;

/// Dead letters replayed per healed outage, at most.
pub const AUTO_REPLAY_LIMIT: u32 = 500;
/// Replays delivered per second, at most (spread with queue delays).
pub const AUTO_REPLAY_RATE_PER_S: u32 = 20;
/// How far back the dispatcher looks for closings at each sweep: a few sweeps, so a firing
/// that failed is made up by the next; a second look finds the replayed entries no longer
/// `dead`, so nothing is replayed twice.
pub const AUTO_REPLAY_LOOKBACK_MS: i64 = 15 * 60_000;

/// One role's outage that has healed: from its opening (less one window) to its closing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    pub role: EliteRole,
    pub from_ms: i64,
    pub to_ms: i64,
}

/// The outages whose breaker closed after `since_ms`, oldest first. `transitions` are newest
/// first, as the breakers keep them; an outage whose opening is no longer kept starts at the
/// oldest transition of its role that is.
pub fn healed_since(transitions: &[Transition], since_ms: i64, window_ms: i64) -> Vec<Outage> {
    let mut outages = Vec::new();
    for (i, close) in transitions.iter().enumerate() {
        if close.at_ms <= since_ms || close.to != BreakerState::Closed {
            continue;
        }
        let older = transitions[i + 1..].iter().filter(|t| t.role == close.role);
        let opened =
            older.clone().find(|t| t.from == BreakerState::Closed && t.to == BreakerState::Open).or_else(|| older.clone().next_back());
        let from_ms = opened.map_or(close.at_ms, |t| t.at_ms) - window_ms;
        outages.push(Outage { role: close.role, from_ms, to_ms: close.at_ms });
    }
    outages.reverse();
    outages
}

/// The audit log's actor of the auto-replays (a service: the dispatcher acting on its own).
pub const AUTO_REPLAY_ACTOR: &str = "breaker-auto-replay";

impl Outage {
    /// The audit log's record of this outage's auto-replay of `ids`, as the admin API's replay
    /// would record it: the request body (the ids and a reason naming the outage) and the
    /// answer (`done`, which the entry's count reads).
    pub fn audit(&self, ids: &[String]) -> (String, String) {
        let reason = format!(
            "automatic: the {} breaker closed at {}; these dead letters failed during its outage",
            self.role.as_str(),
            crate::ids::from_epoch_ms(self.to_ms).map_or_else(|| format!("{} ms", self.to_ms), crate::ids::rfc3339),
        );
        let body = serde_json::json!({"ids": ids, "reason": reason});
        let answer = serde_json::json!({"dry_run": false, "matched": ids.len(), "done": ids, "skipped": []});
        (body.to_string(), answer.to_string())
    }

    /// The store's filter for this outage's candidates (the role is checked by [`Self::caused`]).
    pub fn filter(&self) -> DeadLetterFilter {
        DeadLetterFilter {
            origin_queue: Some(crate::names::OPTIMIZE_QUEUE.to_owned()),
            customer_id: None,
            run_id: None,
            error_class: Some(ErrorClass::Transient),
            status: Some(DeadLetterStatus::Dead),
            from_ms: Some(self.from_ms),
            to_ms: Some(self.to_ms + 1),
        }
    }

    /// Whether this outage caused `record`'s death.
    pub fn caused(&self, record: &DeadLetterRecord) -> bool {
        self.caused_by(record.error.class, &record.error.message, record.failed_ms)
    }

    /// [`Self::caused`] over a stored row's columns: a transient failure in the outage's window
    /// whose message names the role.
    pub fn caused_by(&self, class: ErrorClass, message: &str, failed_ms: i64) -> bool {
        class == ErrorClass::Transient
            && (self.from_ms..=self.to_ms).contains(&failed_ms)
            && message.contains(&format!("elite {}", self.role.as_str()))
    }

    /// The `LIKE` pattern of the error messages that name this outage's role, so the store
    /// picks the role's letters before its `LIMIT` (another role's newer letters cannot crowd
    /// them out); [`Self::caused_by`] checks each row again.
    pub fn role_pattern(&self) -> String {
        format!("%elite {}%", self.role.as_str())
    }

    /// How many more of this outage's letters may be replayed when `replayed` already were
    /// (the dispatcher looks at each closing at every sweep for [`AUTO_REPLAY_LOOKBACK_MS`]):
    /// [`AUTO_REPLAY_LIMIT`] per outage in all, not per look.
    pub fn allowance(replayed: u64) -> u32 {
        u32::try_from(u64::from(AUTO_REPLAY_LIMIT).saturating_sub(replayed)).unwrap_or(0)
    }

    /// How the dispatcher asks for this outage's replay through the ordinary replay path.
    pub fn selection(&self) -> Selection {
        Selection {
            ids: None,
            filter: Some(self.filter()),
            dry_run: false,
            limit: Some(AUTO_REPLAY_LIMIT),
            rate_per_s: Some(AUTO_REPLAY_RATE_PER_S),
            reason: Some(format!("auto-replay: the elite {} outage healed", self.role.as_str())),
        }
    }
}
