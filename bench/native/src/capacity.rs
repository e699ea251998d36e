//! The capacity table's counts (`--capacity N`): each invocation kind run once through the
//! core, as the Workers run it, over the twins, every port call counted into that invocation's
//! own meter (`testkit::metered`, the same counting as the simulation's), at N sites. Nothing
//! here computes a figure: subrequests, service-binding calls, connections in flight, Analytics
//! Engine points and D1 queries are what the meter counted; the send rate is the queue twin's
//! busiest one-second window by the producer's (paced, simulated) clock; memory is the model of
//! `limits::memory` at N. One JSON line per (invocation, figure), each with its limit and
//! whether it is within the design's headroom (`limits::within_headroom`).
//!
//! The producer has one figure more, `fan_out_seconds`: how long its paced fan-out takes on
//! the simulated clock, against the optimize cron's period (a fan-out longer than the period
//! overlaps the next sweep, and a site is worked less often than promised). It is a promise of
//! the product, not a platform limit, and it is what a single queue's throughput bounds.
//! The producer's line is the dispatcher's scheduled invocation: the fan-out and the alert tick
//! after it, at its most (`alerts::cost::tick_calls`, not driven here: it runs over D1, R2 and
//! the webhook in the Worker). The producer's subrequests count against the dispatcher's own `[limits] subrequests`
//! (`config::DISPATCHER_SUBREQUESTS`, required by the configuration check), every other
//! Worker's against the platform's default.
//!
//! The ledger alarm is not driven here: its flush runs in the ledger Worker, outside the core.
//! Its counts come from the same constants the flush reads and are marked `"counted": false`.

use code24_shared::backoff::{RetryPolicy, Rng};
use code24_shared::breaker::BreakerPolicy;
use code24_shared::config::{ConsumerConfig, ProducerConfig, DISPATCHER_SUBREQUESTS};
use code24_shared::ids::{from_epoch_ms, CustomerId};
use code24_shared::ledger::rollups::{FLUSH_BATCH_ROWS, FLUSH_MAX_ROWS};
use code24_shared::ledger::{FanoutDone, OpenRun, PageDone};
use code24_shared::limits::memory::{peak, Invocation, RecordSizes};
use code24_shared::limits::usage::{Counted, Figure, Figures, InvocationLimits, Usage};
use code24_shared::limits::{within_headroom, HEADROOM_PERCENT, MEMORY_BYTES, QUEUE_SEND_RATE_PER_S};
use code24_shared::names::Environment;
use code24_shared::pipeline::budget::{connection_budget, jobs_per_invocation};
use code24_shared::pipeline::consumer::{Action, Consumer, Delivery};
use code24_shared::pipeline::optimize::OptimizeJobs;
use code24_shared::pipeline::optimize::SERVICE_BINDING_CALLS_PER_JOB;
use code24_shared::pipeline::producer::{Firing, Producer};
use code24_shared::pipeline::reports::ReportJobs;
use code24_shared::pipeline::reports::MAX_SERVICE_BINDING_CALLS_PER_JOB;
use code24_shared::ports::Ledger;
use code24_shared::reports::jobs::{monthly_run_id, ReportJob, ReportWork};
use code24_shared::reports::period::Month;
use code24_shared::schedule::{fires_at, schedule_of, Task, END_OF_MONTH, MONTHLY_ANALYTICS};
use code24_shared::site::{Site, SiteUrl};
use code24_shared::testkit::breakers::MemoryBreakers;
use code24_shared::testkit::metered::Metered;
use code24_shared::testkit::ports::{
    MemoryDeadLetters, MemoryElite, MemoryLedger, MemoryMetrics, MemoryQueue, MemoryRegistry, MemoryResults, SimClock, Throttle,
};
use code24_shared::testkit::reports::MemoryProbes;
use code24_shared::testkit::scale::{CountingObjects, GeneratedReports};
use futures::executor::block_on;
use serde::Serialize;

/// The simulated clock's start (2027-01-15T08:00:00Z, a Friday).
const START_MS: i64 = 1_800_000_000_000;
/// The month the report jobs report on.
const MONTH: Month = Month { year: 2026, month: 11 };
/// Messages per optimizer batch, as deployed: the most whose elite calls fit one invocation's
/// service-binding budget (`max_batch_size = 8`, checked by the configuration check).
const OPTIMIZER_BATCH: usize = jobs_per_invocation(SERVICE_BINDING_CALLS_PER_JOB) as usize;
/// Messages per reports batch, as deployed: sized for its costliest job, the health check
/// (`max_batch_size = 4`).
const REPORTS_BATCH: usize = jobs_per_invocation(MAX_SERVICE_BINDING_CALLS_PER_JOB) as usize;

/// One figure of one invocation kind at a site count.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Line {
    part: &'static str,
    pub(crate) sites: u64,
    pub(crate) invocation: &'static str,
    pub(crate) figure: &'static str,
    pub(crate) value: u64,
    pub(crate) limit: u64,
    /// Whether `value` is within [`HEADROOM_PERCENT`] of `limit` (not merely within the
    /// limit): the bar, every figure with at least 20 % to spare.
    pub(crate) ok: bool,
    /// The share of the limit `ok` allows, so a line read alone says what `ok` means.
    headroom_percent: u64,
    /// `false` where the figure comes from the code's constants rather than a counted run.
    counted: bool,
}

fn line(sites: u64, invocation: Invocation, figure: &'static str, value: u64, limit: u64, counted: bool) -> Line {
    Line {
        part: "capacity",
        sites,
        invocation: invocation.key(),
        figure,
        value,
        limit,
        ok: within_headroom(value, limit),
        headroom_percent: HEADROOM_PERCENT,
        counted,
    }
}

/// What one invocation counted, its queue's busiest second, and what went wrong.
struct Run {
    figures: Figures,
    send_rate: u64,
    /// The simulated seconds the invocation took (the producer's paced fan-out).
    seconds: u64,
    problems: Vec<String>,
}

/// Every figure of every invocation kind at `sites`, and the problems of the runs (a run that
/// did not do its work counts nothing worth reporting).
pub(crate) fn run(sites: u64) -> (Vec<Line>, Vec<String>) {
    let sizes = RecordSizes::measure();
    let limits = InvocationLimits::default();
    let clock = SimClock::at(START_MS);
    let ledger = MemoryLedger::default();
    let queue = MemoryQueue { throttle: std::cell::RefCell::new(Some(Throttle::platform(&clock))), ..MemoryQueue::default() };
    let runs = [
        (Invocation::Producer, producer(sites, &clock, &ledger, &queue)),
        (Invocation::OptimizerBatch, optimizer_batch(&clock, &ledger, &queue)),
        (Invocation::ReportsBatch, reports_batch(sites, &clock, &ledger)),
        (Invocation::Finalize, report_job(sites, &clock, &ledger, MONTHLY_ANALYTICS, ReportWork::MonthlyFinalize)),
        (Invocation::EndOfMonth, report_job(sites, &clock, &ledger, END_OF_MONTH, ReportWork::EndOfMonth)),
        (Invocation::LedgerAlarm, ledger_alarm()),
    ];
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for (kind, run) in runs {
        let counted = kind != Invocation::LedgerAlarm;
        let limits = if kind == Invocation::Producer { InvocationLimits::configured(Some(DISPATCHER_SUBREQUESTS)) } else { limits };
        for figure in [Figure::Subrequests, Figure::ServiceBindingCalls, Figure::PeakConnections, Figure::AePoints, Figure::D1Queries] {
            let limit = limits.of(figure).unwrap_or(u64::MAX);
            lines.push(line(sites, kind, figure.key(), run.figures.get(figure), limit, counted));
        }
        lines.push(line(sites, kind, "peak_queue_send_rate", run.send_rate, QUEUE_SEND_RATE_PER_S, counted));
        if kind == Invocation::Producer {
            lines.push(line(sites, kind, "fan_out_seconds", run.seconds, sweep_period_s(), counted));
        }
        lines.push(line(sites, kind, "peak_memory", peak(kind, sites, &sizes).total(), MEMORY_BYTES, false));
        problems.extend(run.problems.into_iter().map(|p| format!("{} at {sites} sites: {p}", kind.key())));
    }
    (lines, problems)
}

/// One cron firing's fan-out of `sites` sites, paced as deployed, into a queue that refuses
/// what the platform would.
fn producer(sites: u64, clock: &SimClock, ledger: &MemoryLedger, queue: &MemoryQueue) -> Run {
    let registry = MemoryRegistry::default();
    for i in 0..sites {
        let customer_id = CustomerId::parse(&format!("site-{i:08}")).expect("valid id");
        let url = SiteUrl::parse(&format!("https://site-{i:08}.capacity.example")).expect("valid url");
        registry.add(Site { customer_id, url }, true);
    }
    let usage = Usage::new("dispatcher", "scheduled");
    let config = ProducerConfig::default();
    let producer = Producer {
        registry: &Metered::new(&registry, &usage),
        queue: &Metered::new(queue, &usage),
        ledger: &Metered::new(ledger, &usage),
        clock,
        config: &config,
    };
    let firing = Firing {
        environment: "production".into(),
        task: Task::Optimize,
        scheduled: from_epoch_ms(clock.get()).expect("in range"),
        owner: "capacity".into(),
    };
    let mut problems = Vec::new();
    let started_ms = clock.get();
    match block_on(producer.fan_out(&firing)) {
        Ok(report) if report.sent == sites => {}
        other => problems.push(format!("the fan-out did not send every site: {other:?}")),
    }
    let send_rate = queue.throttle.borrow().as_ref().map_or(0, |t| t.window.peak_per_s());
    // The alert tick runs in the same invocation once the fan-out is done
    // (producer/src/alerts.rs): its calls at their most, from the core's count of them.
    for call in code24_shared::alerts::cost::tick_calls() {
        usage.call(call);
    }
    Run { figures: usage.figures(), send_rate, seconds: ((clock.get() - started_ms) as u64).div_ceil(1_000), problems }
}

/// Seconds between two firings of the optimize cron, as the schedule table has it.
fn sweep_period_s() -> u64 {
    let cron = schedule_of(Task::Optimize).cron;
    let fires = |minutes: i64| {
        let at = from_epoch_ms(START_MS + minutes * 60_000).expect("in range");
        fires_at(cron, at).expect("the schedule's cron parses")
    };
    let first = (0..1_440).find(|m| fires(*m)).expect("fires within a day");
    let next = (first + 1..first + 1_441).find(|m| fires(*m)).expect("fires again within a day");
    ((next - first) * 60) as u64
}

/// One optimizer batch of the sweep's first messages.
fn optimizer_batch(clock: &SimClock, ledger: &MemoryLedger, queue: &MemoryQueue) -> Run {
    let usage = Usage::new("optimizer", "queue");
    let (elite, results, dead, metrics) =
        (MemoryElite::default(), MemoryResults::default(), MemoryDeadLetters::default(), MemoryMetrics::default());
    let (elite, results) = (Metered::new(&elite, &usage), Metered::new(&results, &usage));
    // The breakers as deployed: the gate before the claims and the report after the verdicts,
    // each a call to the ledger's `breakers` instance, counted like the other ledger calls.
    let breakers = MemoryBreakers::new(BreakerPolicy::DEFAULT, clock.get());
    let breakers = Metered::new(&breakers, &usage);
    let config = consumer_config();
    let consumer = Consumer {
        jobs: OptimizeJobs::with_breakers(&elite, &results, &config, &breakers),
        ledger: &Metered::new(ledger, &usage),
        dead_letters: &Metered::new(&dead, &usage),
        metrics: &Metered::new(&metrics, &usage),
        config: &config,
        origin_queue: code24_shared::names::OPTIMIZE_QUEUE,
    };
    let deliveries = deliveries(queue.sent.borrow().iter().take(OPTIMIZER_BATCH).cloned().collect(), clock);
    let actions = block_on(consumer.process_batch(&deliveries, &|| clock.get(), &mut Rng::new(7)));
    settled(&deliveries, &actions, &usage)
}

/// One reports batch of monthly-analytics customer jobs.
fn reports_batch(sites: u64, clock: &SimClock, ledger: &MemoryLedger) -> Run {
    let run_id = monthly_run_id("production", MONTHLY_ANALYTICS, MONTH);
    open(ledger, &run_id, MONTHLY_ANALYTICS, sites, clock);
    let bodies = (0..sites.min(REPORTS_BATCH as u64))
        .map(|i| {
            let customer = CustomerId::parse(&GeneratedReports::customer(i)).expect("valid id");
            ReportJob::monthly_customer(&run_id, MONTH, clock.get(), customer).encode()
        })
        .collect();
    let store = GeneratedReports::new(sites);
    let (results, queue, probes) = (MemoryResults::default(), MemoryQueue::default(), MemoryProbes::default());
    reports_consumer(&store, &results, &queue, &probes, ledger, clock, bodies)
}

/// One job over every customer (the finalize or the end-of-month report) of `sites` customers.
fn report_job(sites: u64, clock: &SimClock, ledger: &MemoryLedger, task: &str, work: ReportWork) -> Run {
    let run_id = monthly_run_id("production", task, MONTH);
    let job = ReportJob::single(&run_id, Some(MONTH), clock.get(), work);
    open(ledger, &run_id, task, 1, clock);
    let store = GeneratedReports::new(sites);
    let (results, queue, probes) = (CountingObjects::default(), MemoryQueue::default(), MemoryProbes::default());
    let mut run = reports_consumer(&store, &results, &queue, &probes, ledger, clock, vec![job.encode()]);
    if results.puts.get() == 0 {
        run.problems.push("no report was written".into());
    }
    run
}

#[allow(clippy::too_many_arguments)]
fn reports_consumer<R: code24_shared::ports::ResultStore + code24_shared::ports::PartUploads + code24_shared::ports::ObjectReader>(
    store: &GeneratedReports,
    results: &R,
    queue: &MemoryQueue,
    probes: &MemoryProbes,
    ledger: &MemoryLedger,
    clock: &SimClock,
    bodies: Vec<String>,
) -> Run {
    let usage = Usage::new("reports", "queue");
    let (dead, metrics) = (MemoryDeadLetters::default(), MemoryMetrics::default());
    let (store, results, queue) = (Metered::new(store, &usage), Metered::new(results, &usage), Metered::new(queue, &usage));
    let finalizer = Metered::new(ledger, &usage);
    let metrics = Metered::new(&metrics, &usage);
    let consumer = Consumer {
        jobs: ReportJobs { store: &store, results: &results, queue: &queue, probes, finalizer: &finalizer, metrics: &metrics },
        ledger: &Metered::new(ledger, &usage),
        dead_letters: &Metered::new(&dead, &usage),
        metrics: &metrics,
        config: &consumer_config(),
        origin_queue: code24_shared::names::REPORTS_QUEUE,
    };
    let deliveries = deliveries(bodies, clock);
    let actions = block_on(consumer.process_batch(&deliveries, &|| clock.get(), &mut Rng::new(7)));
    settled(&deliveries, &actions, &usage)
}

fn deliveries(bodies: Vec<String>, clock: &SimClock) -> Vec<Delivery> {
    bodies.into_iter().map(|body| Delivery { body, sent_ms: clock.get() }).collect()
}

/// The figures of a delivered batch, and a problem unless every message was acked.
fn settled(deliveries: &[Delivery], actions: &[Action], usage: &Usage) -> Run {
    let mut problems = Vec::new();
    let not_acked = actions.iter().filter(|a| !matches!(a, Action::Ack)).count();
    if deliveries.is_empty() || not_acked > 0 {
        problems.push(format!("{not_acked} of {} messages not acked: {:?}", deliveries.len(), actions.first()));
    }
    Run { figures: usage.figures(), send_rate: 0, seconds: 0, problems }
}

/// Opens a report run of `jobs` jobs in the ledger, as the dispatcher does (the finalize job
/// belongs to its monthly run, already open).
fn open(ledger: &MemoryLedger, run_id: &str, task: &str, jobs: u64, clock: &SimClock) {
    if ledger.progress(run_id).is_some() {
        return;
    }
    let (owner, now_ms, lease_ms) = ("capacity".to_owned(), clock.get(), 60_000);
    let open = OpenRun {
        run_id: run_id.into(),
        owner: owner.clone(),
        task: task.into(),
        scheduled_ms: now_ms,
        expected: jobs,
        now_ms,
        lease_ms,
        work_fronts: Vec::new(),
        unread_shards: 0,
    };
    block_on(ledger.open_run(&open)).expect("the ledger twin opens the run");
    let page = PageDone { run_id: run_id.into(), owner: owner.clone(), cursor: "~".into(), added: jobs, now_ms, lease_ms };
    block_on(ledger.record_page(&page)).expect("the ledger twin records the page");
    block_on(ledger.finish_fanout(&FanoutDone { run_id: run_id.into(), owner, now_ms })).expect("the ledger twin finishes");
}

/// A ledger shard's alarm at its largest: one read of the dirty rows (local SQLite, no
/// subrequest), then one D1 batch of [`FLUSH_BATCH_ROWS`] upserts at a time, as
/// `ledger/src/flush.rs` sends them.
fn ledger_alarm() -> Run {
    let usage = Usage::new("ledger", "alarm");
    for batch in (0..FLUSH_MAX_ROWS).collect::<Vec<_>>().chunks(FLUSH_BATCH_ROWS) {
        let _connection = usage.start(Counted::D1Batch { statements: batch.len() as u64 });
    }
    Run { figures: usage.figures(), send_rate: 0, seconds: 0, problems: Vec::new() }
}

fn consumer_config() -> ConsumerConfig {
    ConsumerConfig {
        environment: Environment::Production,
        elite_timeout_ms: 5_000,
        max_attempts: 4,
        retry: RetryPolicy { base_s: 1, max_s: 30 },
        // As deployed: the default, the connections an invocation may hold with the headroom.
        elite_calls_in_flight: connection_budget(),
    }
}
