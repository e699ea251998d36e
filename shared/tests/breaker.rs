//! One elite role down for several sweeps, with the circuit breakers on (`breaker`): the
//! breaker opens within its first window, holds every job back while open (no elite call, no
//! attempt, no dead letter), probes after each cool-down, closes by itself once the role heals,
//! the held jobs then finish, and the few dead letters the outage caused (jobs that failed
//! before it opened, and failed probes) are replayed automatically and end succeeded.
//!
//! **Dead letters bound:** a job dies only after `MAX_ATTEMPTS` transient failures; while the
//! breaker is open none is worked, so an outage's dead letters are the jobs that failed their
//! last attempts before it opened (at most a window's worth of retries) or as probes (at most
//! `probes` per failed half-open period, 2 × 3 here). Here: at most [`MAX_DEAD`]. The scenario
//! runs with `MAX_ATTEMPTS` 2 (deployed: 5) so that failed probes do die and the auto-replay
//! has work: the deployed value only makes the same deaths rarer.

use code24_shared::breaker::BreakerPolicy;
use code24_shared::elite::EliteRole;
use code24_shared::testkit::sim::{run, SimConfig, SimReport};

const SITES: usize = 100;
const PERIOD_MS: i64 = 180_000;
/// Brand answers 503 from just before the second sweep until after the fourth: three sweeps.
const DOWN_FROM_MS: i64 = 170_000;
const DOWN_TO_MS: i64 = 600_000;
/// The stated bound on the outage's dead letters (before the auto-replay).
const MAX_DEAD: u64 = 10;

fn outage(seed: u64) -> SimConfig {
    SimConfig {
        sites: SITES,
        sweeps: 6,
        sweep_interval_ms: PERIOD_MS,
        batch_size: 8,
        p_duplicate_firing: 0.0,
        p_producer_cut: 0.0,
        p_refire_after_cut: 0.0,
        p_elite_transient: 0.0,
        permanent_sites: 0,
        p_crash_before_complete: 0.0,
        p_stall_before_complete: 0.0,
        // Some noise, so seeds differ: duplicated deliveries and crashed consumers.
        p_duplicate_delivery: 0.05,
        p_crash_after_complete: 0.02,
        max_attempts: 2,
        breakers: Some(BreakerPolicy::DEFAULT),
        outage: Some((EliteRole::Brand, DOWN_FROM_MS, DOWN_TO_MS)),
        auto_replay: true,
        ..SimConfig::hostile(seed)
    }
}

fn check_outage(r: &SimReport) {
    println!(
        "breaker seed {}: transitions {:#?}; held back {} jobs; dead letters {} ({} auto-replayed, {} of them succeeded); results {} superseded {} jobs {}",
        r.seed,
        r.breaker_transitions,
        r.held_back,
        r.dead + r.auto_replayed,
        r.auto_replayed,
        r.auto_replayed_succeeded,
        r.results,
        r.superseded,
        r.jobs
    );
    assert!(
        r.violations.is_empty(),
        "seed {}: {} violations, the first:\n{}",
        r.seed,
        r.violations.len(),
        r.violations[..r.violations.len().min(20)].join("\n")
    );
    assert_eq!(r.reworked_after_success, 0);
    let first = r.breaker_transitions.first().expect("the breaker never opened");
    assert!(first.starts_with("brand Closed->Open"), "{first}");
    let opened_ms: i64 = first.split(" at ").nth(1).and_then(|s| s.split(' ').next()).and_then(|s| s.parse().ok()).expect("a time");
    // The first failing call comes with the second sweep (at one period); the window is 60 s.
    assert!(opened_ms <= PERIOD_MS + BreakerPolicy::DEFAULT.window_ms, "opened at {opened_ms} ms");
    assert!(r.breaker_transitions.iter().all(|t| t.starts_with("brand")), "only the broken role's breaker moves");
    let last = r.breaker_transitions.last().expect("transitions");
    assert!(last.starts_with("brand HalfOpen->Closed"), "it closes by itself: {last}");
    let closed_ms: i64 = last.split(" at ").nth(1).and_then(|s| s.split(' ').next()).and_then(|s| s.parse().ok()).expect("a time");
    assert!((DOWN_TO_MS..=DOWN_TO_MS + BreakerPolicy::DEFAULT.max_cool_down_ms + 60_000).contains(&closed_ms), "closed at {closed_ms}");
    assert_eq!(r.calls_while_open, 0, "no elite call, so no attempt, while the breaker is open");
    assert!(r.held_back > SITES as u64, "jobs were held back, not worked: {}", r.held_back);
    assert!(r.dead + r.auto_replayed <= MAX_DEAD, "{} dead letters", r.dead + r.auto_replayed);
    assert_eq!(r.dead, 0, "every dead letter the outage caused was replayed");
    assert_eq!(r.auto_replayed_succeeded, r.auto_replayed, "every auto-replayed dead letter ended succeeded");
    // Every (sweep, site) ended (the invariants above): the held jobs finished or were
    // superseded by a newer sweep's job, which finished.
    assert_eq!(r.jobs, 6 * SITES as u64);
}

#[test]
fn breaker_one_role_down_for_three_sweeps_opens_holds_recovers_and_replays() {
    let mut replayed = 0;
    for seed in 1..=20 {
        let r = run(&outage(seed));
        check_outage(&r);
        replayed += r.auto_replayed;
    }
    assert!(replayed > 0, "no dead letter to replay in any seed: the scenarios prove nothing of the auto-replay");
}

#[test]
fn breaker_without_breakers_the_same_outage_dead_letters_the_sweeps() {
    // The contrast that makes the test above mean something: no breaker, every job of the
    // outage spends its attempts against the broken role and dies.
    let r = run(&SimConfig { breakers: None, auto_replay: false, ..outage(1) });
    assert!(r.violations.is_empty(), "{:?}", &r.violations[..r.violations.len().min(5)]);
    println!("breaker off: dead letters {} of {} jobs", r.dead, r.jobs);
    assert!(r.dead > 2 * SITES as u64, "{} dead letters", r.dead);
}
