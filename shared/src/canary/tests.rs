//! The canary's verdict over what a run may leave behind.

use super::*;
use crate::elite::{EliteResponse, EliteRole, ELITE_CONTRACT_VERSION};
use crate::ids::from_epoch_ms;
use crate::ledger::RunPhase;
use crate::site::SiteUrl;
use crate::wire::OptimizeJob;

const AT_MS: i64 = 1_795_914_900_000;

fn run() -> RunId {
    run_id("staging", from_epoch_ms(AT_MS).unwrap())
}

fn progress(expected: u64, succeeded: u64, dead: u64, complete: bool) -> RunProgress {
    RunProgress {
        run_id: run().as_str().to_owned(),
        task: TASK.to_owned(),
        scheduled_ms: AT_MS,
        phase: RunPhase::Enqueued,
        expected,
        enqueued: expected,
        in_flight: expected - succeeded - dead,
        retrying: 0,
        succeeded,
        dead,
        superseded: 0,
        duplicates: 0,
        firings: 1,
        started_ms: AT_MS,
        fanout_done_ms: Some(AT_MS),
        finished_ms: complete.then_some(AT_MS + 1_000),
        complete,
    }
}

fn result(run: &RunId, customer: &CustomerId) -> OptimizationResult {
    let at = from_epoch_ms(AT_MS).unwrap();
    let job = OptimizeJob::new(run.clone(), at, customer.clone(), SiteUrl::parse(CANARY_SITE_URL).unwrap());
    let answer = |role| EliteResponse { v: ELITE_CONTRACT_VERSION, role, score: 70, summary: "ok".into(), recommendations: vec![] };
    OptimizationResult::new(&job, 1, at, EliteRole::ALL.map(answer))
}

fn all_good() -> Observed {
    Observed {
        health: Some(Ok(())),
        progress: Some(progress(SITES as u64, SITES as u64, 0, true)),
        results: site_ids().iter().map(|c| (c.as_str().to_owned(), Ok(result(&run(), c)))).collect(),
        timed_out: false,
        overruns: None,
    }
}

#[track_caller]
fn fails_with(observed: &Observed, fragment: &str) {
    let v = verdict(run().as_str(), observed);
    assert!(!v.pass, "{v:?}");
    assert!(v.findings[0].contains(fragment), "{:?} does not start with {fragment:?}", v.findings);
}

#[test]
fn canary_sites_are_reserved_inactive_and_named_by_the_run() {
    let ids: Vec<String> = site_ids().iter().map(|c| c.as_str().to_owned()).collect();
    assert_eq!(ids, ["canary-1", "canary-2", "canary-3"]);
    assert!(ids.iter().all(|id| is_canary(id)) && !is_canary("acme"));
    let body = registration(&site_ids()[0]);
    let decoded = crate::site::SiteRegistration::decode(&body.to_string()).unwrap();
    assert!(!decoded.active);
    assert_eq!(run().as_str(), "staging.canary.20261129T011500Z");
    assert!(!crate::ledger::is_optimization(run().as_str()), "a canary run is not a sweep: own lanes, no rollups");
    let started = Started::new(&run(), from_epoch_ms(AT_MS).unwrap(), 3, &site_ids());
    assert_eq!(started.results[1], ("canary-2".to_owned(), "optimizations/canary-2/20261129T011500Z.json".to_owned()));
}

#[test]
fn a_complete_run_with_every_result_passes() {
    let v = verdict(run().as_str(), &all_good());
    assert!(v.pass, "{v:?}");
    assert_eq!(v.findings.len(), 2 + SITES);
}

#[test]
fn every_missing_piece_fails_the_canary_and_is_named_first() {
    let mut o = all_good();
    o.health = Some(Err("HTTP 503".into()));
    fails_with(&o, "health: HTTP 503");

    let mut o = all_good();
    o.progress = None;
    fails_with(&o, "never reported");

    let mut o = all_good();
    o.progress = Some(progress(3, 1, 0, false));
    o.timed_out = true;
    fails_with(&o, "not complete in time (1 succeeded, 0 dead, 2 in flight");

    let mut o = all_good();
    o.progress = Some(progress(3, 2, 1, true));
    fails_with(&o, "2 of 3 succeeded (1 dead");

    let mut o = all_good();
    o.progress = Some(progress(5, 5, 0, true));
    fails_with(&o, "expected 5 jobs, not 3");

    let mut o = all_good();
    o.results[2].1 = Err("HTTP 404".into());
    fails_with(&o, "result of canary-3: HTTP 404");

    let mut o = all_good();
    let older = run_id("staging", from_epoch_ms(AT_MS - 60_000).unwrap());
    o.results[0].1 = Ok(result(&older, &site_ids()[0]));
    fails_with(&o, "not by this run");

    let mut o = all_good();
    o.results.pop();
    fails_with(&o, "2 of 3 canary sites");

    let mut o = all_good();
    o.overruns = Some(vec!["{\"event\":\"limit_overrun\"}".into()]);
    fails_with(&o, "limits: an invocation overran");
    o.overruns = Some(Vec::new());
    assert!(verdict(run().as_str(), &o).pass);
}
