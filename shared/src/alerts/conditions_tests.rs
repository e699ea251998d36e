//! The alert conditions, one source at a time, and the breaker rule over the breakers' JSON.

use chrono::TimeZone;

use super::*;
use crate::breaker::BreakersView;
use crate::ledger::RunPhase;
use crate::reports::health::{Check, CheckGroup};

const T: i64 = 1_800_000_000_000;

fn run(task: &str, id: &str, scheduled_ms: i64, complete: bool) -> RunProgress {
    RunProgress {
        run_id: id.into(),
        task: task.into(),
        scheduled_ms,
        phase: RunPhase::Enqueued,
        expected: 10,
        enqueued: 10,
        in_flight: 0,
        retrying: 0,
        succeeded: if complete { 10 } else { 4 },
        dead: 0,
        superseded: 0,
        duplicates: 0,
        firings: 1,
        started_ms: scheduled_ms,
        fanout_done_ms: Some(scheduled_ms),
        finished_ms: complete.then_some(scheduled_ms + 1),
        complete,
    }
}

fn report(status_of: &[(&str, CheckGroup, bool)]) -> HealthReport {
    let checks =
        status_of.iter().map(|(n, g, ok)| Check { name: (*n).into(), group: *g, ok: *ok, latency_ms: 3, detail: "seen".into() }).collect();
    HealthReport::new("local.health-check.x", "s", "g", checks, Vec::new())
}

fn keys(seen: &Observations, at_ms: i64) -> (Vec<String>, Vec<Source>) {
    let (conditions, observed) = evaluate(seen, at_ms, &Thresholds::new(100));
    (conditions.into_iter().map(|c| c.key).collect(), observed)
}

#[test]
fn nothing_observed_decides_nothing() {
    assert_eq!(keys(&Observations::default(), T), (vec![], vec![]));
}

#[test]
fn a_failing_or_degraded_health_check_is_an_incident_and_an_ok_one_is_not() {
    let ok = report(&[("elite_brand", CheckGroup::Elite, true), ("sites", CheckGroup::Sites, true)]);
    assert_eq!(keys(&Observations { health: Some(ok), ..Default::default() }, T), (vec![], vec![Source::Health]));
    let failing = report(&[("canary", CheckGroup::Platform, false), ("sites", CheckGroup::Sites, true)]);
    let (c, _) = evaluate(&Observations { health: Some(failing), ..Default::default() }, T, &Thresholds::new(100));
    assert_eq!((c[0].key.as_str(), c[0].severity), ("health:failing", Severity::Critical));
    assert!(c[0].summary.contains("failing") && c[0].summary.contains("canary (seen)"), "{}", c[0].summary);
    let degraded = report(&[("canary", CheckGroup::Platform, true), ("sites", CheckGroup::Sites, false)]);
    let (c, _) = evaluate(&Observations { health: Some(degraded), ..Default::default() }, T, &Thresholds::new(100));
    assert_eq!((c[0].key.as_str(), c[0].severity), ("health:degraded", Severity::Warning));
}

#[test]
fn breaker_incidents_follow_the_breakers_answer() {
    // The JSON the ledger's `breakers` instance answers (overload14's shape).
    let answer = crate::breaker::tests::ANSWER;
    let seen = Observations { breakers: BreakersView::decode(200, answer), ..Default::default() };
    assert_eq!(keys(&seen, T), (vec!["breaker:brand".to_owned(), "breaker:developer".to_owned()], vec![Source::Breakers]));
    let (c, _) = evaluate(&seen, T, &Thresholds::new(100));
    assert_eq!(c[0].summary, "the brand breaker is open since 1970-01-01T00:00:01Z: 7 of 10 calls failed");
    let healed = answer.replace(r#""state":"open""#, r#""state":"closed""#).replace(r#""state":"half_open""#, r#""state":"closed""#);
    assert_eq!(
        keys(&Observations { breakers: BreakersView::decode(200, &healed), ..Default::default() }, T),
        (vec![], vec![Source::Breakers])
    );
    // No route yet (404): no breaker data, the source is not observed.
    assert_eq!(keys(&Observations { breakers: BreakersView::decode(404, "{}"), ..Default::default() }, T), (vec![], vec![]));
}

#[test]
fn a_sweep_that_did_not_complete_before_the_next_tick_or_lags_is_an_incident() {
    let sweeps = |runs: Vec<RunProgress>| Observations { recent_runs: Some(runs), ..Default::default() };
    let slot = 180_000;
    // The previous sweep completed; the one firing now (at T) is not counted.
    let fine = vec![run("optimize", "s2", T, false), run("optimize", "s1", T - slot, true), run("health-check", "h", T - 1, false)];
    assert_eq!(keys(&sweeps(fine), T), (vec![], vec![Source::Sweeps]));
    // The previous sweep is still running when the next tick comes.
    let (c, _) = evaluate(&sweeps(vec![run("optimize", "s1", T - slot, false)]), T, &Thresholds::new(100));
    assert_eq!(c[0].key, "sweep");
    assert!(c[0].summary.contains("s1 did not complete before the next tick: 4 of 10"), "{}", c[0].summary);
    // An older sweep lags past the threshold although the previous one completed.
    let lagging = vec![run("optimize", "s9", T - slot, true), run("optimize", "s3", T - 6 * slot, false)];
    let (c, _) = evaluate(&sweeps(lagging), T, &Thresholds::new(100));
    assert!(c[0].summary.contains("s3 lags 1080 s (threshold 900 s)"), "{}", c[0].summary);
}

#[test]
fn the_dead_letter_store_past_its_threshold_is_an_incident() {
    let seen = |rows| Observations { dead_letters: Some(rows), ..Default::default() };
    assert_eq!(keys(&seen(99), T).0, Vec::<String>::new());
    assert_eq!(keys(&seen(100), T).0, ["dead-letters"]);
}

#[test]
fn a_monthly_run_past_its_deadline_is_an_incident_until_it_completes() {
    let at = Utc.with_ymd_and_hms(2026, 12, 1, 21, 0, 0).unwrap();
    // Six hours after the 1st's 15:00 slot: this month's analytics are due, and the end of
    // month of November (30th, 23:59) too.
    let due = report_runs_due(Environment::Production, at, Thresholds::REPORT_DEADLINE_MS);
    let ids: Vec<&str> = due.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, ["production.monthly-analytics.2026-11", "production.end-of-month.2026-11"]);
    // An hour earlier the analytics of the 1st are within their deadline: the month before's are looked at.
    let before = report_runs_due(Environment::Production, at - TimeDelta::hours(1), Thresholds::REPORT_DEADLINE_MS);
    assert_eq!(before[0].run_id, "production.monthly-analytics.2026-10");
    // Dev runs no monthly report.
    assert!(report_runs_due(Environment::Dev, at, Thresholds::REPORT_DEADLINE_MS).is_empty());
    let observe = |progress| ReportObservation { task: Task::MonthlyAnalytics, run_id: ids[0].into(), slot_ms: 0, progress };
    let seen = |r| Observations { reports: Some(vec![r]), ..Default::default() };
    let (c, _) = evaluate(&seen(observe(None)), T, &Thresholds::new(100));
    assert_eq!(c[0].key, "report:monthly-analytics");
    assert!(c[0].summary.contains("never started"), "{}", c[0].summary);
    assert_eq!(keys(&seen(observe(Some(run("monthly-analytics", ids[0], 0, false)))), T).0, ["report:monthly-analytics"]);
    assert_eq!(keys(&seen(observe(Some(run("monthly-analytics", ids[0], 0, true)))), T), (vec![], vec![Source::Reports]));
}

#[test]
fn the_latest_health_report_is_one_of_the_last_two_slots() {
    let at = Utc.with_ymd_and_hms(2026, 12, 1, 15, 20, 0).unwrap();
    assert_eq!(
        health_report_keys(Environment::Dev, at),
        ["dev/health-checks/20261201T150000Z.json", "dev/health-checks/20261201T140000Z.json"]
    );
    assert_eq!(health_report_keys(Environment::Local, at).len(), 2);
    assert!(health_report_keys(Environment::Production, at).is_empty(), "production runs no health check");
}
