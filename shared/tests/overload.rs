//! Sustained overload: the simulated elite workers serve a half and a fifth of what the sweeps
//! ask for, for 50 sweeps. Latest-wins (`ledger::heads`) keeps the queue's backlog at about two
//! sweeps of messages, the elites are never asked for more than they serve, and the rotation
//! that starts each sweep where the previous sweep's work stopped (`pipeline::rotation`) gives
//! every site a result at least once every K sweeps:
//!
//! **Staleness bound:** at overload factor F (demand / capacity), with every fan-out finishing,
//! every active site gets a result at least once every ⌈F⌉ + 1 sweeps.
//!
//! The work goes round the sites at the elites' pace, C sites a period, so a site's turn comes
//! every N / C = F periods; a turn lands in whichever sweep is newest then, and the boundary
//! between two sweeps (the jobs in flight when a newer fan-out finishes) can push one turn a
//! sweep later: at most ⌈F⌉ + 1 sweeps apart. Dying fan-outs add their own misses (see
//! "Limits" in ARCHITECTURE.md). Every figure is printed; `cargo test -p code24-shared --test
//! overload -- --nocapture` shows them.

use code24_shared::testkit::sim::{run, SimConfig, SimReport};

const SITES: usize = 600;
const SWEEPS: u32 = 50;
const PERIOD_MS: i64 = 180_000;

/// A fault-free run whose elites serve `1 / factor` of the sweeps' demand.
fn overloaded(seed: u64, factor: u32) -> SimConfig {
    let jobs_per_period = SITES as i64 / i64::from(factor);
    SimConfig {
        sites: SITES,
        sweeps: SWEEPS,
        sweep_interval_ms: PERIOD_MS,
        // The optimizer's deployed batch.
        batch_size: 8,
        p_duplicate_firing: 0.0,
        p_producer_cut: 0.0,
        p_refire_after_cut: 0.0,
        p_duplicate_delivery: 0.0,
        p_elite_transient: 0.0,
        permanent_sites: 0,
        p_crash_before_complete: 0.0,
        p_crash_after_complete: 0.0,
        p_stall_before_complete: 0.0,
        // Three calls a job.
        elite_call_ms: PERIOD_MS / (3 * jobs_per_period),
        ..SimConfig::hostile(seed)
    }
}

/// Runs one overload scenario, prints its figures and checks every promise.
fn check_overload(factor: u32) -> SimReport {
    let r = run(&overloaded(u64::from(factor), factor));
    let calls = &r.elite_calls_per_period;
    let busiest = calls.iter().copied().max().unwrap_or(0);
    // The periods of the 50 sweeps (the last ones drain the final sweep at leisure).
    let busy = &calls[1..(SWEEPS as usize - 1).min(calls.len())];
    let quietest_busy = busy.iter().copied().min().unwrap_or(0);
    let bound = u64::from(factor) + 1;
    println!(
        "overload factor {factor}: {SITES} sites, {SWEEPS} sweeps; peak backlog {} messages ({:.2} sweeps); elite calls per period \
         max {busiest} min {quietest_busy} (capacity {}); worst staleness {} sweeps without a result (bound: a result every {bound}); \
         results {} superseded {} dead {} jobs {}",
        r.peak_backlog,
        r.peak_backlog as f64 / SITES as f64,
        r.elite_capacity_per_period,
        r.max_sweeps_without_result,
        r.results,
        r.superseded,
        r.dead,
        r.jobs,
    );
    assert!(
        r.violations.is_empty(),
        "factor {factor}: {} violations, the first:\n{}",
        r.violations.len(),
        r.violations[..r.violations.len().min(20)].join("\n")
    );
    assert_eq!(r.reworked_after_success, 0, "no duplicate work after success");
    assert_eq!((r.jobs, r.dead), (u64::from(SWEEPS) * SITES as u64, 0), "every (sweep, site) ended: 0 lost");
    assert!(r.peak_backlog <= 2 * SITES as u64 + 8, "backlog {} above two sweeps of messages", r.peak_backlog);
    assert!(busiest <= r.elite_capacity_per_period, "calls per period {calls:?} above the capacity {}", r.elite_capacity_per_period);
    // The elites were the bottleneck the whole time, or the run proved nothing.
    assert!(quietest_busy * 10 >= r.elite_capacity_per_period * 9, "a busy period used less than 90 % of the capacity: {calls:?}");
    assert!(r.superseded > 0, "overload without a single superseded job");
    assert!(r.max_sweeps_without_result < bound, "a site went {} sweeps without a result; bound {bound}", r.max_sweeps_without_result);
    r
}

#[test]
fn overload_at_half_the_demand_keeps_the_backlog_bounded_and_every_site_fresh() {
    check_overload(2);
}

#[test]
fn overload_at_a_fifth_of_the_demand_keeps_the_backlog_bounded_and_every_site_fresh() {
    check_overload(5);
}

/// Overload that sets in after sweeps the elites kept up with: those later sweeps went out by
/// ledger shard (`pipeline::rotation::by_shard`, after a sweep worked through), the first
/// overloaded one too, and the next ones in the plain rotated order, whose origin comes from
/// the nearest of the shards' fronts (`pipeline::rotation::next_origin`). The staleness bound
/// holds across the change, with nothing lost or worked twice after success.
#[test]
fn overload_that_sets_in_after_sweeps_sent_by_shard_keeps_every_site_fresh() {
    const FRESH: u32 = 8;
    for factor in [2, 5] {
        let cfg = SimConfig {
            // Calls take no time up to the middle of the last fresh sweep's period.
            elite_slow_after_ms: i64::from(FRESH) * PERIOD_MS - PERIOD_MS / 2,
            ..overloaded(u64::from(factor) + 100, factor)
        };
        let r = run(&cfg);
        let bound = u64::from(factor) + 1;
        println!(
            "overload from sweep {} at factor {factor}: {} of {SWEEPS} sweeps sent by shard; worst staleness {} sweeps without a \
             result (bound: a result every {bound}); peak backlog {}; results {} superseded {}",
            FRESH + 1,
            r.by_shard_sweeps,
            r.max_sweeps_without_result,
            r.peak_backlog,
            r.results,
            r.superseded
        );
        assert!(r.violations.is_empty(), "factor {factor}: {:?}", &r.violations[..r.violations.len().min(20)]);
        assert_eq!(r.reworked_after_success, 0, "no duplicate work after success");
        assert_eq!((r.jobs, r.dead), (u64::from(SWEEPS) * SITES as u64, 0), "every (sweep, site) ended: 0 lost");
        // Sweeps 2 to FRESH + 1 opened after a sweep worked through; none after.
        assert_eq!(r.by_shard_sweeps, u64::from(FRESH), "factor {factor}: sweeps sent by shard");
        assert!(r.superseded > 0, "the overload superseded nothing");
        assert!(r.peak_backlog <= 2 * SITES as u64 + 8, "backlog {} above two sweeps of messages", r.peak_backlog);
        assert!(r.max_sweeps_without_result < bound, "a site went {} sweeps without a result; bound {bound}", r.max_sweeps_without_result);
    }
}

/// One fan-out that dies under overload (the queue refuses every send for 170 s from 2.5 s
/// into sweep 8, past the producer's retries and re-opens): the next sweep starts where the
/// dead one started, not after its cursor, since nothing it sent was worked. With its cursor
/// the sites it sent went last in the next sweep, which the overload never reached: 9 sweeps
/// without a result at F = 5 (found by review). A dead fan-out's sweep is one the sites it did
/// not send miss, so the bound is one sweep longer: a result every ⌈F⌉ + 2 sweeps.
#[test]
fn overload_with_a_fan_out_that_dies_keeps_every_site_fresh() {
    let factor = 5;
    let cfg = SimConfig { sites: 4_000, sweeps: 24, queue_bursts: vec![(8 * PERIOD_MS + 2_500, 170_000)], ..overloaded(7, factor) };
    let jobs_per_period = cfg.sites as i64 / i64::from(factor);
    let r = run(&SimConfig { elite_call_ms: PERIOD_MS / (3 * jobs_per_period), ..cfg });
    let bound = u64::from(factor) + 2;
    println!(
        "overload factor {factor} with a dying fan-out: {} abandoned; worst staleness {} sweeps without a result (bound: a result \
         every {bound})",
        r.abandoned_sweeps, r.max_sweeps_without_result
    );
    assert_eq!(r.abandoned_sweeps, 1, "the burst kills one fan-out");
    assert!(r.violations.is_empty(), "{:?}", &r.violations[..r.violations.len().min(20)]);
    assert!(r.max_sweeps_without_result < bound, "a site went {} sweeps without a result; bound {bound}", r.max_sweeps_without_result);
}
