//! One world of twins for the consumers' tests: every port a report or optimization batch
//! touches, a settable clock and a local consumer's settings, with the few moves those tests
//! share: deliver a batch through a job kind ([`World::deliver`]) or the reports consumer
//! ([`World::deliver_reports`]), open a run as the dispatcher opens it ([`World::open_run`]),
//! read an object back.

use std::cell::Cell;

use futures::executor::block_on;

use crate::backoff::{RetryPolicy, Rng};
use crate::config::ConsumerConfig;
use crate::ledger::{FanoutDone, OpenRun, PageDone};
use crate::names::Environment;
use crate::pipeline::consumer::{Action, Consumer, Delivery, JobKind};
use crate::pipeline::reports::ReportJobs;
use crate::ports::Ledger;
use crate::reports::jobs::ReportJob;
use crate::testkit::ports::{MemoryDeadLetters, MemoryElite, MemoryLedger, MemoryMetrics, MemoryQueue, MemoryResults};
use crate::testkit::reports::{MemoryProbes, MemoryReportStore};

/// The settings of a local consumer: 5 s elite timeout, 3 attempts, retries after 1 to 30 s,
/// the whole connection budget.
pub fn local_consumer_config() -> ConsumerConfig {
    ConsumerConfig {
        environment: Environment::Local,
        elite_timeout_ms: 5_000,
        max_attempts: 3,
        retry: RetryPolicy { base_s: 1, max_s: 30 },
        elite_calls_in_flight: crate::pipeline::budget::connection_budget(),
    }
}

/// The reports consumer's job kind over a world's twins.
pub type WorldReportJobs<'w> = ReportJobs<'w, MemoryReportStore, MemoryResults, MemoryQueue, MemoryProbes, MemoryLedger, MemoryMetrics>;

/// Every twin, a clock, and the settings of a local consumer.
pub struct World {
    pub ledger: MemoryLedger,
    pub store: MemoryReportStore,
    pub results: MemoryResults,
    pub queue: MemoryQueue,
    pub probes: MemoryProbes,
    pub dead: MemoryDeadLetters,
    pub metrics: MemoryMetrics,
    pub elite: MemoryElite,
    pub config: ConsumerConfig,
    pub clock: Cell<i64>,
}

impl World {
    /// Fresh twins, the clock at `now_ms`.
    pub fn at(now_ms: i64) -> Self {
        Self {
            ledger: MemoryLedger::default(),
            store: MemoryReportStore::default(),
            results: MemoryResults::default(),
            queue: MemoryQueue::default(),
            probes: MemoryProbes::default(),
            dead: MemoryDeadLetters::default(),
            metrics: MemoryMetrics::default(),
            elite: MemoryElite::default(),
            config: local_consumer_config(),
            clock: Cell::new(now_ms),
        }
    }

    /// The report job kind over these twins (the ledger twin finalizes runs).
    pub fn report_jobs(&self) -> WorldReportJobs<'_> {
        ReportJobs {
            store: &self.store,
            results: &self.results,
            queue: &self.queue,
            probes: &self.probes,
            finalizer: &self.ledger,
            metrics: &self.metrics,
        }
    }

    /// Delivers one batch of `bodies` to `jobs` from `origin_queue` (each body sent a second
    /// ago), then lets a second pass.
    pub fn deliver<K: JobKind>(&self, jobs: K, bodies: &[impl AsRef<str>], origin_queue: &str) -> Vec<Action> {
        let consumer =
            Consumer { jobs, ledger: &self.ledger, dead_letters: &self.dead, metrics: &self.metrics, config: &self.config, origin_queue };
        let deliveries: Vec<Delivery> =
            bodies.iter().map(|b| Delivery { body: b.as_ref().to_owned(), sent_ms: self.clock.get() - 1_000 }).collect();
        let now = || self.clock.get();
        let actions = block_on(consumer.process_batch(&deliveries, &now, &mut Rng::new(7)));
        self.advance(1_000);
        actions
    }

    /// [`Self::deliver`] to the reports consumer, from the reports queue.
    pub fn deliver_reports(&self, bodies: &[&str]) -> Vec<Action> {
        self.deliver(self.report_jobs(), bodies, crate::names::REPORTS_QUEUE)
    }

    pub fn advance(&self, ms: i64) {
        self.clock.set(self.clock.get() + ms);
    }

    /// Opens run `run_id` of `task` scheduled at `scheduled_ms` and records its fan-out of
    /// `jobs` messages in one page, as the dispatcher does.
    pub fn open_run(&self, run_id: &str, task: &str, scheduled_ms: i64, jobs: u64) {
        let now_ms = self.clock.get();
        let owner = "producer".to_owned();
        let open = OpenRun {
            run_id: run_id.into(),
            owner: owner.clone(),
            task: task.into(),
            scheduled_ms,
            expected: jobs,
            now_ms,
            lease_ms: 60_000,
            work_fronts: Vec::new(),
            unread_shards: 0,
        };
        block_on(self.ledger.open_run(&open)).unwrap();
        let page = PageDone { run_id: run_id.into(), owner: owner.clone(), cursor: "zzz".into(), added: jobs, now_ms, lease_ms: 60_000 };
        block_on(self.ledger.record_page(&page)).unwrap();
        block_on(self.ledger.finish_fanout(&FanoutDone { run_id: run_id.into(), owner, now_ms })).unwrap();
    }

    /// The JSON object R2 holds at `key`, decoded; panics naming the keys it has when absent.
    pub fn object<T: serde::de::DeserializeOwned>(&self, key: &str) -> T {
        let objects = self.results.objects.borrow();
        let object = objects.get(key).unwrap_or_else(|| panic!("no object {key}; have {:?}", objects.keys().collect::<Vec<_>>()));
        serde_json::from_slice(&object.body).unwrap()
    }

    /// The report jobs sent to the reports queue.
    pub fn enqueued(&self) -> Vec<ReportJob> {
        self.queue.sent.borrow().iter().map(|b| ReportJob::decode(b).unwrap()).collect()
    }
}
