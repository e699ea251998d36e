//! Alerts, sans IO: which conditions make an incident, when an incident opens and resolves, and
//! which of its messages go to the environment's webhook now.
//!
//! The life cycle (ARCHITECTURE.md, "Alerts"): on every cron tick the dispatcher gathers its
//! [`conditions::Observations`] (the latest health check, the breakers, the recent sweeps, the
//! dead-letter store's size, the monthly report runs past their deadline), and
//! [`conditions::evaluate`] turns them into the [`Condition`]s that hold now, together with the
//! [`Source`]s that were actually observed. [`incidents::decide`] compares them with the open
//! incidents: a condition without an open incident opens one; an open incident whose source was
//! observed and whose condition no longer holds resolves. A source that could not be read (or
//! has no data, such as the breakers before they exist) decides nothing: it never opens nor
//! resolves. Each opening and each resolution is one message in an outbox, written in the same
//! store transaction as the incident (so a duplicate tick writes neither twice), and
//! [`outbox::plan`] decides which pending messages to send, hold or suppress (the rate cap), and
//! [`outbox::after_failure`] when a failed one is tried again.

pub mod conditions;
pub mod cost;
pub mod incidents;
pub mod outbox;

use serde::{Deserialize, Serialize};

use crate::reports::health::HealthReport;

/// Where a condition comes from. An incident resolves only when its source was observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The latest health-check report (`dev/health-checks/{timestamp}.json`).
    Health,
    /// The ledger's `breakers` instance (`GET /breakers`).
    Breakers,
    /// The recent optimization sweeps and their progress.
    Sweeps,
    /// The dead-letter store's size.
    DeadLetters,
    /// The monthly report runs (monthly analytics, end of month) and their deadlines.
    Reports,
}

impl Source {
    /// The source an incident key belongs to (its prefix before `:`), `None` for a key this
    /// build does not know (an incident of an older or newer build: left alone).
    pub fn of_key(key: &str) -> Option<Self> {
        match key.split(':').next().unwrap_or_default() {
            KEY_HEALTH => Some(Self::Health),
            KEY_BREAKER => Some(Self::Breakers),
            KEY_SWEEP => Some(Self::Sweeps),
            KEY_DEAD_LETTERS => Some(Self::DeadLetters),
            KEY_REPORT => Some(Self::Reports),
            _ => None,
        }
    }
}

/// Incident keys (one open incident per key at a time): `health:{failing|degraded}`,
/// `breaker:{role}`, `sweep`, `dead-letters`, `report:{task}`. The part before `:` names the
/// [`Source`].
pub const KEY_HEALTH: &str = "health";
pub const KEY_BREAKER: &str = "breaker";
pub const KEY_SWEEP: &str = "sweep";
pub const KEY_DEAD_LETTERS: &str = "dead-letters";
pub const KEY_REPORT: &str = "report";

/// How urgent an incident is: `critical` when the platform itself is broken or late, `warning`
/// when it works but something needs a look (a degraded health check, a growing store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// A condition that holds now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// The incident key it opens or keeps open.
    pub key: String,
    pub severity: Severity,
    /// One line an operator reads first: what is wrong, with the figures.
    pub summary: String,
}

impl Condition {
    pub fn source(&self) -> Option<Source> {
        Source::of_key(&self.key)
    }
}

/// The platform's health as the admin API answers it (`GET /api/health`) and the dashboard's
/// health page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthView {
    /// The newest health-check report of the last two hourly slots; `None` where none is
    /// written (or the environment runs no health check).
    pub health_check: Option<HealthReport>,
    /// `None`: no breaker data (the ledger has no breakers yet, or did not answer).
    pub breakers: Option<crate::breaker::BreakersView>,
    /// The newest incidents, open ones first.
    pub incidents: Vec<incidents::Incident>,
    /// The newest messages of the outbox, whatever became of them.
    pub alerts: Vec<outbox::Message>,
    /// Where alerts go: `stand-in` (local), `webhook`, `not configured`, or why the URL is refused.
    pub webhook: String,
}
