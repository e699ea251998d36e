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
//! Every CI run explores [`SCENARIOS`] seeds (10,000), split over every core. A scenario is built by the `ingredients::INGREDIENTS` in order, each drawing from the
//! seed's stream: to add a kind of fault, write one `fn(&mut Rng, &mut Scenario)` and list it.
//!
//! Replay one scenario: `SIM_SEED=1234 cargo test -p code24-shared --test fault_matrix`.
//! `FAULT_MATRIX_SCENARIOS=N` changes how many run (default [`SCENARIOS`]) and
//! `FAULT_MATRIX_FIRST_SEED=S` where they start (default 1); with `FAULT_MATRIX_KEEP_GOING=1`
//! every failing seed is printed as `FAILED SEED n` with its replay command before the test
//! fails, which is how `cargo xtask soak` explores new seeds for as long as it is given.

use std::collections::BTreeMap;

use code24_shared::standin::{Fault, FaultRule};
use code24_shared::testkit::sim::{run_with_faults, ExtraFaults, SimConfig, SimReport};

#[path = "fault_matrix/ingredients.rs"]
mod ingredients;

use ingredients::scenario;

/// How many seeded scenarios the matrix runs by default.
const SCENARIOS: u64 = 10_000;
// Issue 14: at least 10,000 seeded scenarios in every CI run.
const _: () = assert!(SCENARIOS >= 10_000);

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
        for (kind, n) in &r.elite_faults {
            count(&format!("elite-{kind}"), *n);
        }
        count("elite-overload-periods", r.elite_calls_per_period.iter().filter(|n| **n >= r.elite_capacity_per_period).count() as u64);
        count("breaker-opened", r.breaker_transitions.iter().filter(|t| t.contains("->Open")).count() as u64);
        count("breaker-held-back", r.held_back);
        count("breaker-auto-replayed", r.auto_replayed);
    }

    fn merge(&mut self, other: Totals) {
        self.scenarios += other.scenarios;
        self.jobs += other.jobs;
        self.results += other.results;
        self.dead += other.dead;
        self.superseded += other.superseded;
        self.lost += other.lost;
        self.reworked_after_success += other.reworked_after_success;
        for (kind, n) in other.faults {
            *self.faults.entry(kind).or_default() += n;
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

/// The command that replays `seed` alone.
fn replay_command(seed: u64) -> String {
    format!("SIM_SEED={seed} cargo test -p code24-shared --test fault_matrix")
}

/// What is wrong with a run, if anything.
fn problems(r: &SimReport) -> Option<String> {
    let mut problems = r.violations.clone();
    if r.reworked_after_success > 0 {
        problems.push(format!("{} elite calls for jobs already succeeded", r.reworked_after_success));
    }
    (!problems.is_empty()).then(|| problems.join("\n"))
}

fn assert_clean(r: &SimReport) {
    if let Some(problems) = problems(r) {
        panic!("seed {} violated invariants (replay: {}):\n{problems}", r.seed, replay_command(r.seed));
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |s| s.parse().unwrap_or_else(|_| panic!("{name} must be a number")))
}

fn seeds() -> Vec<u64> {
    if std::env::var("SIM_SEED").is_ok() {
        return vec![env_number("SIM_SEED", 0)];
    }
    let first = env_number("FAULT_MATRIX_FIRST_SEED", 1);
    (first..first.saturating_add(env_number("FAULT_MATRIX_SCENARIOS", SCENARIOS))).collect()
}

/// Runs `seeds` on every core; the totals, and each failing seed with what was wrong.
fn run_all(seeds: &[u64]) -> (Totals, Vec<(u64, String)>) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(seeds.len().max(1));
    let chunk = seeds.len().div_ceil(threads).max(1);
    let parts: Vec<(Totals, Vec<(u64, String)>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = seeds
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let (mut totals, mut failed) = (Totals::default(), Vec::new());
                    for &seed in part {
                        let (cfg, rules) = scenario(seed);
                        let r = run_with_faults(&cfg, &rules);
                        if let Some(problems) = problems(&r) {
                            failed.push((seed, problems));
                        }
                        totals.add(&r);
                    }
                    (totals, failed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a scenario thread panicked")).collect()
    });
    let mut totals = Totals::default();
    let mut failed = Vec::new();
    for (part, mut f) in parts {
        totals.merge(part);
        failed.append(&mut f);
    }
    failed.sort_by_key(|(seed, _)| *seed);
    (totals, failed)
}

#[test]
fn thousands_of_mixed_fault_scenarios_lose_nothing_and_never_rework_a_success() {
    let (totals, failed) = run_all(&seeds());
    let keep_going = std::env::var("FAULT_MATRIX_KEEP_GOING").is_ok_and(|v| v == "1");
    for (seed, problems) in &failed {
        if keep_going {
            println!("FAILED SEED {seed}: replay: {}", replay_command(*seed));
            for line in problems.lines().take(5) {
                println!("    {line}");
            }
        }
    }
    if let Some((seed, problems)) = failed.first() {
        panic!("{} seeds violated invariants; the first, {seed} (replay: {}):\n{problems}", failed.len(), replay_command(*seed));
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
