//! `code24-bench-native`: the native-simulation figure of `cargo xtask bench`, and the source
//! of its operation counts.
//!
//! For each `--sites N` it builds a registry of N active sites, then runs one fault-free sweep
//! through the core exactly as the Workers drive it: `fan_out` (count, keyset pages, 100-message
//! batches, one cursor record per page) into a queue, then the consumer's `process_batch` over
//! batches of [`BATCH`] messages (one claim and one complete per shard touched, three elite
//! calls and one R2 put per job) against the in-memory twins, until the queue is empty. It then
//! checks that the ledger reports the sweep complete with N successes and that N result keys
//! were written, and prints one JSON line with the wall time and every count. The counts come
//! from [`counting`]: wrappers around the in-memory twins that count every port call.
//!
//! With `--capacity N` it prints the capacity table's lines instead ([`capacity`]): each
//! invocation kind run once at N sites with its own per-invocation meter.
//!
//! Built and run by the bench with `--release` (the workspace's size-optimised profile, with
//! `opt-level` raised to 3 on the command line: this binary is never shipped).

mod capacity;
mod counting;

use std::collections::VecDeque;
use std::time::Instant;

use code24_shared::backoff::{RetryPolicy, Rng};
use code24_shared::config::{ConsumerConfig, ProducerConfig};
use code24_shared::ids::{from_epoch_ms, CustomerId};
use code24_shared::names::Environment;
use code24_shared::pipeline::budget::jobs_per_invocation;
use code24_shared::pipeline::consumer::{Action, Consumer, Delivery};
use code24_shared::pipeline::optimize::OptimizeJobs;
use code24_shared::pipeline::optimize::SERVICE_BINDING_CALLS_PER_JOB;
use code24_shared::pipeline::producer::{Firing, Producer};
use code24_shared::schedule::Task;
use code24_shared::site::{Site, SiteUrl};
use code24_shared::testkit::ports::{MemoryDeadLetters, SimClock};
use counting::{CountingElite, CountingLedger, CountingMetrics, CountingQueue, CountingRegistry, CountingResults};
use futures::executor::block_on;
use serde::Serialize;

/// Messages per consumer batch, as deployed (`max_batch_size = 8`: the most optimization jobs
/// one invocation's service-binding budget allows).
const BATCH: usize = jobs_per_invocation(SERVICE_BINDING_CALLS_PER_JOB) as usize;
/// The simulated clock's start; it advances 1 ms per consumer batch.
const START_MS: i64 = 1_800_000_000_000;

/// One run's figures.
#[derive(Debug, Serialize)]
struct Report {
    bench: &'static str,
    sites: usize,
    /// Building the registry of N sites (not part of the sweep).
    setup_ms: u128,
    fanout_ms: u128,
    consume_ms: u128,
    /// Fan-out plus consumption: the figure against the target.
    sweep_ms: u128,
    sites_per_s: u64,
    complete: bool,
    succeeded: u64,
    d1_queries: u64,
    d1_rows_read: u64,
    queue_send_batch_calls: u64,
    queue_messages_sent: u64,
    consumer_batches: u64,
    ledger_requests_producer: u64,
    ledger_requests_consumer: u64,
    /// Consumer-batch ledger requests divided by the shards each batch touched (target ≤ 2).
    ledger_requests_per_shard_touched_max: f64,
    ledger_requests_per_batch_mean: f64,
    shards_touched_per_batch_mean: f64,
    /// Rows the job shards' transactions wrote (job, site, counter and rollup rows).
    ledger_rows_written: u64,
    /// Rows the coordinator wrote (one sweep-row upsert per producer request).
    ledger_sweep_rows_written: u64,
    /// Rollup rows dirtied, each copied to D1 by a flush: D1 rows written, at most.
    d1_rows_written_max: u64,
    elite_calls: u64,
    r2_puts: u64,
    r2_bytes: u64,
    /// R2 reads: the platform context, once per consumer batch (class B, not priced: 1 % of
    /// the puts at 100 messages a batch).
    r2_gets: u64,
    violations: Vec<String>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    const USAGE: &str = "usage: code24-bench-native [--sites N ...] [--capacity N ...]";
    let (mut sizes, mut capacities) = (Vec::new(), Vec::new());
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let number = |n: &str| n.parse::<usize>().unwrap_or_else(|_| fail(&format!("{arg}: not a number: {n}")));
        match (arg.as_str(), it.clone().next()) {
            ("--sites", Some(n)) => sizes.push(number(n)),
            ("--capacity", Some(n)) => capacities.push(number(n)),
            _ => fail(&format!("unexpected argument {arg:?}; {USAGE}")),
        }
        it.next();
    }
    if sizes.is_empty() && capacities.is_empty() {
        fail(USAGE);
    }
    let mut ok = true;
    for sites in capacities {
        let (lines, problems) = capacity::run(sites as u64);
        for line in lines {
            println!("{}", serde_json::to_string(&line).expect("serializable"));
        }
        for problem in &problems {
            eprintln!("code24-bench-native: capacity: {problem}");
        }
        ok &= problems.is_empty();
    }
    for sites in sizes {
        let report = run(sites);
        ok &= report.violations.is_empty();
        println!("{}", serde_json::to_string(&report).expect("serializable"));
    }
    if !ok {
        std::process::exit(1);
    }
}

fn fail(message: &str) -> ! {
    eprintln!("code24-bench-native: {message}");
    std::process::exit(2)
}

fn run(sites: usize) -> Report {
    let started = Instant::now();
    let registry = CountingRegistry::default();
    for i in 0..sites {
        let customer_id = CustomerId::parse(&format!("bench-{i:07}")).expect("valid id");
        let url = SiteUrl::parse(&format!("https://site-{i:07}.bench.example")).expect("valid url");
        registry.inner.add(Site { customer_id, url }, true);
    }
    let setup = started.elapsed();

    let clock = SimClock::at(START_MS);
    let now = || clock.get();
    let ledger = CountingLedger::default();
    let queue = CountingQueue::default();
    let firing = Firing {
        environment: "local".into(),
        task: Task::Optimize,
        scheduled: from_epoch_ms(START_MS).expect("in range"),
        owner: "bench".into(),
    };
    let started = Instant::now();
    let config = ProducerConfig::default();
    let producer = Producer { registry: &registry, queue: &queue, ledger: &ledger, clock: &clock, config: &config };
    let fanout = block_on(producer.fan_out(&firing));
    let fanout_ms = started.elapsed().as_millis();
    let mut violations = Vec::new();
    if let Err(e) = &fanout {
        violations.push(format!("fan-out failed: {e}"));
    }

    let elite = CountingElite::default();
    let results = CountingResults::default();
    let dead_letters = MemoryDeadLetters::default();
    let metrics = CountingMetrics::default();
    let config = ConsumerConfig {
        environment: Environment::Local,
        elite_timeout_ms: 5_000,
        max_attempts: 4,
        retry: RetryPolicy { base_s: 1, max_s: 30 },
        elite_calls_in_flight: code24_shared::pipeline::budget::connection_budget(),
    };
    let consumer = Consumer {
        jobs: OptimizeJobs::new(&elite, &results, &config),
        ledger: &ledger,
        dead_letters: &dead_letters,
        metrics: &metrics,
        config: &config,
        origin_queue: code24_shared::names::OPTIMIZE_QUEUE,
    };
    let sent: Vec<String> = std::mem::take(&mut *queue.inner.sent.borrow_mut());
    let messages_sent = sent.len() as u64;
    let mut pending: VecDeque<Delivery> = sent.into_iter().map(|body| Delivery { body, sent_ms: START_MS }).collect();
    let mut rng = Rng::new(7);
    let (mut batches, mut per_shard_max, mut shards_sum) = (0u64, 0f64, 0u64);
    let mut not_acked = 0u64;
    let started = Instant::now();
    while !pending.is_empty() {
        let take = pending.len().min(BATCH);
        let batch: Vec<Delivery> = pending.drain(..take).collect();
        clock.set(clock.get() + 1);
        ledger.batch_shards.borrow_mut().clear();
        let before = ledger.consumer_requests.get();
        let actions = block_on(consumer.process_batch(&batch, &now, &mut rng));
        let requests = ledger.consumer_requests.get() - before;
        let shards = ledger.batch_shards.borrow().len() as u64;
        batches += 1;
        shards_sum += shards;
        per_shard_max = per_shard_max.max(requests as f64 / shards.max(1) as f64);
        not_acked += actions.iter().filter(|a| !matches!(a, Action::Ack)).count() as u64;
    }
    let consume_ms = started.elapsed().as_millis();
    if not_acked > 0 {
        violations.push(format!("{not_acked} messages were not acked on their first delivery"));
    }

    let sweep_id = firing.sweep_id();
    let progress = ledger.progress(sweep_id.as_str());
    let (complete, succeeded) = progress.as_ref().map_or((false, 0), |p| (p.complete, p.succeeded));
    if !complete || succeeded != sites as u64 {
        violations.push(format!("the ledger reports {progress:?}, expected {sites} succeeded and complete"));
    }
    if results.keys.borrow().len() != sites {
        violations.push(format!("{} result keys for {sites} sites", results.keys.borrow().len()));
    }
    let elite_calls = elite.calls.get();
    if metrics.finished.get() != sites as u64 {
        violations.push(format!("{} finished jobs reported to analytics for {sites} sites", metrics.finished.get()));
    }
    let sweep_ms = fanout_ms + consume_ms;
    let consumer_requests = ledger.consumer_requests.get();
    let (ledger_rows_written, d1_rows_written_max) = {
        let shards = ledger.shards.borrow();
        (shards.iter().map(|s| s.rows_written).sum(), shards.iter().map(|s| s.rollups_written).sum())
    };
    Report {
        bench: "native",
        sites,
        setup_ms: setup.as_millis(),
        fanout_ms,
        consume_ms,
        sweep_ms,
        sites_per_s: (sites as u128 * 1000 / sweep_ms.max(1)) as u64,
        complete,
        succeeded,
        d1_queries: registry.queries.get(),
        d1_rows_read: registry.rows_read.get(),
        queue_send_batch_calls: queue.calls.get(),
        queue_messages_sent: messages_sent,
        consumer_batches: batches,
        ledger_requests_producer: ledger.producer_requests.get(),
        ledger_requests_consumer: consumer_requests,
        ledger_requests_per_shard_touched_max: per_shard_max,
        ledger_requests_per_batch_mean: consumer_requests as f64 / batches.max(1) as f64,
        shards_touched_per_batch_mean: shards_sum as f64 / batches.max(1) as f64,
        ledger_rows_written,
        ledger_sweep_rows_written: ledger.sweep_rows_written.get(),
        d1_rows_written_max,
        elite_calls,
        r2_puts: results.puts.get(),
        r2_bytes: results.bytes.get(),
        r2_gets: results.gets.get(),
        violations,
    }
}
