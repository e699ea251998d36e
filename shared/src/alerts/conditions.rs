//! The alert conditions: what the dispatcher observed on one tick, turned into the conditions
//! that hold and the sources that were observed ([`evaluate`]).
//!
//! - **Health** (`health:failing`, `health:degraded`): the latest health-check report is
//!   `failing` (critical: a check of the platform failed) or `degraded` (warning: only customer
//!   sites failed). Two keys, so a degraded platform that starts failing is announced anew, and
//!   its recovery to merely degraded resolves the failure.
//! - **Breakers** (`breaker:{role}`): a role's breaker is open or half-open (not yet healed).
//! - **Sweeps** (`sweep`): the newest sweep scheduled before this tick has not completed (it did
//!   not finish before the next one started), or an incomplete recent sweep is older than
//!   [`Thresholds::sweep_lag_ms`].
//! - **Dead letters** (`dead-letters`): the store holds at least
//!   [`Thresholds::dead_letter_rows`] entries (the store's own warning size).
//! - **Reports** (`report:{task}`): a monthly analytics or end-of-month run not complete
//!   [`Thresholds::report_deadline_ms`] after its slot ([`report_runs_due`] names the runs).
//!
//! Times here are the tick's scheduled time (`at_ms`), the instant the platform meant, as the
//! catch-up of missed runs uses it: a test that fires a tick with a fixed time sees the same
//! conditions every time.

use chrono::{DateTime, TimeDelta, Utc};

use super::{Condition, Severity, Source, KEY_BREAKER, KEY_DEAD_LETTERS, KEY_HEALTH, KEY_REPORT, KEY_SWEEP};
use crate::breaker::{BreakerState, BreakersView};
use crate::ledger::RunProgress;
use crate::names::Environment;
use crate::reports::health::{HealthReport, HealthStatus};
use crate::reports::period::health_check_key;
use crate::reports::runs::{run_for_slot, ReportRun};
use crate::schedule::{latest_at_or_before, Task, SCHEDULES};

/// When a condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// An incomplete sweep older than this is lagging (15 min: five sweep periods).
    pub sweep_lag_ms: i64,
    /// The dead-letter store at or above this many entries (`DEAD_LETTER_WARN_ROWS`).
    pub dead_letter_rows: u64,
    /// A monthly report run not complete this long after its slot is late (6 h: the monthly
    /// analytics of 100,000 customers take well under an hour; catch-up starts a missed run
    /// within one tick).
    pub report_deadline_ms: i64,
}

impl Thresholds {
    pub const SWEEP_LAG_MS: i64 = 15 * 60_000;
    pub const REPORT_DEADLINE_MS: i64 = 6 * 3_600_000;

    pub fn new(dead_letter_rows: u64) -> Self {
        Self { sweep_lag_ms: Self::SWEEP_LAG_MS, dead_letter_rows, report_deadline_ms: Self::REPORT_DEADLINE_MS }
    }
}

/// A monthly report run whose deadline has passed, and whether it completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportObservation {
    pub task: Task,
    pub run_id: String,
    pub slot_ms: i64,
    /// `None`: the ledger does not know the run (it never started).
    pub progress: Option<RunProgress>,
}

/// What one tick observed. `None` for a source that could not be read or has no data: it
/// decides nothing.
#[derive(Debug, Clone, Default)]
pub struct Observations {
    /// The newest health-check report.
    pub health: Option<HealthReport>,
    pub breakers: Option<BreakersView>,
    /// Recent runs (any task; the sweeps are picked out), newest first.
    pub recent_runs: Option<Vec<RunProgress>>,
    /// Entries in the dead-letter store.
    pub dead_letters: Option<u64>,
    /// Every run [`report_runs_due`] named, looked up.
    pub reports: Option<Vec<ReportObservation>>,
}

/// The conditions that hold, and the sources that were observed.
pub fn evaluate(seen: &Observations, at_ms: i64, thresholds: &Thresholds) -> (Vec<Condition>, Vec<Source>) {
    let mut conditions = Vec::new();
    let mut observed = Vec::new();
    if let Some(report) = &seen.health {
        observed.push(Source::Health);
        conditions.extend(health(report));
    }
    if let Some(breakers) = &seen.breakers {
        observed.push(Source::Breakers);
        conditions.extend(breaker_conditions(breakers));
    }
    if let Some(runs) = &seen.recent_runs {
        observed.push(Source::Sweeps);
        conditions.extend(sweeps(runs, at_ms, thresholds.sweep_lag_ms));
    }
    if let Some(rows) = seen.dead_letters {
        observed.push(Source::DeadLetters);
        if rows >= thresholds.dead_letter_rows {
            conditions.push(Condition {
                key: KEY_DEAD_LETTERS.to_owned(),
                severity: Severity::Warning,
                summary: format!("the dead-letter store holds {rows} entries (threshold {})", thresholds.dead_letter_rows),
            });
        }
    }
    if let Some(reports) = &seen.reports {
        observed.push(Source::Reports);
        conditions.extend(late_reports(reports));
    }
    (conditions, observed)
}

fn health(report: &HealthReport) -> Option<Condition> {
    let failed: Vec<String> = report.checks.iter().filter(|c| !c.ok).map(|c| format!("{} ({})", c.name, c.detail)).collect();
    let (severity, word) = match report.status {
        HealthStatus::Ok => return None,
        HealthStatus::Degraded => (Severity::Warning, "degraded"),
        HealthStatus::Failing => (Severity::Critical, "failing"),
    };
    Some(Condition {
        key: format!("{KEY_HEALTH}:{word}"),
        severity,
        summary: format!("health check {} is {word}: {}", report.run_id, failed.join("; ")),
    })
}

/// The breaker rule: a breaker that is not closed is an incident of its role.
pub fn breaker_conditions(breakers: &BreakersView) -> Vec<Condition> {
    breakers
        .breakers
        .iter()
        .filter(|b| b.state != BreakerState::Closed)
        .map(|b| Condition {
            key: format!("{KEY_BREAKER}:{}", b.role.as_str()),
            severity: Severity::Critical,
            summary: format!(
                "the {} breaker is {} since {}: {}",
                b.role.as_str(),
                b.state.as_str(),
                crate::ids::from_epoch_ms(b.since_ms).map_or_else(|| format!("{} ms", b.since_ms), crate::ids::rfc3339),
                b.reason
            ),
        })
        .collect()
}

fn sweeps(runs: &[RunProgress], at_ms: i64, lag_ms: i64) -> Option<Condition> {
    let task = Task::Optimize.as_str();
    let mut sweeps: Vec<&RunProgress> = runs.iter().filter(|r| r.task == task && r.scheduled_ms < at_ms).collect();
    sweeps.sort_by_key(|r| std::cmp::Reverse(r.scheduled_ms));
    let ended = |r: &RunProgress| r.succeeded + r.dead + r.superseded;
    let previous = sweeps.first().filter(|r| !r.complete);
    let oldest_lagging = sweeps.iter().rev().find(|r| !r.complete && at_ms - r.scheduled_ms >= lag_ms);
    let (what, run) = match (oldest_lagging, previous) {
        (Some(run), _) => (format!("lags {} s (threshold {} s)", (at_ms - run.scheduled_ms) / 1000, lag_ms / 1000), *run),
        (None, Some(run)) => ("did not complete before the next tick".to_owned(), *run),
        (None, None) => return None,
    };
    Some(Condition {
        key: KEY_SWEEP.to_owned(),
        severity: Severity::Critical,
        summary: format!("sweep {} {what}: {} of {} jobs ended", run.run_id, ended(run), run.expected),
    })
}

fn late_reports(reports: &[ReportObservation]) -> Vec<Condition> {
    let mut out: Vec<Condition> = Vec::new();
    for r in reports.iter().filter(|r| !r.progress.as_ref().is_some_and(|p| p.complete)) {
        let key = format!("{KEY_REPORT}:{}", r.task.as_str());
        if out.iter().any(|c| c.key == key) {
            continue;
        }
        let state = match &r.progress {
            None => "never started".to_owned(),
            Some(p) => format!("{} of {} jobs ended", p.succeeded + p.dead + p.superseded, p.expected),
        };
        out.push(Condition {
            key,
            severity: Severity::Critical,
            summary: format!("{} is not finished past its deadline: {state}", r.run_id),
        });
    }
    out
}

/// The monthly report runs of `environment` to look at, at `at`: for each monthly schedule, the
/// run of its latest slot whose deadline has passed (the slot before the latest while the latest
/// is still within its deadline). That run stays the one looked at until the next slot's
/// deadline passes, so a late run stays an incident for a whole period unless it completes.
pub fn report_runs_due(environment: Environment, at: DateTime<Utc>, deadline_ms: i64) -> Vec<ReportRun> {
    let mut out = Vec::new();
    for schedule in SCHEDULES.iter().filter(|s| matches!(s.task, Task::MonthlyAnalytics | Task::EndOfMonth) && s.runs_in(environment)) {
        let mut cursor = at;
        for _ in 0..2 {
            let Ok(Some(slot)) = latest_at_or_before(schedule.cron, cursor) else { break };
            if at.timestamp_millis() - slot.timestamp_millis() >= deadline_ms {
                out.extend(run_for_slot(environment.as_str(), schedule.task, slot));
                break;
            }
            cursor = slot - TimeDelta::minutes(1);
        }
    }
    out
}

/// The R2 keys of the health-check reports that may be the latest at `at`, newest first: the
/// latest slot's (written once its job ran, possibly after this tick) and the one before.
/// Empty where the environment runs no health check.
pub fn health_report_keys(environment: Environment, at: DateTime<Utc>) -> Vec<String> {
    let schedule = crate::schedule::schedule_of(Task::HealthCheck);
    if !schedule.runs_in(environment) {
        return Vec::new();
    }
    let mut keys = Vec::new();
    let mut cursor = at;
    while keys.len() < 2 {
        let Ok(Some(slot)) = latest_at_or_before(schedule.cron, cursor) else { break };
        keys.push(health_check_key(slot));
        cursor = slot - TimeDelta::minutes(1);
    }
    keys
}

#[cfg(test)]
#[path = "conditions_tests.rs"]
mod tests;
