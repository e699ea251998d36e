//! The fault matrix: thousands of seeded scenarios of the whole pipeline, each mixing every
//! fault the pipeline promises to survive, plus one 100,000-site sweep.
//!
//! A scenario is a pure function of its seed ([`scenario`]): the size of the registry, how
//! many sweeps and how far apart (overlapping or not), the queue's batch size and retry
//! backstop, duplicate and concurrent-looking cron firings, producer cut-offs mid-enqueue,
//! duplicate deliveries, consumer crashes and stalls around the ledger, and elite faults:
//! 5xx bursts, 5xx at a rate, hangs past the timeout, slow answers, garbage and permanent
//! 4xx, each aimed at some sites or all; elites slower than the sweeps (overload), and one role
//! down for minutes behind the circuit breakers, with the auto-replay. [`run_with_faults`] checks the invariants of every
//! run (every (sweep, active site) ends with exactly one result, dead letter or superseded
//! record; the ledger's counts and rollups agree; nothing succeeded is worked again).
//!
//! Replay one scenario: `SIM_SEED=1234 cargo test -p code24-shared --test fault_matrix`.
//! `FAULT_MATRIX_SCENARIOS=N` changes how many run (default [`SCENARIOS`]).

use std::collections::BTreeMap;

use code24_shared::backoff::Rng;
use code24_shared::breaker::BreakerPolicy;
use code24_shared::elite::EliteRole;
use code24_shared::standin::{Fault, FaultRule};
use code24_shared::testkit::sim::{run_with_faults, ExtraFaults, SimConfig, SimReport};

/// How many seeded scenarios the matrix runs by default.
const SCENARIOS: u64 = 5_000;

/// The scenario of `seed`: a configuration and extra faults.
fn scenario(seed: u64) -> (SimConfig, ExtraFaults) {
    let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xFA17);
    let pick = |rng: &mut Rng, options: &[i64]| options[rng.below(options.len() as u64) as usize];
    let p = |rng: &mut Rng, max: f64| (rng.below(1_000) as f64 / 1_000.0) * max;
    let sites = 1 + rng.below(40) as usize;
    let mut cfg = SimConfig {
        seed,
        sites,
        sweeps: 1 + rng.below(4) as u32,
        // 2 s overlaps every sweep with the previous one's retries; 180 s is the cron's period.
        sweep_interval_ms: pick(&mut rng, &[2_000, 20_000, 180_000]),
        // Deployed optimizers take at most 8 jobs a batch (the service-binding budget); 25 and
        // 100 exercise the consumer's deferral of the jobs beyond it.
        batch_size: pick(&mut rng, &[1, 5, 8, 25, 100]) as usize,
        p_duplicate_firing: p(&mut rng, 0.6),
        p_producer_cut: p(&mut rng, 0.4),
        p_refire_after_cut: p(&mut rng, 1.0),
        p_duplicate_delivery: p(&mut rng, 0.3),
        p_elite_transient: p(&mut rng, 0.15),
        permanent_sites: rng.below(3) as usize,
        p_crash_before_complete: p(&mut rng, 0.1),
        p_crash_after_complete: p(&mut rng, 0.1),
        p_stall_before_complete: p(&mut rng, 0.05),
        max_deliveries: pick(&mut rng, &[3, 11, 101]) as u32,
        ..SimConfig::hostile(seed)
    };
    // A fifth of the scenarios meet a queue refusing every send for a while (up to 10 s: the
    // producer's send retries ride out 23.75 s), from a stream of its own.
    let mut queue_rng = Rng::new(seed ^ 0x0429_0429);
    if queue_rng.chance(0.2) {
        cfg.queue_bursts = vec![(queue_rng.below(cfg.sweep_interval_ms as u64) as i64, 1 + queue_rng.below(10_000) as i64)];
    }
    // Overload and outages, from a stream of their own: an eighth of the scenarios meet elites
    // slower than the sweeps (each call holds them 50-400 ms: latest-wins supersedes what they
    // cannot work), an eighth the circuit breakers with one role answering 503 for up to 10
    // minutes and the auto-replay on.
    let mut load_rng = Rng::new(seed ^ 0x0B0B_0B0B);
    if load_rng.chance(0.125) {
        cfg.elite_call_ms = 50 + load_rng.below(350) as i64;
        // As deployed (8 jobs a batch), and few duplicated deliveries: the simulation's queue
        // duplicates a share of every delivery, deferred ones included, which against slow
        // elites would grow the queue without end (seed 49 did: a real queue's duplicates are
        // rare; the simulation now reports a queue that runs away as a violation).
        cfg.batch_size = cfg.batch_size.min(8);
        cfg.p_duplicate_delivery = cfg.p_duplicate_delivery.min(0.05);
    }
    if load_rng.chance(0.125) {
        let down = EliteRole::ALL[load_rng.below(3) as usize];
        let from = load_rng.below(cfg.sweep_interval_ms as u64) as i64;
        cfg.breakers = Some(BreakerPolicy::DEFAULT);
        cfg.outage = Some((down, from, from + 1 + load_rng.below(600_000) as i64));
        cfg.auto_replay = true;
        // Held jobs are delivered again and again while a breaker is open: the same cap on
        // duplicated deliveries as above.
        cfg.batch_size = cfg.batch_size.min(8);
        cfg.p_duplicate_delivery = cfg.p_duplicate_delivery.min(0.05);
    }
    let customer = |rng: &mut Rng| Some(format!("c{:06}", rng.below(sites as u64)));
    let role = |rng: &mut Rng| [None, Some(EliteRole::Brand), Some(EliteRole::Designer), Some(EliteRole::Developer)][rng.below(4) as usize];
    let mut rules = Vec::new();
    // A burst of 5xx from every elite worker: the next calls fail, whoever they are for.
    if rng.chance(0.5) {
        let code = pick(&mut rng, &[500, 502, 503, 504]) as u16;
        rules.push(FaultRule {
            customer_id: None,
            role: role(&mut rng),
            fault: Fault::Status { code },
            rate: None,
            times: Some(1 + rng.below(30) as u32),
        });
    }
    // Hangs past the consumer's timeout, for one site (sometimes for good: it dies) or at a rate.
    if rng.chance(0.5) {
        let times = if rng.chance(0.3) { None } else { Some(1 + rng.below(6) as u32) };
        rules.push(FaultRule { customer_id: customer(&mut rng), role: role(&mut rng), fault: Fault::Hang { ms: None }, rate: None, times });
    }
    if rng.chance(0.3) {
        rules.push(FaultRule { customer_id: None, role: None, fault: Fault::Hang { ms: None }, rate: Some(p(&mut rng, 0.1)), times: None });
    }
    // Slow answers (within the timeout) across sites.
    if rng.chance(0.5) {
        rules.push(FaultRule {
            customer_id: None,
            role: role(&mut rng),
            fault: Fault::Latency { ms: 1 + rng.below(3_000) },
            rate: Some(p(&mut rng, 0.5)),
            times: None,
        });
    }
    // A site whose elite answers are not the contract (permanent).
    if rng.chance(0.2) {
        rules.push(FaultRule {
            customer_id: customer(&mut rng),
            role: role(&mut rng),
            fault: Fault::Garbage,
            rate: None,
            times: Some(1 + rng.below(3) as u32),
        });
    }
    // A site answering 429 (transient) a few times.
    if rng.chance(0.3) {
        rules.push(FaultRule {
            customer_id: customer(&mut rng),
            role: None,
            fault: Fault::Status { code: 429 },
            rate: None,
            times: Some(1 + rng.below(4) as u32),
        });
    }
    // A queue that loses what it holds (a local stack killed mid-sweep), then late
    // re-firings that re-drive the stalled sweeps. Without producer cut-offs: an abandoned
    // sweep is not re-driven.
    let p_queue_loss = if rng.chance(0.25) {
        cfg.p_producer_cut = 0.0;
        1.0
    } else {
        0.0
    };
    (cfg, ExtraFaults { elite_rules: rules, p_queue_loss })
}

/// The figures of many runs, summed.
#[derive(Debug, Default)]
struct Totals {
    scenarios: u64,
    jobs: u64,
    results: u64,
    dead: u64,
    superseded: u64,
    /// Jobs that ended with no result, dead letter or superseded record (must be 0).
    lost: u64,
    /// Elite calls for jobs already succeeded, which any R2 write after success needs (must be 0).
    reworked_after_success: u64,
    faults: BTreeMap<String, u64>,
}

impl Totals {
    fn add(&mut self, r: &SimReport) {
        self.scenarios += 1;
        self.jobs += r.jobs;
        self.results += r.results;
        self.dead += r.dead;
        self.superseded += r.superseded;
        self.lost += r.jobs.saturating_sub(r.results + r.dead + r.superseded);
        self.reworked_after_success += r.reworked_after_success;
        let mut count = |kind: &str, n: u64| *self.faults.entry(kind.to_owned()).or_default() += n;
        count("duplicate-firing", r.duplicate_firings);
        count("producer-cut", r.producer_cuts);
        count("duplicate-delivery", r.duplicate_deliveries);
        count("consumer-crash-or-stall", r.crashes);
        count("late-report", r.late_reports);
        count("queue-backstop", r.backstop_dead);
        count("overlap-superseded", r.superseded);
        count("queue-loss", r.queue_losses);
        count("messages-lost-in-transit", r.messages_lost);
        count("redrive", r.redrives);
        count("elite-overload-periods", r.elite_calls_per_period.iter().filter(|n| **n >= r.elite_capacity_per_period).count() as u64);
        count("breaker-opened", r.breaker_transitions.iter().filter(|t| t.contains("->Open")).count() as u64);
        count("breaker-held-back", r.held_back);
        count("breaker-auto-replayed", r.auto_replayed);
        for (kind, n) in &r.elite_faults {
            count(&format!("elite-{kind}"), *n);
        }
    }

    fn print(&self, what: &str) {
        // Consequences, not injections: supersedings, lost messages, re-drives, the breakers.
        let consequences =
            ["overlap-superseded", "messages-lost-in-transit", "redrive", "breaker-opened", "breaker-held-back", "breaker-auto-replayed"];
        let injected: u64 = self.faults.iter().filter(|(k, _)| !consequences.contains(&k.as_str())).map(|(_, n)| n).sum();
        println!(
            "{what}: scenarios {} jobs {} results {} dead {} superseded {} lost {} duplicates-after-success {} faults-injected {injected}",
            self.scenarios, self.jobs, self.results, self.dead, self.superseded, self.lost, self.reworked_after_success
        );
        for (kind, n) in &self.faults {
            println!("  {kind:<26} {n}");
        }
    }
}

fn assert_clean(r: &SimReport) {
    assert!(
        r.violations.is_empty(),
        "seed {} violated invariants (replay: SIM_SEED={} cargo test -p code24-shared --test fault_matrix):\n{}",
        r.seed,
        r.seed,
        r.violations.join("\n")
    );
    assert_eq!(r.reworked_after_success, 0, "seed {}", r.seed);
}

fn seeds() -> Vec<u64> {
    if let Ok(s) = std::env::var("SIM_SEED") {
        return vec![s.parse().expect("SIM_SEED must be a number")];
    }
    let n = std::env::var("FAULT_MATRIX_SCENARIOS").map_or(SCENARIOS, |s| s.parse().expect("FAULT_MATRIX_SCENARIOS must be a number"));
    (1..=n).collect()
}

#[test]
fn thousands_of_mixed_fault_scenarios_lose_nothing_and_never_rework_a_success() {
    let mut totals = Totals::default();
    for seed in seeds() {
        let (cfg, rules) = scenario(seed);
        let r = run_with_faults(&cfg, &rules);
        assert_clean(&r);
        totals.add(&r);
    }
    totals.print("fault matrix");
    assert_eq!((totals.lost, totals.reworked_after_success), (0, 0));
    if totals.scenarios >= 500 {
        // The faults must actually have happened, or the matrix proved nothing.
        for kind in [
            "duplicate-firing",
            "producer-cut",
            "duplicate-delivery",
            "consumer-crash-or-stall",
            "late-report",
            "queue-backstop",
            "overlap-superseded",
            "queue-loss",
            "messages-lost-in-transit",
            "redrive",
            "elite-status-503",
            "elite-status-400",
            "elite-status-429",
            "elite-status-500",
            "elite-hang",
            "elite-latency",
            "elite-garbage",
            "elite-overload-periods",
            "breaker-opened",
            "breaker-held-back",
            "breaker-auto-replayed",
        ] {
            assert!(totals.faults.get(kind).copied().unwrap_or(0) > 0, "no scenario injected {kind}: {:?}", totals.faults);
        }
        assert!(totals.dead > 0 && totals.superseded > 0, "{totals:?}");
    }
}

#[test]
fn scenarios_replay_exactly_from_their_seed() {
    for seed in [3, 77, 1_999] {
        let (cfg, rules) = scenario(seed);
        let (a, b) = (run_with_faults(&cfg, &rules), run_with_faults(&cfg, &rules));
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "seed {seed} is not reproducible");
    }
}

#[test]
fn one_sweep_of_100_000_sites_under_faults_ends_every_site_once() {
    let sites = 100_000;
    let cfg = SimConfig {
        sites,
        sweeps: 1,
        // As deployed: the most jobs one invocation's service-binding budget allows.
        batch_size: code24_shared::pipeline::budget::jobs_per_invocation(code24_shared::pipeline::optimize::SERVICE_BINDING_CALLS_PER_JOB)
            as usize,
        p_duplicate_firing: 0.5,
        p_producer_cut: 0.0,
        p_duplicate_delivery: 0.01,
        p_elite_transient: 0.01,
        permanent_sites: 3,
        p_crash_before_complete: 0.005,
        p_crash_after_complete: 0.005,
        p_stall_before_complete: 0.0,
        max_deliveries: 101,
        ..SimConfig::hostile(100_000)
    };
    let hangs = vec![FaultRule { customer_id: None, role: None, fault: Fault::Hang { ms: None }, rate: Some(0.002), times: None }];
    let r = run_with_faults(&cfg, &ExtraFaults { elite_rules: hangs, p_queue_loss: 0.0 });
    assert_clean(&r);
    let mut totals = Totals::default();
    totals.add(&r);
    totals.print("100,000-site sweep");
    assert_eq!(r.jobs, sites as u64, "every site was enqueued once for the sweep");
    assert_eq!(r.results + r.dead, sites as u64, "every site ended with a result or a dead letter");
    assert!((1..=10).contains(&r.dead), "the permanently failing sites die, and few others: {}", r.dead);
    assert!(r.duplicate_firings > 0 && r.duplicate_deliveries > 0 && r.crashes > 0, "{r:?}");
}
