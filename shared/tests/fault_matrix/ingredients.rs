//! The fault matrix's scenarios: each seed's configuration and extra faults, built by the
//! [`INGREDIENTS`] in order, each drawing from the seed's stream.

use code24_shared::backoff::Rng;
use code24_shared::breaker::BreakerPolicy;
use code24_shared::elite::EliteRole;
use code24_shared::standin::{Fault, FaultRule};
use code24_shared::testkit::sim::{ExtraFaults, SimConfig};

/// One scenario while its ingredients build it.
struct Scenario {
    cfg: SimConfig,
    extra: ExtraFaults,
}

/// A kind of fault a scenario may mix in, drawing what it needs from the seed's stream.
type Ingredient = fn(&mut Rng, &mut Scenario);

/// Every ingredient, in the order they draw from the stream: the pipeline's shape and its
/// faults, overload and outages (from a stream of their own), then the elite workers' faults,
/// then the queue losing what it holds.
const INGREDIENTS: &[Ingredient] = &[
    shape_and_pipeline_faults,
    overload_and_outages,
    elite_5xx_burst,
    elite_hangs,
    elite_slow_answers,
    elite_garbage,
    elite_429,
    queue_loss,
];

/// The scenario of `seed`: a configuration and extra faults.
pub(crate) fn scenario(seed: u64) -> (SimConfig, ExtraFaults) {
    let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xFA17);
    let mut s = Scenario { cfg: SimConfig::hostile(seed), extra: ExtraFaults { elite_rules: Vec::new(), p_queue_loss: 0.0 } };
    for ingredient in INGREDIENTS {
        ingredient(&mut rng, &mut s);
    }
    (s.cfg, s.extra)
}

fn pick(rng: &mut Rng, options: &[i64]) -> i64 {
    options[rng.below(options.len() as u64) as usize]
}

fn p(rng: &mut Rng, max: f64) -> f64 {
    (rng.below(1_000) as f64 / 1_000.0) * max
}

/// A site of the scenario's registry, drawn.
fn customer(rng: &mut Rng, s: &Scenario) -> Option<String> {
    Some(format!("c{:06}", rng.below(s.cfg.sites as u64)))
}

fn role(rng: &mut Rng) -> Option<EliteRole> {
    [None, Some(EliteRole::Brand), Some(EliteRole::Designer), Some(EliteRole::Developer)][rng.below(4) as usize]
}

/// The registry, the sweeps and the queue, with the pipeline's own faults: duplicate and
/// cut-off firings, duplicate deliveries, crashes and stalls, and a queue refusing sends.
fn shape_and_pipeline_faults(rng: &mut Rng, s: &mut Scenario) {
    let seed = s.cfg.seed;
    let sites = 1 + rng.below(40) as usize;
    s.cfg = SimConfig {
        seed,
        sites,
        sweeps: 1 + rng.below(4) as u32,
        // 2 s overlaps every sweep with the previous one's retries; 180 s is the cron's period.
        sweep_interval_ms: pick(rng, &[2_000, 20_000, 180_000]),
        // Deployed optimizers take at most 8 jobs a batch (the service-binding budget); 25 and
        // 100 exercise the consumer's deferral of the jobs beyond it.
        batch_size: pick(rng, &[1, 5, 8, 25, 100]) as usize,
        p_duplicate_firing: p(rng, 0.6),
        p_producer_cut: p(rng, 0.4),
        p_refire_after_cut: p(rng, 1.0),
        p_duplicate_delivery: p(rng, 0.3),
        p_elite_transient: p(rng, 0.15),
        permanent_sites: rng.below(3) as usize,
        p_crash_before_complete: p(rng, 0.1),
        p_crash_after_complete: p(rng, 0.1),
        p_stall_before_complete: p(rng, 0.05),
        max_deliveries: pick(rng, &[3, 11, 101]) as u32,
        ..SimConfig::hostile(seed)
    };
    // A fifth of the scenarios meet a queue refusing every send for a while (up to 10 s: the
    // producer's send retries ride out 23.75 s), from a stream of its own.
    let mut queue_rng = Rng::new(seed ^ 0x0429_0429);
    if queue_rng.chance(0.2) {
        s.cfg.queue_bursts = vec![(queue_rng.below(s.cfg.sweep_interval_ms as u64) as i64, 1 + queue_rng.below(10_000) as i64)];
    }
}

/// Overload and outages, from a stream of their own (so the other ingredients draw as before):
/// an eighth of the scenarios meet elites slower than the sweeps (each call holds them
/// 50-400 ms: latest-wins supersedes what they cannot work), an eighth the circuit breakers
/// with one role answering 503 for up to 10 minutes and the auto-replay on.
fn overload_and_outages(_rng: &mut Rng, s: &mut Scenario) {
    let cfg = &mut s.cfg;
    let mut load_rng = Rng::new(cfg.seed ^ 0x0B0B_0B0B);
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
}

/// A burst of 5xx from every elite worker: the next calls fail, whoever they are for.
fn elite_5xx_burst(rng: &mut Rng, s: &mut Scenario) {
    if rng.chance(0.5) {
        let code = pick(rng, &[500, 502, 503, 504]) as u16;
        let role = role(rng);
        let times = Some(1 + rng.below(30) as u32);
        s.extra.elite_rules.push(FaultRule { customer_id: None, role, fault: Fault::Status { code }, rate: None, times });
    }
}

/// Hangs past the consumer's timeout, for one site (sometimes for good: it dies) or at a rate.
fn elite_hangs(rng: &mut Rng, s: &mut Scenario) {
    if rng.chance(0.5) {
        let times = if rng.chance(0.3) { None } else { Some(1 + rng.below(6) as u32) };
        let (customer_id, role) = (customer(rng, s), role(rng));
        s.extra.elite_rules.push(FaultRule { customer_id, role, fault: Fault::Hang { ms: None }, rate: None, times });
    }
    if rng.chance(0.3) {
        let rate = Some(p(rng, 0.1));
        s.extra.elite_rules.push(FaultRule { customer_id: None, role: None, fault: Fault::Hang { ms: None }, rate, times: None });
    }
}

/// Slow answers (within the timeout) across sites.
fn elite_slow_answers(rng: &mut Rng, s: &mut Scenario) {
    if rng.chance(0.5) {
        let role = role(rng);
        let fault = Fault::Latency { ms: 1 + rng.below(3_000) };
        let rate = Some(p(rng, 0.5));
        s.extra.elite_rules.push(FaultRule { customer_id: None, role, fault, rate, times: None });
    }
}

/// A site whose elite answers are not the contract (permanent).
fn elite_garbage(rng: &mut Rng, s: &mut Scenario) {
    if rng.chance(0.2) {
        let (customer_id, role) = (customer(rng, s), role(rng));
        let times = Some(1 + rng.below(3) as u32);
        s.extra.elite_rules.push(FaultRule { customer_id, role, fault: Fault::Garbage, rate: None, times });
    }
}

/// A site answering 429 (transient) a few times.
fn elite_429(rng: &mut Rng, s: &mut Scenario) {
    if rng.chance(0.3) {
        let customer_id = customer(rng, s);
        let times = Some(1 + rng.below(4) as u32);
        s.extra.elite_rules.push(FaultRule { customer_id, role: None, fault: Fault::Status { code: 429 }, rate: None, times });
    }
}

/// A queue that loses what it holds (a local stack killed mid-sweep), then late re-firings
/// that re-drive the stalled sweeps. Without producer cut-offs: an abandoned sweep is not
/// re-driven.
fn queue_loss(rng: &mut Rng, s: &mut Scenario) {
    if rng.chance(0.25) {
        s.cfg.p_producer_cut = 0.0;
        s.extra.p_queue_loss = 1.0;
    }
}
