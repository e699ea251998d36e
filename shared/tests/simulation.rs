//! The deterministic simulation tier: many seeded runs of the whole pipeline over the
//! in-memory twins with every fault kind injected. A failing seed is printed and replays
//! exactly with `SIM_SEED=<seed> cargo test -p code24-shared --test simulation`.

use code24_shared::testkit::sim::{run, SimConfig, SimReport};

fn seeds() -> Vec<u64> {
    match std::env::var("SIM_SEED") {
        Ok(s) => vec![s.parse().expect("SIM_SEED must be a number")],
        Err(_) => (1..=300).collect(),
    }
}

fn assert_clean(r: &SimReport) {
    assert!(r.violations.is_empty(), "seed {} violated invariants:\n{}", r.seed, r.violations.join("\n"));
    assert_eq!(r.reworked_after_success, 0, "seed {}", r.seed);
}

#[test]
fn hostile_runs_keep_every_invariant() {
    let mut total = SimReport::default();
    for seed in seeds() {
        let r = run(&SimConfig::hostile(seed));
        assert_clean(&r);
        total.jobs += r.jobs;
        total.results += r.results;
        total.dead += r.dead;
        total.superseded += r.superseded;
        total.crashes += r.crashes;
        total.duplicate_deliveries += r.duplicate_deliveries;
        total.duplicate_firings += r.duplicate_firings;
        total.producer_cuts += r.producer_cuts;
        total.duplicates_absorbed += r.duplicates_absorbed;
        total.late_reports += r.late_reports;
        total.rollup_runs += r.rollup_runs;
    }
    println!(
        "jobs {} results {} dead {} superseded {} crashes {} dup-deliveries {} dup-firings {} producer-cuts {} duplicates-absorbed {} \
         late-reports {} rollup-runs {}",
        total.jobs,
        total.results,
        total.dead,
        total.superseded,
        total.crashes,
        total.duplicate_deliveries,
        total.duplicate_firings,
        total.producer_cuts,
        total.duplicates_absorbed,
        total.late_reports,
        total.rollup_runs
    );
    // The faults must actually have happened, or the run proved nothing.
    assert!(total.crashes > 0 && total.duplicate_deliveries > 0 && total.duplicate_firings > 0);
    assert!(total.producer_cuts > 0 && total.dead > 0 && total.duplicates_absorbed > 0);
    assert!(total.late_reports > 0 && total.rollup_runs == total.results + total.dead);
}

#[test]
fn a_quiet_run_succeeds_everything_with_constant_ledger_calls_per_batch() {
    let cfg = SimConfig {
        p_duplicate_firing: 0.0,
        p_producer_cut: 0.0,
        p_duplicate_delivery: 0.0,
        p_elite_transient: 0.0,
        permanent_sites: 0,
        p_crash_before_complete: 0.0,
        p_crash_after_complete: 0.0,
        p_stall_before_complete: 0.0,
        sweep_interval_ms: 180_000,
        ..SimConfig::hostile(1)
    };
    let r = run(&cfg);
    assert_clean(&r);
    assert_eq!((r.jobs, r.results, r.dead, r.superseded), (120, 120, 0, 0));
    assert_eq!(r.elite_calls, 3 * 120, "three elite calls per job, no more");
    assert_eq!(r.analytics_points, 120, "one analytics data point per finished job");
    assert_eq!((r.rollup_runs, r.late_reports), (120, 0), "one rollup run per finished job");
    // Per batch: at most one claim and one complete per shard touched.
    // Per sweep: open, one page, finish, and latest-wins' front reads and announcements.
    let fanout_requests = 3 * (1 + 1 + 1 + 2 * u64::from(code24_shared::ledger::JOB_SHARDS));
    let per_batch = (r.ledger_requests - fanout_requests) as f64 / r.batches as f64;
    assert!(per_batch <= 2.0 * f64::from(code24_shared::ledger::JOB_SHARDS), "{per_batch} ledger requests per batch");
}

#[test]
fn the_queues_own_retry_limit_loses_nothing() {
    // A low max_retries makes the queue dead-letter messages the consumer never decided
    // (crashes, busy leases); the dead-letters consumer must settle each in the ledger.
    let mut backstop = 0;
    for seed in 1..=100 {
        let cfg = SimConfig { max_deliveries: 3, p_crash_before_complete: 0.15, p_crash_after_complete: 0.15, ..SimConfig::hostile(seed) };
        let r = run(&cfg);
        assert_clean(&r);
        backstop += r.backstop_dead;
    }
    assert!(backstop > 0, "the backstop never triggered");
}

#[test]
fn a_producer_cut_off_is_resumed_or_abandoned_without_losing_sent_jobs() {
    let (mut abandoned, mut cuts) = (0, 0);
    for seed in 1..=60 {
        let cfg =
            SimConfig { sweeps: 5, sweep_interval_ms: 180_000, p_producer_cut: 0.5, p_refire_after_cut: 0.3, ..SimConfig::hostile(seed) };
        let r = run(&cfg);
        assert_clean(&r);
        abandoned += r.abandoned_sweeps;
        cuts += r.producer_cuts;
    }
    assert!(cuts > 0 && abandoned > 0, "cuts {cuts}, abandoned {abandoned}");
}

#[test]
fn overlapping_sweeps_supersede_instead_of_double_working() {
    let cfg = SimConfig { sweep_interval_ms: 2_000, p_elite_transient: 0.3, sweeps: 4, ..SimConfig::hostile(7) };
    let mut superseded = 0;
    for seed in 1..=40 {
        let r = run(&SimConfig { seed, ..cfg.clone() });
        assert_clean(&r);
        superseded += r.superseded;
    }
    assert!(superseded > 0, "overlapping sweeps never superseded a job");
}
