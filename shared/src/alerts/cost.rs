//! What one alert tick costs the dispatcher's invocation at its most: every call
//! `producer/src/alerts.rs` makes after the fan-out, as the invocation's meter counts them
//! ([`tick_calls`]). The capacity table adds them to the dispatcher's line, and the limits test
//! holds a sweep's fan-out and its tick together to the dispatcher's limits. Typical ticks make
//! far fewer (nothing pending, no incident changing): about 10 calls.

use crate::elite::EliteRole;
use crate::limits::usage::Counted;
use crate::schedule::{Task, SCHEDULES};

use super::outbox::{PENDING_PER_TICK, SENDS_PER_TICK};

/// Health-check reports a tick looks for: the newest of the last two slots
/// (`conditions::health_report_keys`).
pub const HEALTH_REPORTS_READ: usize = 2;

/// Incident keys that can change in one tick: `health:failing`, `health:degraded`, one
/// `breaker:{role}` per role, `sweep`, `dead-letters`, one `report:{task}` per report schedule.
pub fn incident_keys() -> usize {
    2 + EliteRole::ALL.len() + 1 + 1 + report_schedules()
}

/// The monthly report schedules whose runs a tick reads (`conditions::report_runs_due`: at most
/// one run of each).
fn report_schedules() -> usize {
    SCHEDULES.iter().filter(|s| matches!(s.task, Task::MonthlyAnalytics | Task::EndOfMonth)).count()
}

/// Every call of one tick at its most, in the order the tick makes them: the observations (the
/// ledger's recent runs, each report run due, the dead-letter count in D1, the health reports
/// in R2, the breakers), the open incidents, one D1 batch opening or resolving every key (an
/// incident row and its message each), the pending messages and the hour's sent openings, then
/// per pending message a claim, a webhook send and its record for [`SENDS_PER_TICK`] of them
/// and one record for each of the others (suppressed or given up).
pub fn tick_calls() -> Vec<Counted> {
    let mut calls = vec![Counted::Subrequest];
    calls.extend(std::iter::repeat_n(Counted::Subrequest, report_schedules()));
    calls.push(Counted::D1Query);
    calls.extend(std::iter::repeat_n(Counted::Subrequest, HEALTH_REPORTS_READ));
    calls.push(Counted::Subrequest);
    calls.push(Counted::D1Query);
    calls.push(Counted::D1Batch { statements: 2 * incident_keys() as u64 });
    calls.extend([Counted::D1Query, Counted::D1Query]);
    for _ in 0..SENDS_PER_TICK {
        calls.extend([Counted::D1Query, Counted::Subrequest, Counted::D1Query]);
    }
    calls.extend(std::iter::repeat_n(Counted::D1Query, PENDING_PER_TICK as usize - SENDS_PER_TICK));
    calls
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::usage::{Figures, Usage};

    #[test]
    fn a_tick_at_its_most_is_counted_call_by_call() {
        let usage = Usage::new("dispatcher", "scheduled");
        for call in tick_calls() {
            usage.call(call);
        }
        // 6 reads of the ledger and R2, 5 webhook sends; 2 + 1 + 2 + 10 + 45 D1 calls, the batch
        // writing 2 rows for each of 9 keys.
        assert_eq!(incident_keys(), 9);
        let f: Figures = usage.figures();
        assert_eq!((f.subrequests, f.d1_queries), (6 + 5 + 60, 2 + 18 + 2 + 10 + 45));
    }
}
