//! The schedules page's model: every cron of an environment with a plain-English description
//! and its next run times (both from `saffron`, Cloudflare's own cron parser), and the last run
//! of each with its status. A run that started long after its slot was a catch-up (or a
//! backfill): it is marked as such.

use chrono::{DateTime, Utc};
use saffron::parse::{CronExpr, English, HourFormat};
use saffron::Cron;

use code24_shared::ledger::RunProgress;
use code24_shared::names::Environment;
use code24_shared::reports::runs::run_for_slot;
use code24_shared::schedule::{latest_at_or_before, Schedule, Task, SCHEDULES};

/// A run that started this long after its slot did not start from its own firing: the
/// catch-up of a missed slot, or an operator's backfill. Firings start within seconds.
pub const LATE_START_MS: i64 = 10 * 60_000;

/// How many upcoming firings the page lists per schedule.
pub const NEXT_RUNS: usize = 3;

/// The plain-English description of a cron expression (UTC, 24-hour clock), e.g. "At 23:59 on
/// the last weekday of the month".
pub fn describe(cron: &str) -> Result<String, String> {
    let expr: CronExpr = cron.parse().map_err(|e| format!("invalid cron {cron:?}: {e}"))?;
    let mut english = English::new();
    english.hour = HourFormat::Hour24;
    Ok(expr.describe(english).to_string())
}

/// The next `n` firings of `cron` strictly after `after`.
pub fn next_runs(cron: &str, after: DateTime<Utc>, n: usize) -> Result<Vec<DateTime<Utc>>, String> {
    let parsed: Cron = cron.parse().map_err(|e| format!("invalid cron {cron:?}: {e:?}"))?;
    Ok(parsed.iter_after(after).take(n).collect())
}

/// What the page says about a schedule's last run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastRun {
    /// No run of this task is known to the ledger (none yet, or pruned).
    Never,
    Run {
        /// The sweep or report run id.
        id: String,
        scheduled_ms: i64,
        status: RunStatus,
        /// Started [`LATE_START_MS`] or more after its slot.
        catch_up: bool,
    },
}

/// A run's status in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Succeeded,
    /// Complete, with at least one dead job.
    Failed,
    /// The producer died mid-fan-out and a newer sweep took over.
    Abandoned,
}

impl RunStatus {
    pub fn of(p: &RunProgress) -> Self {
        if p.phase == code24_shared::ledger::RunPhase::Abandoned {
            Self::Abandoned
        } else if !p.complete {
            Self::Running
        } else if p.dead > 0 {
            Self::Failed
        } else {
            Self::Succeeded
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Abandoned => "abandoned",
        }
    }
}

impl LastRun {
    pub fn of(p: &RunProgress) -> Self {
        Self::Run {
            id: p.run_id.clone(),
            scheduled_ms: p.scheduled_ms,
            status: RunStatus::of(p),
            catch_up: p.started_ms - p.scheduled_ms >= LATE_START_MS,
        }
    }
}

/// One row of the schedules page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRow {
    pub schedule: &'static Schedule,
    pub english: String,
    pub next: Vec<DateTime<Utc>>,
    pub last: LastRun,
}

/// The run id the ledger would hold for `task`'s latest slot at or before `now`: where to
/// look for a report run too rare to be among the recent sweeps. `None` for the sweep task
/// (its recent sweeps are always listed) or when the cron has not fired in the look-back.
pub fn latest_run_id(environment: Environment, task: Task, cron: &str, now: DateTime<Utc>) -> Option<String> {
    let slot = latest_at_or_before(cron, now).ok().flatten()?;
    run_for_slot(environment.as_str(), task, slot).map(|r| r.run_id)
}

/// The rows of `environment`'s schedules at `now`. `known` holds the runs the Worker looked
/// up (recent sweeps plus each report task's latest run); the newest of each task is its last
/// run.
pub fn rows(environment: Environment, now: DateTime<Utc>, known: &[RunProgress]) -> Vec<ScheduleRow> {
    SCHEDULES
        .iter()
        .filter(|s| s.runs_in(environment))
        .map(|schedule| {
            let last = known
                .iter()
                .filter(|p| p.task == schedule.task.as_str())
                .max_by_key(|p| p.scheduled_ms)
                .map_or(LastRun::Never, LastRun::of);
            ScheduleRow {
                schedule,
                english: describe(schedule.cron).unwrap_or_else(|e| e),
                next: next_runs(schedule.cron, now, NEXT_RUNS).unwrap_or_default(),
                last,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use code24_shared::ledger::RunPhase;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn descriptions_are_plain_english() {
        let check = |cron: &str, expected: &str| assert_eq!(describe(cron).as_deref(), Ok(expected), "{cron}");
        check("*/3 * * * *", "Every 3rd minute starting from minute 0 to minute 59 past the hour");
        check("0 * * * *", "Every hour");
        check("0 15 1 * *", "At 15:00 on the 1st of every month");
        check("59 23 LW * *", "At 23:59 on the last weekday of every month");
        assert!(describe("61 * * * *").is_err());
    }

    #[test]
    fn next_run_times() {
        let check = |cron: &str, after, expected: Vec<DateTime<Utc>>| {
            assert_eq!(next_runs(cron, after, 3).unwrap(), expected, "{cron} after {after}");
        };
        let now = at(2026, 11, 29, 4, 31);
        check("*/3 * * * *", now, vec![at(2026, 11, 29, 4, 33), at(2026, 11, 29, 4, 36), at(2026, 11, 29, 4, 39)]);
        check("*/3 * * * *", at(2026, 11, 29, 4, 33), vec![at(2026, 11, 29, 4, 36), at(2026, 11, 29, 4, 39), at(2026, 11, 29, 4, 42)]);
        check("0 15 1 * *", now, vec![at(2026, 12, 1, 15, 0), at(2027, 1, 1, 15, 0), at(2027, 2, 1, 15, 0)]);
        // Last weekdays: Mon 30 Nov 2026, Thu 31 Dec 2026, Fri 29 Jan 2027 (31 Jan is a Sunday).
        check("59 23 LW * *", now, vec![at(2026, 11, 30, 23, 59), at(2026, 12, 31, 23, 59), at(2027, 1, 29, 23, 59)]);
        assert!(next_runs("not a cron", now, 1).is_err());
    }

    fn progress(id: &str, task: &str, scheduled_ms: i64, started_ms: i64, complete: bool, dead: u64) -> RunProgress {
        RunProgress {
            run_id: id.into(),
            task: task.into(),
            scheduled_ms,
            phase: RunPhase::Enqueued,
            expected: 2,
            enqueued: 2,
            in_flight: 0,
            retrying: 0,
            succeeded: 2 - dead,
            dead,
            superseded: 0,
            duplicates: 0,
            firings: 1,
            started_ms,
            fanout_done_ms: Some(started_ms),
            finished_ms: complete.then_some(started_ms + 1_000),
            complete,
        }
    }

    #[test]
    fn last_runs_and_catch_ups() {
        let now = at(2026, 12, 1, 16, 0);
        let slot = at(2026, 12, 1, 15, 0).timestamp_millis();
        let known = vec![
            progress("local.optimize.a", "optimize", 1_000, 1_500, true, 0),
            progress("local.optimize.b", "optimize", 2_000, 2_500, false, 0),
            progress("local.monthly-analytics.2026-11", "monthly-analytics", slot, slot + LATE_START_MS, true, 1),
            progress("local.end-of-month.2026-10", "end-of-month", 5_000, 5_000 + LATE_START_MS - 1, true, 0),
        ];
        let rows = rows(Environment::Local, now, &known);
        let last: Vec<(Task, LastRun)> = rows.iter().map(|r| (r.schedule.task, r.last.clone())).collect();
        let run = |id: &str, scheduled_ms, status, catch_up| LastRun::Run { id: id.into(), scheduled_ms, status, catch_up };
        assert_eq!(
            last,
            vec![
                (Task::Optimize, run("local.optimize.b", 2_000, RunStatus::Running, false)),
                (Task::HealthCheck, LastRun::Never),
                (Task::MonthlyAnalytics, run("local.monthly-analytics.2026-11", slot, RunStatus::Failed, true)),
                (Task::EndOfMonth, run("local.end-of-month.2026-10", 5_000, RunStatus::Succeeded, false)),
            ]
        );
        assert_eq!(rows[0].next.len(), NEXT_RUNS);
        let dev: Vec<Task> = super::rows(Environment::Dev, now, &[]).iter().map(|r| r.schedule.task).collect();
        assert_eq!(dev, vec![Task::HealthCheck]);
        let mut abandoned = progress("x", "optimize", 0, 0, false, 0);
        abandoned.phase = RunPhase::Abandoned;
        assert_eq!(RunStatus::of(&abandoned), RunStatus::Abandoned);
    }

    #[test]
    fn latest_run_ids() {
        let now = at(2026, 12, 2, 0, 0);
        let check = |task, cron, expected: Option<&str>| {
            assert_eq!(latest_run_id(Environment::Local, task, cron, now).as_deref(), expected, "{task}");
        };
        check(Task::MonthlyAnalytics, "0 15 1 * *", Some("local.monthly-analytics.2026-11"));
        check(Task::EndOfMonth, "59 23 LW * *", Some("local.end-of-month.2026-11"));
        check(Task::Optimize, "*/3 * * * *", None);
    }
}
