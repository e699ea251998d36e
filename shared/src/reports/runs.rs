//! Which report run a firing, a catch-up or an operator's backfill stands for. Runs are named
//! by their period ([`super::jobs`]), so all three paths converge on the same ledger run and a
//! month is reported once, however many times it is asked for.
//!
//! Catch-up: Cloudflare does not promise that a cron fires. On every tick of the dispatcher
//! (the 3-minute sweep, or the hourly health check in dev) [`catch_up`] names the most recent
//! slot of each report schedule this environment runs, if it lies within the catch-up window;
//! opening its run is idempotent, so a run that already happened costs one ledger request.

use chrono::{DateTime, TimeDelta, Utc};

use crate::names::Environment;
use crate::reports::jobs::{health_run_id, monthly_run_id, ReportJob, ReportWork};
use crate::reports::period::{analytics_month, end_of_month_month, Month};
use crate::schedule::{latest_at_or_before, schedule_of, Task};

/// A report run to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRun {
    pub task: Task,
    pub run_id: String,
    pub month: Option<Month>,
    /// The slot the run stands for.
    pub slot: DateTime<Utc>,
    /// `None` for monthly analytics (one job per customer); the one job otherwise.
    pub single: Option<ReportJob>,
}

/// The run of `task` for its slot at `slot`. `None` for the optimization sweep, which is not a
/// report run.
pub fn run_for_slot(environment: &str, task: Task, slot: DateTime<Utc>) -> Option<ReportRun> {
    let ms = slot.timestamp_millis();
    let (run_id, month, single) = match task {
        Task::Optimize | Task::Canary => return None,
        Task::MonthlyAnalytics => {
            let month = analytics_month(slot);
            (monthly_run_id(environment, task.as_str(), month), Some(month), None)
        }
        Task::EndOfMonth => {
            let month = end_of_month_month(slot);
            let run_id = monthly_run_id(environment, task.as_str(), month);
            let job = ReportJob::single(&run_id, Some(month), ms, ReportWork::EndOfMonth);
            (run_id, Some(month), Some(job))
        }
        Task::HealthCheck => {
            let run_id = health_run_id(environment, slot);
            let job = ReportJob::single(&run_id, None, ms, ReportWork::HealthCheck);
            (run_id, None, Some(job))
        }
    };
    Some(ReportRun { task, run_id, month, slot, single })
}

/// The slot of `task` that reports on `month`: analytics of M run on the 1st of M+1 at 15:00;
/// the end-of-month report of M runs on its last weekday at 23:59.
pub fn slot_for_month(task: Task, month: Month) -> Result<Option<DateTime<Utc>>, String> {
    match task {
        Task::MonthlyAnalytics => latest_at_or_before(schedule_of(task).cron, month.next().start() + TimeDelta::days(1)),
        Task::EndOfMonth => latest_at_or_before(schedule_of(task).cron, month.end() - TimeDelta::minutes(1)),
        Task::Optimize | Task::HealthCheck | Task::Canary => Err(format!("{task} runs are not per month")),
    }
}

/// An operator's backfill of `task` for `month`: exactly the run its regular slot makes.
pub fn backfill(environment: &str, task: Task, month: Month) -> Result<ReportRun, String> {
    let slot = slot_for_month(task, month)?.ok_or_else(|| format!("no {task} slot for {month}"))?;
    run_for_slot(environment, task, slot).ok_or_else(|| format!("{task} has no report runs"))
}

/// The report runs a tick at `now` must make sure of: the latest slot of every monthly report
/// schedule `env` runs, when it is at most `window_hours` old.
pub fn catch_up(environment: Environment, now: DateTime<Utc>, window_hours: u32) -> Vec<ReportRun> {
    [Task::MonthlyAnalytics, Task::EndOfMonth]
        .into_iter()
        .filter(|task| schedule_of(*task).runs_in(environment))
        .filter_map(|task| {
            let slot = latest_at_or_before(schedule_of(task).cron, now).ok().flatten()?;
            (now - slot <= TimeDelta::hours(i64::from(window_hours))).then_some((task, slot))
        })
        .filter_map(|(task, slot)| run_for_slot(environment.as_str(), task, slot))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn a_slot_names_its_run() {
        let r = run_for_slot("local", Task::MonthlyAnalytics, utc(2027, 1, 1, 15, 0)).unwrap();
        assert_eq!((r.run_id.as_str(), r.month), ("local.monthly-analytics.2026-12", Month::new(2026, 12)));
        assert!(r.single.is_none());
        let r = run_for_slot("prod", Task::EndOfMonth, utc(2026, 10, 30, 23, 59)).unwrap();
        assert_eq!(r.run_id, "prod.end-of-month.2026-10");
        assert_eq!(r.single.unwrap().job_id, "prod.end-of-month.2026-10.report");
        let r = run_for_slot("dev", Task::HealthCheck, utc(2026, 11, 29, 3, 0)).unwrap();
        assert_eq!(r.run_id, "dev.health-check.20261129T030000Z");
        assert_eq!(run_for_slot("local", Task::Optimize, utc(2026, 11, 29, 3, 0)), None);
    }

    #[test]
    fn a_backfill_is_the_regular_run() {
        let oct = Month::new(2026, 10).unwrap();
        let b = backfill("local", Task::EndOfMonth, oct).unwrap();
        assert_eq!((b.run_id.as_str(), b.slot), ("local.end-of-month.2026-10", utc(2026, 10, 30, 23, 59)));
        let b = backfill("local", Task::MonthlyAnalytics, oct).unwrap();
        assert_eq!((b.run_id.as_str(), b.slot), ("local.monthly-analytics.2026-10", utc(2026, 11, 1, 15, 0)));
        assert_eq!(b, run_for_slot("local", Task::MonthlyAnalytics, utc(2026, 11, 1, 15, 0)).unwrap());
        assert!(backfill("local", Task::HealthCheck, oct).is_err());
    }

    #[test]
    fn catch_up_names_recent_slots_within_the_window() {
        let now = utc(2026, 11, 2, 9, 0);
        let runs: Vec<String> = catch_up(Environment::Staging, now, 72).into_iter().map(|r| r.run_id).collect();
        // The 1st at 15:00 (analytics of October) is 18 h old; the last weekday of October was
        // three days ago (Friday 30th, 23:59), 57 h: both within 72 h.
        assert_eq!(runs, ["staging.monthly-analytics.2026-10", "staging.end-of-month.2026-10"]);
        let runs: Vec<String> = catch_up(Environment::Staging, now, 24).into_iter().map(|r| r.run_id).collect();
        assert_eq!(runs, ["staging.monthly-analytics.2026-10"]);
        assert!(catch_up(Environment::Dev, now, 72).is_empty(), "dev runs no monthly reports");
    }
}
