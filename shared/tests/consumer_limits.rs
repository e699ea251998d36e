//! The optimizer's batch against the per-invocation limits, over the in-memory twins: an elite
//! twin that yields while a call is open makes concurrency observable, so these tests see how
//! many calls one invocation has in flight and how many it makes in total.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use code24_shared::backoff::{RetryPolicy, Rng};
use code24_shared::config::ConsumerConfig;
use code24_shared::elite::{EliteRequest, EliteResponse};
use code24_shared::error::JobError;
use code24_shared::ids::{from_epoch_ms, CustomerId, RunId};
use code24_shared::ledger::heads::{HeadRequest, HeadRow};
use code24_shared::ledger::{
    ClaimRequest, ClaimResponse, CompleteRequest, CompleteResponse, FanoutDone, OpenDecision, OpenRun, PageDone, SettleDecision,
    SettleRequest,
};
use code24_shared::limits;
use code24_shared::names::Environment;
use code24_shared::pipeline::budget::{jobs_per_invocation, service_binding_budget, DEFERRED_DELAY_S};
use code24_shared::pipeline::consumer::{Action, Consumer, Delivery};
use code24_shared::pipeline::optimize::{OptimizeJobs, SERVICE_BINDING_CALLS_PER_JOB};
use code24_shared::ports::{EliteClient, Ledger};
use code24_shared::schedule::Task;
use code24_shared::site::SiteUrl;
use code24_shared::testkit::ports::{MemoryDeadLetters, MemoryElite, MemoryLedger, MemoryMetrics, MemoryResults};
use code24_shared::wire::OptimizeJob;
use futures::executor::block_on;

const NOW_MS: i64 = 1_795_914_960_000;

/// Pending a few times, then ready: while a call "is open" other work may run.
struct Open(u32);

impl Future for Open {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The elite twin, counting calls in flight and in total.
#[derive(Default)]
struct CountingElite {
    inner: MemoryElite,
    open: Cell<u64>,
    peak: Cell<u64>,
    total: Cell<u64>,
}

impl EliteClient for CountingElite {
    async fn optimize(&self, request: &EliteRequest) -> Result<EliteResponse, JobError> {
        self.total.set(self.total.get() + 1);
        self.open.set(self.open.get() + 1);
        self.peak.set(self.peak.get().max(self.open.get()));
        Open(3).await;
        self.open.set(self.open.get() - 1);
        self.inner.optimize(request).await
    }
}

/// The ledger twin, counting its claim and complete requests in flight.
#[derive(Default)]
struct CountingLedger {
    inner: MemoryLedger,
    open: Cell<u64>,
    peak: Cell<u64>,
}

impl CountingLedger {
    async fn held<T>(&self, request: impl Future<Output = T>) -> T {
        self.open.set(self.open.get() + 1);
        self.peak.set(self.peak.get().max(self.open.get()));
        Open(2).await;
        let answer = request.await;
        self.open.set(self.open.get() - 1);
        answer
    }
}

impl Ledger for CountingLedger {
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
        self.held(self.inner.claim(shard, req)).await
    }
    async fn complete(&self, shard: u32, req: &CompleteRequest) -> Result<CompleteResponse, JobError> {
        self.held(self.inner.complete(shard, req)).await
    }
    async fn settle(&self, shard: u32, req: &SettleRequest) -> Result<SettleDecision, JobError> {
        self.inner.settle(shard, req).await
    }
    async fn head(&self, shard: u32, req: &HeadRequest) -> Result<HeadRow, JobError> {
        self.inner.head(shard, req).await
    }
}

fn bodies(n: usize) -> Vec<String> {
    let at: DateTime<Utc> = from_epoch_ms(NOW_MS - 60_000).unwrap();
    let run = RunId::new("local", Task::Optimize, at);
    (0..n)
        .map(|i| {
            let customer = CustomerId::parse(&format!("site-{i:03}")).unwrap();
            OptimizeJob::new(run.clone(), at, customer, SiteUrl::parse("https://example.com/").unwrap()).encode()
        })
        .collect()
}

/// One invocation over `n` jobs with `in_flight` connections allowed at once.
fn invocation(n: usize, in_flight: u32) -> (Vec<Action>, CountingElite, CountingLedger) {
    let (elite, ledger, results) = (CountingElite::default(), CountingLedger::default(), MemoryResults::default());
    let (dead_letters, metrics) = (MemoryDeadLetters::default(), MemoryMetrics::default());
    let config = ConsumerConfig {
        environment: Environment::Local,
        elite_timeout_ms: 5_000,
        max_attempts: 3,
        retry: RetryPolicy { base_s: 1, max_s: 30 },
        elite_calls_in_flight: in_flight,
    };
    let consumer = Consumer {
        jobs: OptimizeJobs::new(&elite, &results, &config),
        ledger: &ledger,
        dead_letters: &dead_letters,
        metrics: &metrics,
        config: &config,
        origin_queue: code24_shared::names::OPTIMIZE_QUEUE,
    };
    let deliveries: Vec<Delivery> = bodies(n).into_iter().map(|body| Delivery { body, sent_ms: NOW_MS - 1_000 }).collect();
    let actions = block_on(consumer.process_batch(&deliveries, &|| NOW_MS, &mut Rng::new(7)));
    (actions, elite, ledger)
}

#[test]
fn limits_a_batch_beyond_the_service_binding_budget_defers_the_rest_unclaimed() {
    let taken = jobs_per_invocation(SERVICE_BINDING_CALLS_PER_JOB) as usize;
    let (actions, elite, _) = invocation(20, 4);
    assert_eq!(&actions[..taken], vec![Action::Ack; taken].as_slice());
    assert_eq!(&actions[taken..], vec![Action::Retry { delay_s: DEFERRED_DELAY_S }; 20 - taken].as_slice());
    assert_eq!(elite.total.get(), u64::from(SERVICE_BINDING_CALLS_PER_JOB) * taken as u64);
    assert!(limits::within_headroom(elite.total.get(), limits::SERVICE_BINDING_CALLS), "{} calls", elite.total.get());
    assert!(elite.total.get() <= u64::from(service_binding_budget()));
    // A deferred job was never claimed: its later delivery is its first attempt.
    assert_eq!(elite.inner.calls_per_job.borrow().len(), taken);
}

#[test]
fn limits_elite_calls_in_flight_never_exceed_the_configured_bound() {
    // Four: one job's three calls and the next job's first share the slots, call by call.
    for (in_flight, expected_peak) in [(3, 3), (4, 4)] {
        let (actions, elite, _) = invocation(8, in_flight);
        assert!(actions.iter().all(|a| *a == Action::Ack), "{actions:?}");
        assert_eq!(elite.peak.get(), expected_peak, "ELITE_CALLS_IN_FLIGHT = {in_flight}");
        assert!(limits::within_headroom(elite.peak.get(), limits::CONNECTIONS));
        assert_eq!(elite.total.get(), 24);
    }
}

#[test]
fn limits_ledger_requests_of_a_batch_touching_every_shard_stay_within_the_bound() {
    // 40 jobs (only 8 taken) spread over the shards; the local stack's meter saw a batch of 8
    // open 7 claim requests at once before the per-shard requests were bounded.
    let touched: std::collections::BTreeSet<u32> = (0..8).map(|i| code24_shared::ledger::shard_of(format!("site-{i:03}"))).collect();
    assert!(touched.len() > 3, "the taken jobs touch more shards than the smaller bound: {touched:?}");
    for in_flight in [3, 4] {
        let (_, _, ledger) = invocation(40, in_flight);
        assert!(ledger.peak.get() >= 2, "the shards are asked concurrently");
        assert!(ledger.peak.get() <= u64::from(in_flight), "{} ledger requests at once, bound {in_flight}", ledger.peak.get());
    }
}
