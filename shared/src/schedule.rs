//! The schedule table: which cron expression runs which task, and in which environments. The
//! producer maps the firing cron to a task through this table (an unknown cron enqueues
//! nothing), the local clock of `cargo xtask dev` fires exactly these crons, and the
//! configuration check requires each environment's wrangler triggers to equal
//! [`crons_for`] that environment.
//!
//! The 3-minute sweep, the monthly analytics and the end-of-month reports run in staging and
//! production; the hourly health check runs in dev; the local configuration runs all four.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::names::Environment;

/// Names of the report tasks ([`Task::as_str`]), as they appear in sweep and run ids and as
/// the task a report job's work belongs to (`reports::jobs`).
pub const MONTHLY_ANALYTICS: &str = "monthly-analytics";
pub const END_OF_MONTH: &str = "end-of-month";
pub const HEALTH_CHECK: &str = "health-check";

/// A kind of scheduled work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    /// The continuous-optimization sweep: one job per active customer site.
    Optimize,
    /// Monthly analytics of the previous month: one job per customer, then a finalize job.
    MonthlyAnalytics,
    /// End-of-month reports (revenue, technical performance, executive summary).
    EndOfMonth,
    /// Dev health checks of the elite workers, R2, D1, customer sites, and a canary run.
    HealthCheck,
    /// The post-deploy canary: one optimization run over the canary sites only
    /// ([`crate::canary`]). Started by the admin API, never by a cron: it has no schedule row
    /// and is not in [`Task::ALL`] (the scheduled tasks).
    Canary,
}

impl Task {
    /// The scheduled tasks: each has a row in [`SCHEDULES`].
    pub const ALL: [Task; 4] = [Self::Optimize, Self::MonthlyAnalytics, Self::EndOfMonth, Self::HealthCheck];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Optimize => "optimize",
            Self::MonthlyAnalytics => MONTHLY_ANALYTICS,
            Self::EndOfMonth => END_OF_MONTH,
            Self::HealthCheck => HEALTH_CHECK,
            Self::Canary => crate::canary::TASK,
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the schedule table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The cron expression exactly as written in wrangler.toml's `triggers.crons`: Cloudflare
    /// reports the firing cron by this string.
    pub cron: &'static str,
    pub task: Task,
    /// Why it runs, in plain words, for `--help` and logs.
    pub description: &'static str,
    /// The deployed environments whose dispatcher is triggered by this cron. The local
    /// configuration runs every schedule, so `Local` is never listed.
    pub environments: &'static [Environment],
}

impl Schedule {
    /// Whether `env`'s dispatcher is triggered by this schedule.
    pub fn runs_in(&self, env: Environment) -> bool {
        env == Environment::Local || self.environments.contains(&env)
    }
}

/// Every schedule; the local configuration runs all of them.
pub const SCHEDULES: &[Schedule] = &[
    Schedule {
        cron: "*/3 * * * *",
        task: Task::Optimize,
        description: "every 3 minutes: optimize every active customer site",
        environments: &[Environment::Staging, Environment::Production],
    },
    Schedule {
        cron: "0 * * * *",
        task: Task::HealthCheck,
        description: "hourly (dev): health of the elite workers, R2, D1, customer sites, and a canary run",
        environments: &[Environment::Dev],
    },
    Schedule {
        cron: "0 15 1 * *",
        task: Task::MonthlyAnalytics,
        description: "15:00 UTC on the 1st: monthly analytics of the previous month",
        environments: &[Environment::Staging, Environment::Production],
    },
    Schedule {
        cron: "59 23 LW * *",
        task: Task::EndOfMonth,
        description: "23:59 UTC on the last weekday: end-of-month reports of the month",
        environments: &[Environment::Staging, Environment::Production],
    },
];

/// The schedule row of a task.
pub fn schedule_of(task: Task) -> &'static Schedule {
    SCHEDULES.iter().find(|s| s.task == task).expect("every scheduled task (Task::ALL) has a schedule row")
}

/// The crons that trigger `env`'s dispatcher, in table order: what its `triggers.crons` must
/// say.
pub fn crons_for(env: Environment) -> Vec<&'static str> {
    SCHEDULES.iter().filter(|s| s.runs_in(env)).map(|s| s.cron).collect()
}

/// The task a firing cron stands for, or `None` for a cron this build does not know.
pub fn task_for_cron(cron: &str) -> Option<Task> {
    SCHEDULES.iter().find(|s| s.cron == cron.trim()).map(|s| s.task)
}

/// Whether `cron` fires at `at` (minute precision), evaluated with Cloudflare's own parser.
/// Used by the local clock, which must fire crons exactly as Cloudflare would.
pub fn fires_at(cron: &str, at: DateTime<Utc>) -> Result<bool, String> {
    let parsed: saffron::Cron = cron.parse().map_err(|e| format!("invalid cron {cron:?}: {e:?}"))?;
    Ok(parsed.contains(at))
}

/// How far back [`latest_at_or_before`] looks: more than any monthly schedule's gap.
const LOOKBACK_MINUTES: i64 = 62 * 24 * 60;

/// The latest minute at or before `at` at which `cron` fires, or `None` if it did not fire
/// within the last 62 days. Used to fire "the run that should have happened most recently"
/// (on a local start, and for missed-run catch-up).
pub fn latest_at_or_before(cron: &str, at: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
    let parsed: saffron::Cron = cron.parse().map_err(|e| format!("invalid cron {cron:?}: {e:?}"))?;
    let minute = at.timestamp() - at.timestamp().rem_euclid(60);
    let Some(at) = DateTime::from_timestamp(minute, 0) else { return Ok(None) };
    // Widening windows keep the walk short for frequent and rare crons alike: from the window's
    // start, step through the firings with `next_from` until one passes `at`.
    for window in [60, 24 * 60, LOOKBACK_MINUTES] {
        let mut cursor = at - chrono::TimeDelta::minutes(window);
        let mut latest = None;
        while let Some(next) = parsed.next_from(cursor) {
            if next > at {
                break;
            }
            latest = Some(next);
            cursor = next + chrono::TimeDelta::minutes(1);
        }
        if latest.is_some() {
            return Ok(latest);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn known_and_unknown_crons() {
        assert_eq!(task_for_cron("*/3 * * * *"), Some(Task::Optimize));
        assert_eq!(task_for_cron("59 23 LW * *"), Some(Task::EndOfMonth));
        assert_eq!(task_for_cron("0 15 1 * *"), Some(Task::MonthlyAnalytics));
        assert_eq!(task_for_cron("0 * * * *"), Some(Task::HealthCheck));
        assert_eq!(task_for_cron("*/5 * * * *"), None);
        assert_eq!(task_for_cron(""), None);
    }

    #[test]
    fn every_schedule_parses_with_saffron() {
        for s in SCHEDULES {
            assert!(fires_at(s.cron, Utc::now()).is_ok(), "{}", s.cron);
            assert_eq!(Task::parse(s.task.as_str()), Some(s.task));
        }
    }

    #[test]
    fn crons_per_environment() {
        assert_eq!(crons_for(Environment::Local), ["*/3 * * * *", "0 * * * *", "0 15 1 * *", "59 23 LW * *"]);
        assert_eq!(crons_for(Environment::Staging), ["*/3 * * * *", "0 15 1 * *", "59 23 LW * *"]);
        assert_eq!(crons_for(Environment::Production), ["*/3 * * * *", "0 15 1 * *", "59 23 LW * *"]);
        assert_eq!(crons_for(Environment::Dev), ["0 * * * *"]);
        for s in SCHEDULES {
            assert!(!s.environments.contains(&Environment::Local), "{}: local runs every schedule implicitly", s.cron);
        }
    }

    #[test]
    fn optimize_fires_every_third_minute() {
        let at = |m| Utc.with_ymd_and_hms(2026, 11, 29, 1, m, 0).unwrap();
        assert_eq!(fires_at("*/3 * * * *", at(15)), Ok(true));
        assert_eq!(fires_at("*/3 * * * *", at(16)), Ok(false));
        assert!(fires_at("not a cron", at(0)).is_err());
    }

    #[test]
    fn latest_slot_at_or_before() {
        let at = |d, h, m, s| Utc.with_ymd_and_hms(2026, 11, d, h, m, s).unwrap();
        let check = |cron, now, expected| assert_eq!(latest_at_or_before(cron, now), Ok(expected), "{cron} at {now}");
        check("*/3 * * * *", at(29, 2, 35, 41), Some(at(29, 2, 33, 0)));
        check("*/3 * * * *", at(29, 2, 36, 0), Some(at(29, 2, 36, 0)));
        // The last weekday of October 2026 is Friday the 30th.
        check("59 23 LW * *", at(29, 2, 0, 0), Some(Utc.with_ymd_and_hms(2026, 10, 30, 23, 59, 0).unwrap()));
        assert!(latest_at_or_before("nope", at(1, 0, 0, 0)).is_err());
    }

    #[test]
    fn last_weekday_slots_across_months() {
        let utc = |y, mo, d, h, mi| Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
        let lw = "59 23 LW * *";
        // May 2026 ends on a Sunday, October 2026 on a Saturday, January 2027 on a Sunday,
        // November 2026 on a Monday: the slot is the last Friday, or the last day itself.
        for (y, mo, d) in [(2026, 5, 29), (2026, 10, 30), (2027, 1, 29), (2026, 11, 30)] {
            assert_eq!(fires_at(lw, utc(y, mo, d, 23, 59)), Ok(true), "{y}-{mo}-{d}");
            assert_eq!(fires_at(lw, utc(y, mo, d - 1, 23, 59)), Ok(false), "{y}-{mo}-{}", d - 1);
        }
        // The weekend after: the latest slot is still that Friday.
        assert_eq!(latest_at_or_before(lw, utc(2026, 5, 31, 12, 0)), Ok(Some(utc(2026, 5, 29, 23, 59))));
        // Monthly analytics: the slot of the 1st at 15:00, across a year boundary.
        assert_eq!(latest_at_or_before("0 15 1 * *", utc(2027, 1, 3, 9, 0)), Ok(Some(utc(2027, 1, 1, 15, 0))));
        assert_eq!(latest_at_or_before("0 15 1 * *", utc(2027, 1, 1, 14, 59)), Ok(Some(utc(2026, 12, 1, 15, 0))));
    }
}
