//! A deterministic simulation of the whole pipeline over the in-memory twins: cron firings
//! (duplicated, cut off mid-fan-out), an at-least-once queue (duplicated deliveries, delayed
//! retries, a `max_retries` backstop), elite faults, and consumer crashes between the R2
//! write and the ack, and a queue that refuses sends beyond its throughput. Time is simulated;
//! every random choice comes from one seed, so a failing seed replays exactly. [`run`] checks
//! the pipeline's invariants and reports every violation it finds, every invocation's figure
//! over its limit ([`crate::limits::usage`]) included.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use futures::executor::block_on;
use serde::Serialize;

use crate::backoff::RetryPolicy;
use crate::backoff::Rng;
use crate::breaker::replay::{healed_since, AUTO_REPLAY_LIMIT, AUTO_REPLAY_RATE_PER_S};
use crate::breaker::{BreakerPolicy, BreakerState};
use crate::config::{ConsumerConfig, ProducerConfig};
use crate::dead_letters::intake::{settle_and_decide, DeadLetterAction};
use crate::dead_letters::record::DeadLetterRecord;
use crate::dead_letters::selection::plan_replay;
use crate::elite::{EliteRequest, EliteResponse, EliteRole};
use crate::error::ErrorClass;
use crate::error::JobError;
use crate::ids::{from_epoch_ms, CustomerId, JobId};
use crate::ledger::heads::{HeadRequest, HeadRow};
use crate::ledger::rollups::day_of;
use crate::ledger::{
    is_optimization, ClaimRequest, ClaimResponse, CompleteRequest, CompleteResponse, FanoutDone, JobState, OpenDecision, OpenRun, PageDone,
    RunPhase, SettleDecision, SettleRequest,
};
use crate::limits::usage::{Figure, Figures, InvocationLimits, Usage};
use crate::names::Environment;
use crate::optimization::optimization_key;
use crate::pipeline::consumer::Delivery;
use crate::pipeline::consumer::{Action, Consumer};
use crate::pipeline::optimize::OptimizeJobs;
use crate::pipeline::producer::{Firing, Producer, PRODUCER_LEASE_MS};
use crate::ports::{DeadLetterSink, EliteClient, Ledger, Metrics};
use crate::schedule::Task;
use crate::site::{Site, SiteUrl};
use crate::standin::{Fault, FaultRule, FaultRules};
use crate::testkit::breakers::MemoryBreakers;
use crate::testkit::metered::Metered;
use crate::testkit::overload::{longest_without_result, EliteCapacity};
use crate::testkit::ports::{
    MemoryDeadLetters, MemoryElite, MemoryLedger, MemoryMetrics, MemoryQueue, MemoryRegistry, MemoryResults, SimClock, Throttle,
};
use crate::testkit::sim_queue::{Msg, SimQueue};

/// The knobs of one simulated run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub sites: usize,
    pub sweeps: u32,
    /// Time between two sweeps; below the retry horizon it makes sweeps overlap.
    pub sweep_interval_ms: i64,
    pub batch_size: usize,
    pub p_duplicate_firing: f64,
    pub p_producer_cut: f64,
    /// After a cut, the chance that the cron fires again for the same time (else the next
    /// sweep abandons the cut one).
    pub p_refire_after_cut: f64,
    pub p_duplicate_delivery: f64,
    /// Fraction of elite calls answering 503.
    pub p_elite_transient: f64,
    /// Customers whose Brand calls always answer 400.
    pub permanent_sites: usize,
    pub p_crash_before_complete: f64,
    pub p_crash_after_complete: f64,
    /// A consumer that stalls after its R2 writes, past its leases, and reports its outcomes
    /// only after the redelivered messages were claimed again (stale outcomes).
    pub p_stall_before_complete: f64,
    /// Deliveries after which the queue itself moves a message to the dead-letter queue.
    pub max_deliveries: u32,
    /// The consumer's `MAX_ATTEMPTS`: transient failures after which a job is dead-lettered.
    pub max_attempts: u32,
    /// The per-invocation limits every simulated invocation is held to.
    pub limits: InvocationLimits,
    /// (invocation, figure) pairs whose overruns are reported in [`SimReport::tolerated`]
    /// instead of failing the run: a known overrun another change fixes, named here so it
    /// stays visible.
    pub tolerated: Vec<(&'static str, Figure)>,
    /// The producer's pace (messages/s; 0 unpaced).
    pub send_rate_per_s: u32,
    /// The optimize queue's throughput, by the simulated clock (`None`: it accepts everything).
    pub queue_cap_per_s: Option<u64>,
    /// Bursts during which the queue refuses every send, as (start after the first firing,
    /// length) in ms.
    pub queue_bursts: Vec<(i64, i64)>,
    /// Simulated elite capacity: each elite call holds the elite workers this long, one call
    /// after another (0: calls take no time). See `testkit::overload`.
    pub elite_call_ms: i64,
    /// Calls take [`Self::elite_call_ms`] only from this long after the first firing: an
    /// overload that sets in after sweeps the elites kept up with.
    pub elite_slow_after_ms: i64,
    /// The elite circuit breakers the optimizer asks (`None`: none, every job is worked).
    pub breakers: Option<BreakerPolicy>,
    /// An outage: this role answers 503 to every call from `.1` to `.2` ms after the first
    /// firing.
    pub outage: Option<(EliteRole, i64, i64)>,
    /// Replay the dead letters a healed outage caused when its breaker closes
    /// (`breaker::replay`; the environment's `BREAKER_AUTO_REPLAY`).
    pub auto_replay: bool,
}

impl SimConfig {
    /// A moderately hostile run: every fault kind on.
    pub fn hostile(seed: u64) -> Self {
        Self {
            seed,
            sites: 40,
            sweeps: 3,
            sweep_interval_ms: 20_000,
            // Above the optimizer's 8 jobs an invocation: the consumer defers the rest.
            batch_size: 10,
            p_duplicate_firing: 0.3,
            p_producer_cut: 0.2,
            p_refire_after_cut: 0.5,
            p_duplicate_delivery: 0.1,
            p_elite_transient: 0.05,
            permanent_sites: 2,
            p_crash_before_complete: 0.05,
            p_crash_after_complete: 0.05,
            p_stall_before_complete: 0.03,
            max_deliveries: 11,
            max_attempts: 4,
            limits: InvocationLimits::default(),
            // Nothing is tolerated: the consumer bounds its elite calls in flight and its
            // service-binding calls per invocation (`pipeline::budget`).
            tolerated: Vec::new(),
            send_rate_per_s: ProducerConfig::DEFAULT_SEND_RATE_PER_S,
            queue_cap_per_s: Some(crate::limits::QUEUE_SEND_RATE_PER_S),
            queue_bursts: Vec::new(),
            elite_call_ms: 0,
            elite_slow_after_ms: 0,
            breakers: None,
            outage: None,
            auto_replay: false,
        }
    }
}

/// The invocation kinds the simulation counts, as [`SimReport::usage`] names them.
pub const PRODUCER: &str = "producer";
pub const OPTIMIZER: &str = "optimizer";

/// What a run did and what it found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SimReport {
    pub seed: u64,
    pub jobs: u64,
    pub results: u64,
    pub dead: u64,
    pub superseded: u64,
    pub duplicates_absorbed: u64,
    pub deliveries: u64,
    pub duplicate_deliveries: u64,
    pub duplicate_firings: u64,
    pub producer_cuts: u64,
    pub crashes: u64,
    pub elite_calls: u64,
    pub ledger_requests: u64,
    pub batches: u64,
    /// Elite calls for a job the ledger had already recorded as succeeded. Must be 0.
    pub reworked_after_success: u64,
    /// Messages the queue's own backstop dead-lettered (never acked by the consumer).
    pub backstop_dead: u64,
    /// Dead-letter-queue messages the dead-letters consumer dropped because their job ended
    /// after all (nothing lost).
    pub dead_letters_dropped: u64,
    /// Cron firings handled (including duplicates and re-firings).
    pub firings: u64,
    /// Sweeps closed as abandoned because their producer died and a newer sweep started.
    pub abandoned_sweeps: u64,
    /// Sweeps whose fan-out sent by ledger shard (`pipeline::rotation::by_shard`): those that
    /// opened after a sweep worked through.
    pub by_shard_sweeps: u64,
    /// Analytics data points written (one per job that succeeded or died in the consumer).
    pub analytics_points: u64,
    /// Runs counted in the ledger's daily rollups, summed over every shard.
    pub rollup_runs: u64,
    /// Complete requests of stalled consumers that reached the ledger late.
    pub late_reports: u64,
    /// Elite faults the stand-in model applied, by kind (`status-503`, `hang`, ...).
    pub elite_faults: BTreeMap<String, u64>,
    /// Times the queue lost every message it held ([`ExtraFaults::p_queue_loss`]).
    pub queue_losses: u64,
    /// Messages lost that way.
    pub messages_lost: u64,
    /// Firings that re-drove a stalled sweep.
    pub redrives: u64,
    /// The largest of each counted figure, per invocation kind ([`PRODUCER`], [`OPTIMIZER`]).
    pub usage: BTreeMap<String, Figures>,
    /// Overruns of the figures [`SimConfig::tolerated`] names, one line each (the first 20).
    pub tolerated: Vec<String>,
    /// Sends the queue refused (429) and the producer retried.
    pub queue_refusals: u64,
    pub send_retries: u64,
    /// The most messages the optimize queue accepted in any one second.
    pub peak_send_rate_per_s: u64,
    /// The longest run of consecutive sweeps that never sent some active site's job.
    pub max_consecutive_skips: u64,
    /// The most messages the optimize queue held at once (overload: bounded by about two
    /// sweeps of messages).
    pub peak_backlog: u64,
    /// Elite calls served in each sweep interval, and the most the simulated capacity allows
    /// ([`SimConfig::elite_call_ms`]).
    pub elite_calls_per_period: Vec<u64>,
    pub elite_capacity_per_period: u64,
    /// The longest run of consecutive sweeps in which some active site got no result
    /// (`testkit::overload::longest_without_result`).
    pub max_sweeps_without_result: u64,
    /// Breakers: elite calls of the outage's role while its breaker was open (must be 0),
    /// jobs held back by the gate, transitions (oldest first), and the dead letters replayed
    /// when a breaker closed and how many of those jobs ended succeeded.
    pub calls_while_open: u64,
    pub held_back: u64,
    pub breaker_transitions: Vec<String>,
    pub auto_replayed: u64,
    pub auto_replayed_succeeded: u64,
    pub violations: Vec<String>,
}

/// The ledger, with consumer crashes and stalls injected around `complete`.
struct CrashingLedger<'a> {
    inner: &'a MemoryLedger,
    rng: RefCell<Rng>,
    p_before: f64,
    p_after: f64,
    p_stall: f64,
    /// A stall outlasts the consumer's lease by up to this much.
    stall_ms: i64,
    crashed: Cell<bool>,
    /// Complete requests of stalled consumers: (when they reach the ledger, shard, request).
    stalled: RefCell<Vec<(i64, u32, CompleteRequest)>>,
}

impl CrashingLedger<'_> {
    fn next_stalled(&self) -> Option<i64> {
        self.stalled.borrow().iter().map(|(at, ..)| *at).min()
    }

    /// Lets the stalled consumers whose time has come report; their verdicts reach nobody
    /// (their messages were redelivered when they stalled).
    fn deliver_stalled(&self, now_ms: i64, report: &mut SimReport) {
        let due: Vec<(i64, u32, CompleteRequest)> = {
            let mut stalled = self.stalled.borrow_mut();
            let (due, later) = std::mem::take(&mut *stalled).into_iter().partition(|(at, ..)| *at <= now_ms);
            *stalled = later;
            due
        };
        for (_, shard, req) in due {
            report.late_reports += 1;
            let late = CompleteRequest { now_ms, ..req };
            let _ = block_on(self.inner.complete(shard, &late));
        }
    }
}

impl Ledger for CrashingLedger<'_> {
    async fn open_run(&self, req: &OpenRun) -> Result<OpenDecision, JobError> {
        self.inner.open_run(req).await
    }
    async fn record_page(&self, req: &PageDone) -> Result<(), JobError> {
        self.inner.record_page(req).await
    }
    async fn finish_fanout(&self, req: &FanoutDone) -> Result<(), JobError> {
        self.inner.finish_fanout(req).await
    }
    async fn claim(&self, shard: u32, req: &ClaimRequest) -> Result<ClaimResponse, JobError> {
        self.inner.claim(shard, req).await
    }
    async fn settle(&self, shard: u32, req: &SettleRequest) -> Result<SettleDecision, JobError> {
        self.inner.settle(shard, req).await
    }
    async fn head(&self, shard: u32, req: &HeadRequest) -> Result<HeadRow, JobError> {
        self.inner.head(shard, req).await
    }
    fn shard_maps(&self) -> &[crate::ledger::shard_map::ShardMap] {
        self.inner.shard_maps()
    }
    async fn complete(&self, shard: u32, req: &CompleteRequest) -> Result<CompleteResponse, JobError> {
        if self.rng.borrow_mut().chance(self.p_before) {
            self.crashed.set(true);
            return Err(JobError::transient("simulated crash before complete"));
        }
        if self.rng.borrow_mut().chance(self.p_stall) {
            // The results are written; the report arrives after the lease lapsed.
            let at = req.now_ms + self.stall_ms + 1 + self.rng.borrow_mut().below(10_000) as i64;
            self.stalled.borrow_mut().push((at, shard, req.clone()));
            self.crashed.set(true);
            return Err(JobError::transient("simulated stall before complete"));
        }
        let answer = self.inner.complete(shard, req).await;
        if self.rng.borrow_mut().chance(self.p_after) {
            self.crashed.set(true);
            return Err(JobError::transient("simulated crash after complete"));
        }
        answer
    }
}

/// The elite twin, watching for work on jobs that already succeeded, within its capacity.
struct WatchedElite<'a> {
    inner: &'a MemoryElite,
    ledger: &'a MemoryLedger,
    reworked: Cell<u64>,
    capacity: EliteCapacity,
    clock: &'a SimClock,
    /// The outage (role, from, to) in absolute simulated time.
    outage: Option<(EliteRole, i64, i64)>,
    breakers: &'a MemoryBreakers,
    calls_while_open: Cell<u64>,
}

impl EliteClient for WatchedElite<'_> {
    async fn optimize(&self, request: &EliteRequest) -> Result<EliteResponse, JobError> {
        if self.ledger.job(&request.job_id).is_some_and(|j| j.state == JobState::Succeeded) {
            self.reworked.set(self.reworked.get() + 1);
        }
        self.capacity.serve(self.clock);
        if self.breakers.book.borrow().state(request.role) == BreakerState::Open {
            self.calls_while_open.set(self.calls_while_open.get() + 1);
        }
        let now = self.clock.get();
        if self.outage.is_some_and(|(role, from, to)| role == request.role && (from..to).contains(&now)) {
            return Err(JobError::transient(format!("elite {} answered HTTP 503: simulated outage", request.role.as_str())));
        }
        self.inner.optimize(request).await
    }
}

/// Runs one simulation and checks its invariants.
pub fn run(cfg: &SimConfig) -> SimReport {
    run_with_faults(cfg, &ExtraFaults::default())
}

/// Faults beyond [`SimConfig`]'s, for [`run_with_faults`]. Their random choices come from
/// streams of their own, so a run without them is exactly [`run`].
#[derive(Debug, Clone, Default)]
pub struct ExtraFaults {
    /// Elite fault rules (hangs, latency, garbage, bursts, ...), taking precedence over the
    /// ones the config describes.
    pub elite_rules: Vec<FaultRule>,
    /// The chance that, once at a random moment, the queue loses every message it holds (as
    /// a local stack killed mid-sweep does: its queues live in memory). Every sweep fired so
    /// far is then fired again a producer lease later, which re-drives the stalled ones.
    /// Meant for runs without producer cut-offs: an abandoned sweep is never re-driven.
    pub p_queue_loss: f64,
}

/// [`run`] with [`ExtraFaults`]. Every elite rule gets a budget (unlimited when it has none),
/// so what each one applied is counted in [`SimReport::elite_faults`].
pub fn run_with_faults(cfg: &SimConfig, extra: &ExtraFaults) -> SimReport {
    let extra_rules = &extra.elite_rules;
    let mut rng = Rng::new(cfg.seed);
    let mut report = SimReport { seed: cfg.seed, ..SimReport::default() };
    let clock = SimClock::at(1_800_000_000_000);
    let now = || clock.get();

    let registry = MemoryRegistry::default();
    for i in 0..cfg.sites {
        let customer_id = CustomerId::parse(&format!("c{i:06}")).expect("valid id");
        let url = SiteUrl::parse(&format!("https://site-{i}.example")).expect("valid url");
        registry.add(Site { customer_id, url }, true);
    }
    let elite = MemoryElite::default();
    let mut rules = extra_rules.to_vec();
    for _ in 0..cfg.permanent_sites {
        let customer = format!("c{:06}", rng.below(cfg.sites.max(1) as u64));
        rules.push(FaultRule {
            customer_id: Some(customer),
            role: Some(EliteRole::Brand),
            fault: Fault::Status { code: 400 },
            rate: None,
            times: None,
        });
    }
    if cfg.p_elite_transient > 0.0 {
        rules.push(FaultRule {
            customer_id: None,
            role: None,
            fault: Fault::Status { code: 503 },
            rate: Some(cfg.p_elite_transient),
            times: None,
        });
    }
    for rule in &mut rules {
        rule.times = Some(rule.times.unwrap_or(u32::MAX));
    }
    let budgets: Vec<(String, u32)> = rules.iter().map(|r| (fault_kind(&r.fault), r.times.unwrap_or(0))).collect();
    elite.standin.borrow_mut().set_rules(FaultRules { rules });

    let ledger = MemoryLedger::default();
    let config = ConsumerConfig {
        environment: Environment::Local,
        elite_timeout_ms: 5_000,
        max_attempts: cfg.max_attempts,
        retry: RetryPolicy { base_s: 1, max_s: 30 },
        elite_calls_in_flight: crate::pipeline::budget::connection_budget(),
    };
    let crashing = CrashingLedger {
        inner: &ledger,
        rng: RefCell::new(Rng::new(cfg.seed ^ 0xC0FFEE)),
        p_before: cfg.p_crash_before_complete,
        p_after: cfg.p_crash_after_complete,
        p_stall: cfg.p_stall_before_complete,
        stall_ms: config.lease_ms(),
        crashed: Cell::new(false),
        stalled: RefCell::default(),
    };
    let capacity = EliteCapacity {
        call_ms: cfg.elite_call_ms,
        start_ms: clock.get(),
        slow_from_ms: clock.get() + cfg.elite_slow_after_ms,
        period_ms: cfg.sweep_interval_ms,
        calls: RefCell::default(),
    };
    let breakers = MemoryBreakers::new(cfg.breakers.unwrap_or(BreakerPolicy::DEFAULT), clock.get());
    let outage = cfg.outage.map(|(role, from, to)| (role, clock.get() + from, clock.get() + to));
    let watched = WatchedElite {
        inner: &elite,
        ledger: &ledger,
        reworked: Cell::new(0),
        capacity,
        clock: &clock,
        outage,
        breakers: &breakers,
        calls_while_open: Cell::new(0),
    };
    // Dead letters replayed by the auto-replay, and the breakers' transitions already handled.
    let mut replayed: BTreeMap<String, DeadLetterRecord> = BTreeMap::new();
    let mut replays_since = i64::MIN;
    let results = MemoryResults::default();
    let dead_letters = MemoryDeadLetters::default();
    let metrics = MemoryMetrics::default();
    let producer_queue = MemoryQueue::default();
    // Without a cap the throttle only measures the rate.
    let bursts = cfg.queue_bursts.iter().map(|(from, len)| (clock.get() + from, clock.get() + from + len)).collect();
    let cap_per_s = cfg.queue_cap_per_s.unwrap_or(u64::MAX);
    *producer_queue.throttle.borrow_mut() = Some(Throttle { cap_per_s, bursts, ..Throttle::platform(&clock) });
    let producer_config = ProducerConfig { send_rate_per_s: cfg.send_rate_per_s, auto_replay: cfg.auto_replay };
    let mut queue = SimQueue::default();
    // The dead-letter queue (letters the consumer sent, and jobs the queue moved after
    // max_deliveries) and the store its consumer fills.
    let mut dlq: Vec<Msg> = Vec::new();
    let mut store: BTreeMap<String, DeadLetterRecord> = BTreeMap::new();
    // Every job id the producer ever sent.
    let mut sent_jobs: BTreeSet<String> = BTreeSet::new();

    // (time, firing): planned firings, including re-firings after a producer was cut off.
    let start = clock.get();
    let mut firings: Vec<(i64, Firing)> = (0..cfg.sweeps)
        .map(|k| {
            let at = start + i64::from(k) * cfg.sweep_interval_ms;
            let scheduled = from_epoch_ms(at).expect("in range");
            (at, Firing { environment: "sim".into(), task: Task::Optimize, scheduled, owner: String::new() })
        })
        .collect();
    let sweeps: Vec<Firing> = firings.iter().map(|(_, f)| f.clone()).collect();

    let mut loss_rng = Rng::new(cfg.seed ^ 0x1055_1055);
    let horizon = i64::from(cfg.sweeps) * cfg.sweep_interval_ms + 30_000;
    let mut loss_at = loss_rng.chance(extra.p_queue_loss).then(|| start + loss_rng.below(horizon as u64) as i64);

    for _step in 0..1_000_000 {
        if loss_at.is_some_and(|at| now() >= at) {
            loss_at = None;
            report.queue_losses += 1;
            report.messages_lost += queue.len() as u64;
            queue.clear();
            for sweep in sweeps.iter().filter(|s| s.scheduled.timestamp_millis() <= now()) {
                firings.push((now() + PRODUCER_LEASE_MS + 1, sweep.clone()));
            }
        }
        report.peak_backlog = report.peak_backlog.max(queue.len() as u64);
        // A queue that outgrows every message the run could need has run away (duplicates
        // breeding faster than the consumer works): a failure of the run, not a hang.
        if queue.len() > 100 * (cfg.sites * cfg.sweeps as usize + 100) {
            report.violations.push(format!("the queue ran away: {} messages", queue.len()));
            return report;
        }
        firings.sort_by_key(|(at, _)| *at);
        let next_firing = firings.first().map(|(at, _)| *at);
        let next_visible = queue.next_visible().into_iter().chain(dlq.iter().map(|m| m.visible_at)).chain(crashing.next_stalled()).min();
        match (next_firing, next_visible) {
            (None, None) => break,
            (Some(at), v) if v.is_none_or(|v| at <= v.max(now())) => {
                clock.set(clock.get().max(at));
                let (_, mut firing) = firings.remove(0);
                report.firings += 1;
                firing.owner = format!("producer-{}", report.firings);
                if rng.chance(cfg.p_producer_cut) {
                    producer_queue.cut_after.set(Some(rng.below(3)));
                }
                let usage = Usage::new("dispatcher", "scheduled");
                let producer = Producer {
                    registry: &Metered::new(&registry, &usage),
                    queue: &Metered::new(&producer_queue, &usage),
                    ledger: &Metered::new(&ledger, &usage),
                    clock: &clock,
                    config: &producer_config,
                };
                let outcome = block_on(producer.fan_out(&firing));
                account(cfg, PRODUCER, &usage, &mut report);
                producer_queue.cut_after.set(None);
                producer_queue.batches.set(0);
                report.send_retries += outcome.as_ref().map_or(0, |o| o.send_retries);
                report.redrives += u64::from(outcome.as_ref().is_ok_and(|o| o.decision == "redrive"));
                if outcome.is_err() {
                    report.producer_cuts += 1;
                    // Cloudflare does not promise a second firing for the same time; when one
                    // comes after the lease lapsed, it resumes. Otherwise a sweep opened after
                    // the lease lapsed abandons this one; without such a sweep it is re-fired.
                    let lease_end = now() + PRODUCER_LEASE_MS;
                    let abandoner = sweeps.iter().any(|s| s.scheduled.timestamp_millis() > lease_end);
                    if !abandoner || rng.chance(cfg.p_refire_after_cut) {
                        firings.push((now() + PRODUCER_LEASE_MS + 1, firing.clone()));
                    }
                } else if rng.chance(cfg.p_duplicate_firing) {
                    report.duplicate_firings += 1;
                    firings.push((now() + 1, firing.clone()));
                }
                for body in producer_queue.sent.borrow_mut().drain(..) {
                    if let Ok(job) = crate::wire::OptimizeJob::decode(&body) {
                        sent_jobs.insert(job.job_id.as_str().to_owned());
                    }
                    queue.push(Msg { body, deliveries: 0, visible_at: now(), sent_ms: now() });
                }
            }
            (_, Some(v)) => {
                clock.set(clock.get().max(v));
                crashing.deliver_stalled(now(), &mut report);
                let usage = Usage::new("optimizer", "queue");
                let (elite, metered_results) = (Metered::new(&watched, &usage), Metered::new(&results, &usage));
                let gate = SimBreakers(cfg.breakers.map(|_| Metered::new(&breakers, &usage)));
                let consumer = Consumer {
                    jobs: OptimizeJobs::with_breakers(&elite, &metered_results, &config, &gate),
                    ledger: &Metered::new(&crashing, &usage),
                    dead_letters: &Metered::new(&dead_letters, &usage),
                    metrics: &Metered::new(&metrics, &usage),
                    config: &config,
                    origin_queue: crate::names::OPTIMIZE_QUEUE,
                };
                deliver_batch(cfg, &mut rng, &mut queue, &mut dlq, &consumer, &crashing.crashed, &now, &mut report);
                account(cfg, OPTIMIZER, &usage, &mut report);
                for letter in dead_letters.letters.borrow_mut().drain(..) {
                    dlq.push(Msg { body: letter.encode(), deliveries: 0, visible_at: now(), sent_ms: now() });
                }
                consume_dead_letters(&mut dlq, &mut store, &replayed, &ledger, &results, &now, &mut report);
                if cfg.auto_replay {
                    let replay = AutoReplay { breakers: &breakers, since: &mut replays_since, replayed: &mut replayed };
                    replay.run(&mut store, &mut queue, now(), &mut report);
                }
                clock.set(clock.get() + 50);
            }
            (Some(_), None) => unreachable!("a firing with an empty queue is taken by the arm above"),
        }
    }
    if !queue.is_empty() || !dlq.is_empty() || !firings.is_empty() {
        report.violations.push(format!(
            "did not settle: {} messages, {} dead letters and {} firings left",
            queue.len(),
            dlq.len(),
            firings.len()
        ));
    }
    report.reworked_after_success = watched.reworked.get();
    report.calls_while_open = watched.calls_while_open.get();
    report.held_back = breakers.held.get();
    report.breaker_transitions = breakers
        .book
        .borrow()
        .transitions
        .iter()
        .rev()
        .map(|t| format!("{} {:?}->{:?} at {} ms: {}", t.role.as_str(), t.from, t.to, t.at_ms - start, t.reason))
        .collect();
    report.auto_replayed_succeeded =
        replayed.keys().filter(|id| ledger.job(id).is_some_and(|j| j.state == JobState::Succeeded)).count() as u64;
    report.elite_calls_per_period = watched.capacity.by_period();
    report.elite_capacity_per_period = watched.capacity.per_period();
    report.elite_calls = elite.calls_per_job.borrow().values().sum();
    report.ledger_requests = ledger.requests.get();

    report.analytics_points = metrics.finished.borrow().len() as u64;
    report.queue_refusals = producer_queue.refused.get();
    report.peak_send_rate_per_s = producer_queue.throttle.borrow().as_ref().map_or(0, |t| t.window.peak_per_s());
    let left = elite.standin.borrow().rules().rules;
    for ((kind, budget), rule) in budgets.into_iter().zip(left) {
        *report.elite_faults.entry(kind).or_default() += u64::from(budget - rule.times.unwrap_or(0));
    }
    check_invariants(&sweeps, &registry, &ledger, &results, &store, &sent_jobs, &mut report);
    report
}

/// Records one invocation's figures: the peak per kind, and each overrun as a violation (or,
/// for a pair [`SimConfig::tolerated`] names, in [`SimReport::tolerated`]).
fn account(cfg: &SimConfig, kind: &'static str, usage: &Usage, report: &mut SimReport) {
    let figures = usage.figures();
    let peak = report.usage.entry(kind.to_owned()).or_default();
    *peak = peak.max(figures);
    for overrun in figures.overruns(&cfg.limits) {
        let line = format!("{kind} invocation: {overrun}");
        if cfg.tolerated.contains(&(kind, overrun.figure)) {
            if report.tolerated.len() < 20 {
                report.tolerated.push(line);
            }
        } else {
            report.violations.push(line);
        }
    }
}

/// A fault's kind as the reports count it.
fn fault_kind(fault: &Fault) -> String {
    match fault {
        Fault::Status { code } => format!("status-{code}"),
        Fault::Hang { .. } => "hang".into(),
        Fault::Latency { .. } => "latency".into(),
        Fault::Garbage => "garbage".into(),
        Fault::Score { .. } => "score".into(),
    }
}

/// Delivers one batch of the visible messages to the consumer, as the queue would: past the
/// retry backstop to the DLQ, sometimes twice, all again after a crash, retries delayed.
#[allow(clippy::too_many_arguments)]
fn deliver_batch<K, L, D, M>(
    cfg: &SimConfig,
    rng: &mut Rng,
    queue: &mut SimQueue,
    dlq: &mut Vec<Msg>,
    consumer: &Consumer<'_, K, L, D, M>,
    crashed: &Cell<bool>,
    now: &dyn Fn() -> i64,
    report: &mut SimReport,
) where
    K: crate::pipeline::consumer::JobKind,
    L: Ledger,
    D: DeadLetterSink,
    M: Metrics,
{
    // `crashed`: the crash-injecting ledger's flag, which says whether this batch "crashed".
    let mut batch = queue.pop_ready(now(), cfg.batch_size);
    // The queue's own backstop: past max_retries a message goes to the DLQ undelivered.
    batch.retain(|m| {
        let keep = m.deliveries < cfg.max_deliveries;
        if !keep {
            report.backstop_dead += 1;
            dlq.push(Msg { body: m.body.clone(), deliveries: 0, visible_at: now(), sent_ms: now() });
        }
        keep
    });
    for m in &mut batch {
        m.deliveries += 1;
        report.deliveries += 1;
        if rng.chance(cfg.p_duplicate_delivery) {
            report.duplicate_deliveries += 1;
            queue.push(Msg { body: m.body.clone(), deliveries: 0, visible_at: now() + rng.below(2_000) as i64, sent_ms: m.sent_ms });
        }
    }
    if batch.is_empty() {
        return;
    }
    report.batches += 1;
    let deliveries: Vec<Delivery> = batch.iter().map(|m| Delivery { body: m.body.clone(), sent_ms: m.sent_ms }).collect();
    let actions = block_on(consumer.process_batch(&deliveries, now, rng));
    if crashed.replace(false) {
        // The consumer died: nothing it decided took effect; everything is redelivered.
        report.crashes += 1;
        for m in batch {
            queue.push(Msg { visible_at: now() + 1_000, ..m });
        }
        return;
    }
    for (m, action) in batch.into_iter().zip(actions) {
        if let Action::Retry { delay_s } = action {
            queue.push(Msg { visible_at: now() + i64::from(delay_s) * 1_000, ..m });
        }
    }
}

/// The breakers the simulated optimizer asks, metered like any port; none when the run has no
/// breakers (everything admitted, no request).
struct SimBreakers<'a>(Option<Metered<'a, MemoryBreakers>>);

impl crate::ports::Breakers for SimBreakers<'_> {
    async fn gate(&self, req: &crate::breaker::GateRequest) -> Result<crate::breaker::GateAnswer, JobError> {
        match &self.0 {
            Some(b) => b.gate(req).await,
            None => crate::ports::NoBreakers.gate(req).await,
        }
    }
    async fn report(&self, req: &crate::breaker::BreakerReport) -> Result<(), JobError> {
        match &self.0 {
            Some(b) => b.report(req).await,
            None => Ok(()),
        }
    }
}

/// The auto-replay as the dispatcher runs it (`breaker::replay`): the dead letters each healed
/// outage caused, planned by the ordinary replay path and sent again; a replayed entry leaves
/// the store (it is `replayed`) and comes back only if its job dies again.
struct AutoReplay<'a> {
    breakers: &'a MemoryBreakers,
    /// Closings up to this instant were handled.
    since: &'a mut i64,
    replayed: &'a mut BTreeMap<String, DeadLetterRecord>,
}

impl AutoReplay<'_> {
    fn run(self, store: &mut BTreeMap<String, DeadLetterRecord>, queue: &mut SimQueue, now_ms: i64, report: &mut SimReport) {
        let book = self.breakers.book.borrow();
        let outages = healed_since(&book.transitions, *self.since, book.policy.window_ms);
        *self.since = book.transitions.first().map_or(*self.since, |t| t.at_ms.max(*self.since));
        for outage in outages {
            let caused = store.values().filter(|r| outage.caused(r)).take(AUTO_REPLAY_LIMIT as usize);
            let entries: Vec<(String, String, String)> = caused.map(|r| (r.id.clone(), "dead".to_owned(), r.body.clone())).collect();
            let (planned, _) = plan_replay(&entries, Some(AUTO_REPLAY_RATE_PER_S), now_ms);
            for p in planned {
                if let Some(record) = store.remove(&p.id) {
                    self.replayed.insert(p.id.clone(), record);
                }
                report.auto_replayed += 1;
                queue.push(Msg { body: p.body, deliveries: 0, visible_at: now_ms + i64::from(p.delay_s) * 1_000, sent_ms: now_ms });
            }
        }
    }
}

/// Runs the dead-letters consumer over every visible DLQ message.
fn consume_dead_letters(
    dlq: &mut Vec<Msg>,
    store: &mut BTreeMap<String, DeadLetterRecord>,
    replayed: &BTreeMap<String, DeadLetterRecord>,
    ledger: &MemoryLedger,
    results: &MemoryResults,
    now: &dyn Fn() -> i64,
    report: &mut SimReport,
) {
    let (ready, later): (Vec<Msg>, Vec<Msg>) = std::mem::take(dlq).into_iter().partition(|m| m.visible_at <= now());
    *dlq = later;
    for m in ready {
        let action = block_on(settle_and_decide(&m.body, crate::names::OPTIMIZE_DLQ, crate::names::OPTIMIZE_QUEUE, ledger, results, now()));
        match action {
            // As the store's upsert: a late copy of a death a replay took back stays replayed.
            DeadLetterAction::Store(record) if replayed.get(&record.id).is_some_and(|r| record.attempts <= r.attempts) => {}
            DeadLetterAction::Store(record) => {
                store.insert(record.id.clone(), record);
            }
            DeadLetterAction::Drop { .. } => report.dead_letters_dropped += 1,
            DeadLetterAction::Retry { after_ms, .. } => dlq.push(Msg { visible_at: now() + after_ms.max(1_000), ..m }),
        }
    }
}

/// Every (sweep, active site) ends with exactly one of: its result object, a dead letter,
/// or a superseded record; the ledger's counts agree; nothing succeeded was worked again.
fn check_invariants(
    sweeps: &[Firing],
    registry: &MemoryRegistry,
    ledger: &MemoryLedger,
    results: &MemoryResults,
    store: &BTreeMap<String, DeadLetterRecord>,
    sent_jobs: &BTreeSet<String>,
    report: &mut SimReport,
) {
    let dead_jobs: BTreeSet<String> = store.values().filter_map(|r| r.job_id.clone()).collect();
    let objects = results.objects.borrow();
    let mut per_sweep: BTreeMap<String, u64> = BTreeMap::new();
    // Per site, the sweeps in a row (in scheduled order) that never sent its job.
    let mut skips: BTreeMap<String, u64> = BTreeMap::new();
    // Per site, whether each sweep (in scheduled order) gave it a result.
    let mut had: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    for firing in sweeps {
        let sweep_id = firing.sweep_id();
        let abandoned = ledger.progress(sweep_id.as_str()).is_some_and(|p| p.phase == RunPhase::Abandoned);
        report.abandoned_sweeps += u64::from(abandoned);
        report.by_shard_sweeps += u64::from(ledger.runs.borrow().runs.get(sweep_id.as_str()).is_some_and(|r| r.by_shard));
        for site in registry.active() {
            let job_id = JobId::new(&sweep_id, &site.customer_id);
            let skipped = skips.entry(site.customer_id.as_str().to_owned()).or_default();
            let had = had.entry(site.customer_id.as_str().to_owned()).or_default();
            if !sent_jobs.contains(job_id.as_str()) {
                had.push(false);
                *skipped += 1;
                report.max_consecutive_skips = report.max_consecutive_skips.max(*skipped);
                // Only an abandoned sweep may leave sites unsent: the next sweep covers them.
                if !abandoned {
                    report.violations.push(format!("{job_id}: never enqueued"));
                }
                continue;
            }
            *skipped = 0;
            report.jobs += 1;
            let key = optimization_key(&site.customer_id, firing.scheduled);
            let has_result = objects.get(&key).is_some_and(|o| o.job_id == job_id.as_str());
            had.push(has_result);
            let is_dead = dead_jobs.contains(job_id.as_str());
            let state = ledger.job(job_id.as_str()).map(|j| j.state);
            let superseded = state == Some(JobState::Superseded);
            report.results += u64::from(has_result);
            report.dead += u64::from(is_dead);
            report.superseded += u64::from(superseded);
            if has_result {
                *per_sweep.entry(sweep_id.as_str().to_owned()).or_default() += 1;
            }
            let ends = u8::from(has_result) + u8::from(is_dead) + u8::from(superseded);
            if ends != 1 {
                report.violations.push(format!("{job_id}: result={has_result} dead={is_dead} superseded={superseded} ledger={state:?}"));
            }
            let agrees = match state {
                Some(JobState::Succeeded) => has_result,
                Some(JobState::Dead) => is_dead,
                Some(JobState::Superseded) => true,
                other => {
                    report.violations.push(format!("{job_id}: ledger left it {other:?}"));
                    true
                }
            };
            if !agrees {
                report.violations.push(format!("{job_id}: ledger says {state:?}, result={has_result} dead={is_dead}"));
            }
        }
        match ledger.progress(sweep_id.as_str()) {
            None => report.violations.push(format!("{sweep_id}: unknown to the ledger")),
            Some(p) => {
                report.duplicates_absorbed += p.duplicates;
                let expected = if abandoned { p.expected } else { registry.active().len() as u64 };
                if !p.complete || p.expected != expected {
                    report.violations.push(format!("{sweep_id}: progress incomplete or wrong: {p:?}"));
                }
                let results_here = per_sweep.get(sweep_id.as_str()).copied().unwrap_or(0);
                if p.succeeded != results_here {
                    report.violations.push(format!("{sweep_id}: ledger succeeded {} but {results_here} results", p.succeeded));
                }
            }
        }
    }
    report.max_sweeps_without_result = longest_without_result(&had.into_values().collect::<Vec<_>>());
    if report.reworked_after_success > 0 {
        report.violations.push(format!("{} elite calls for jobs that had already succeeded", report.reworked_after_success));
    }
    check_rollups(ledger, report);
}

/// (runs, successes, transient failures, permanent failures) of one customer's day.
type Tally = (u64, u64, u64, u64);

/// The daily rollups count every optimization job that ended exactly once, whatever was
/// redelivered, duplicated or crashed: summed over every shard, successes equal the jobs the
/// ledger records as succeeded and runs equal succeeded + dead; per customer and day, every
/// count equals what the ledger's own job rows say.
fn check_rollups(ledger: &MemoryLedger, report: &mut SimReport) {
    let mut expected: BTreeMap<(String, String), Tally> = BTreeMap::new();
    let mut rolled: BTreeMap<(String, String), Tally> = BTreeMap::new();
    let (mut succeeded, mut dead) = (0, 0);
    for shard in ledger.shards.borrow().iter() {
        for job in shard.jobs.values().filter(|j| is_optimization(&j.run_id)) {
            let class = job.last_error.as_ref().map(|e| e.class);
            let tally: Tally = match (job.state, class) {
                (JobState::Succeeded, _) => (1, 1, 0, 0),
                (JobState::Dead, Some(ErrorClass::Transient)) => (1, 0, 1, 0),
                (JobState::Dead, _) => (1, 0, 0, 1),
                _ => continue,
            };
            succeeded += tally.1;
            dead += tally.2 + tally.3;
            let day = day_of(job.scheduled_ms).unwrap_or_default();
            let t = expected.entry((job.subject.clone(), day)).or_default();
            *t = (t.0 + tally.0, t.1 + tally.1, t.2 + tally.2, t.3 + tally.3);
        }
        for (key, r) in &shard.rollups {
            rolled.insert(key.clone(), (r.runs, r.successes, r.transient_failures, r.permanent_failures));
        }
    }
    let runs: u64 = rolled.values().map(|t| t.0).sum();
    let successes: u64 = rolled.values().map(|t| t.1).sum();
    report.rollup_runs = runs;
    if successes != succeeded || runs != succeeded + dead {
        report
            .violations
            .push(format!("rollups count {runs} runs and {successes} successes; the ledger has {succeeded} succeeded and {dead} dead"));
    }
    rolled.retain(|_, t| *t != (0, 0, 0, 0));
    for key in expected.keys().chain(rolled.keys()).collect::<BTreeSet<_>>() {
        let (want, got) = (expected.get(key).copied().unwrap_or_default(), rolled.get(key).copied().unwrap_or_default());
        if want != got {
            report.violations.push(format!("rollup of {} on {}: {got:?}, the ledger's jobs say {want:?}", key.0, key.1));
        }
    }
}
