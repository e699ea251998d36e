//! The simulation under Cloudflare's limits (`code24_shared::limits`): a sweep at 100,000
//! sites whose every invocation stays inside its per-invocation limits and whose producer
//! stays under the queue's throughput, and sweeps whose queue refuses sends (beyond its cap,
//! and in bursts) that still send every active site, lose nothing and skip no site twice in a
//! row. Every overrun of any simulated invocation is a violation of the run
//! (`testkit::sim::SimConfig::limits`); these configurations tolerate none.

use code24_shared::limits::usage::{Figure, Figures, InvocationLimits, Usage};
use code24_shared::limits::{within_headroom, QUEUE_SEND_RATE_PER_S};
use code24_shared::testkit::sim::{run, SimConfig, SimReport, OPTIMIZER, PRODUCER};

/// A run with no fault but the queue's: the limits are the only thing under test.
fn calm(seed: u64, sites: usize, sweeps: u32) -> SimConfig {
    SimConfig {
        sites,
        sweeps,
        sweep_interval_ms: 180_000,
        // Three elite calls per job, all at once: two jobs are six connections, the most an
        // invocation keeps open (a larger batch needs the consumer's bound on elite calls).
        batch_size: 2,
        p_duplicate_firing: 0.0,
        p_producer_cut: 0.0,
        p_refire_after_cut: 0.0,
        p_duplicate_delivery: 0.0,
        p_elite_transient: 0.0,
        permanent_sites: 0,
        p_crash_before_complete: 0.0,
        p_crash_after_complete: 0.0,
        p_stall_before_complete: 0.0,
        tolerated: Vec::new(),
        ..SimConfig::hostile(seed)
    }
}

fn assert_clean(r: &SimReport) {
    assert!(
        r.violations.is_empty(),
        "seed {}: {} violations, the first:\n{}",
        r.seed,
        r.violations.len(),
        r.violations[..r.violations.len().min(20)].join("\n")
    );
    assert!(r.tolerated.is_empty(), "nothing is tolerated here: {:?}", r.tolerated);
}

fn figures(r: &SimReport, kind: &str) -> Figures {
    *r.usage.get(kind).unwrap_or_else(|| panic!("no {kind} invocation was counted: {:?}", r.usage))
}

#[test]
fn limits_a_100_000_site_sweep_stays_inside_every_limit_with_headroom() {
    let sites = 100_000;
    let r = run(&calm(13, sites, 1));
    assert_clean(&r);
    assert_eq!((r.jobs, r.results), (sites as u64, sites as u64), "every site sent once and worked");
    // The producer's figures grow with the sites, the optimizer's do not: each stays within
    // 80 % of its limit (the optimizer's connections too: 4 of 6, `budget::connection_budget`).
    let producer = figures(&r, PRODUCER);
    let limits = InvocationLimits::default();
    for (kind, used) in [("producer", producer), ("optimizer", figures(&r, OPTIMIZER))] {
        for figure in Figure::ALL {
            if let Some(limit) = limits.of(figure) {
                let value = used.get(figure);
                assert!(within_headroom(value, limit), "{kind}: {} {value} is not within 80 % of {limit}", figure.key());
            }
        }
    }
    // One count, 50 pages read (and one empty read at the end), 1,000 sends, 50 cursor
    // records, the open and the finish, and latest-wins' 8 work-front reads and 8
    // announcements (one per job shard): the figures the capacity table reports.
    assert_eq!((producer.queue_messages, producer.d1_queries), (sites as u64, 52), "{producer:?}");
    assert_eq!(producer.subrequests, 52 + 1_000 + 50 + 2 + 16, "{producer:?}");
    assert!(producer.peak_connections <= 4, "{producer:?}");
    // The alert tick runs in the same invocation after the fan-out: at its most, the two
    // together stay within 80 % of the dispatcher's limits (its own subrequest limit).
    let tick = Usage::new("dispatcher", "scheduled");
    for call in code24_shared::alerts::cost::tick_calls() {
        tick.call(call);
    }
    let (tick, dispatcher) = (tick.figures(), InvocationLimits::configured(Some(code24_shared::config::DISPATCHER_SUBREQUESTS)));
    assert!((10..=100).contains(&tick.subrequests), "{tick:?}");
    assert!(within_headroom(producer.subrequests + tick.subrequests, dispatcher.subrequests), "{producer:?} {tick:?}");
    assert!(within_headroom(producer.d1_queries + tick.d1_queries, dispatcher.d1_queries), "{producer:?} {tick:?}");
    assert_eq!(figures(&r, OPTIMIZER).peak_connections, 4, "the slots are used, not left idle");
    // Paced at 4,000 messages/s: never more in any second, so never refused.
    assert_eq!(r.queue_refusals, 0);
    assert!(
        r.peak_send_rate_per_s <= 4_000 && within_headroom(r.peak_send_rate_per_s, QUEUE_SEND_RATE_PER_S),
        "{}",
        r.peak_send_rate_per_s
    );
    assert!(r.peak_send_rate_per_s > 3_000, "the pace is kept: {}", r.peak_send_rate_per_s);
}

#[test]
fn limits_an_overrun_fails_the_run() {
    // The same sweep held to a subrequest limit below what its producer needs: the run says
    // which invocation went over, by how much.
    let cfg = SimConfig { limits: InvocationLimits { subrequests: 20, ..InvocationLimits::default() }, ..calm(1, 5_000, 1) };
    let r = run(&cfg);
    assert!(
        r.violations.iter().any(|v| v.starts_with("producer invocation: subrequests") && v.ends_with("over its limit of 20")),
        "{:?}",
        r.violations
    );
}

#[test]
fn limits_a_throttled_queue_refusing_in_bursts_still_sends_every_site_once_per_sweep() {
    let sites = 20_000;
    // The producer is configured above what this queue accepts (3,000/s), and the queue refuses
    // everything for 3 s during the first fan-out and 8 s during the second.
    let cfg = SimConfig {
        send_rate_per_s: 4_900,
        queue_cap_per_s: Some(3_000),
        queue_bursts: vec![(1_000, 3_000), (180_500, 8_000)],
        ..calm(29, sites, 3)
    };
    let r = run(&cfg);
    assert_clean(&r);
    assert!(r.queue_refusals > 10 && r.send_retries >= r.queue_refusals, "refused {} retried {}", r.queue_refusals, r.send_retries);
    assert!(r.peak_send_rate_per_s <= 3_000, "{}", r.peak_send_rate_per_s);
    assert_eq!(r.jobs, 3 * sites as u64, "every active site sent by every sweep");
    // The simulated consumer (2 jobs a batch) works 20,000 sites in more than a sweep's 3
    // minutes: what a newer sweep covers is superseded (latest-wins), nothing else is lost.
    assert_eq!(r.results + r.superseded, r.jobs, "nothing lost");
    assert!(r.superseded > 0 && r.dead == 0, "superseded {} dead {}", r.superseded, r.dead);
    assert_eq!((r.max_consecutive_skips, r.producer_cuts, r.abandoned_sweeps), (0, 0, 0));
}

#[test]
fn limits_fan_outs_the_queue_kills_leave_their_tails_to_the_next_sweep_first() {
    let sites = 8_000;
    // The queue refuses every send for 4 minutes from 1 s into the first fan-out, and again
    // into the second: longer than the producer's retries and re-opens ride out. Each dies after
    // about 4,000 sites. The second starts where the first stopped and the third where the
    // second stopped, so no site misses two sweeps in a row (starting every sweep at the first
    // customer, the second would re-send the first's sites and skip the rest twice).
    let cfg = SimConfig { sweep_interval_ms: 300_000, queue_bursts: vec![(1_000, 240_000), (301_000, 240_000)], ..calm(31, sites, 3) };
    let r = run(&cfg);
    assert_clean(&r);
    assert_eq!((r.producer_cuts, r.abandoned_sweeps), (2, 2), "{r:?}");
    let dead_fan_outs_sent = r.jobs - sites as u64;
    assert!(
        (sites as u64..2 * sites as u64).contains(&dead_fan_outs_sent),
        "the dying fan-outs sent {dead_fan_outs_sent} jobs between them"
    );
    assert_eq!(r.max_consecutive_skips, 1, "every site was sent by one of two sweeps in a row");
    assert_eq!(r.results, r.jobs, "every job sent was worked");
}
