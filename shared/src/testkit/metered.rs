//! Any port, counted against one invocation's [`Usage`]: [`Metered`] wraps a twin (or any
//! implementation) and counts each call as the Workers adapter in `code24-runtime` counts the
//! binding call it makes: the registry and the report store are D1 queries, the queues are
//! sends, the ledger and R2 are subrequests, the elite workers are service-binding calls, and
//! a finished job is an Analytics Engine point.
//!
//! Each call holds its connection across one yield to the executor before it runs, so calls
//! a driver starts together are all in flight at once, as on the platform, where none answers
//! instantly: the peak of connections the simulation measures is the driver's real
//! concurrency, not an artefact of twins that answer at once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::datapoints::DataPoint;
use crate::elite::{EliteRequest, EliteResponse};
use crate::error::JobError;
use crate::ledger::heads::{HeadRequest, HeadRow};
use crate::ledger::{
    ClaimRequest, ClaimResponse, CompleteRequest, CompleteResponse, FanoutDone, FinalizeDecision, OpenDecision, OpenRun, PageDone,
    SettleDecision, SettleRequest,
};
use crate::limits::usage::{Counted, Usage};
use crate::ports::{
    DeadLetterSink, EliteClient, JobFinished, JobQueue, Ledger, Metrics, ObjectReader, PartUploads, ReportStore, ResultStore, RunFinalizer,
    SitePage, SiteRegistry,
};
use crate::reports::analytics::{CustomerMonthly, DailyRollup};
use crate::reports::pages::{BillingPage, RollupPage, SectionPage};
use crate::reports::period::Month;
use crate::reports::revenue::BillingEvent;
use crate::site::Plan;
use crate::wire::DeadLetter;

/// `inner`, with every call counted into `usage`.
#[derive(Debug, Clone, Copy)]
pub struct Metered<'a, P> {
    pub inner: &'a P,
    pub usage: &'a Usage,
}

impl<'a, P> Metered<'a, P> {
    pub fn new(inner: &'a P, usage: &'a Usage) -> Self {
        Self { inner, usage }
    }

    /// Counts `counted`, holds a connection across one yield, then runs `call`.
    async fn io<T>(&self, counted: Counted, call: impl Future<Output = T>) -> T {
        let _connection = self.usage.start(counted);
        YieldOnce(false).await;
        call.await
    }
}

/// Pending once, then ready: lets every other future started alongside run up to its own call.
pub(crate) struct YieldOnce(pub(crate) bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<P: SiteRegistry> SiteRegistry for Metered<'_, P> {
    async fn count_active(&self) -> Result<u64, JobError> {
        self.io(Counted::D1Query, self.inner.count_active()).await
    }
    async fn active_page(&self, after: Option<&str>, limit: u32) -> Result<SitePage, JobError> {
        self.io(Counted::D1Query, self.inner.active_page(after, limit)).await
    }
}

impl<P: JobQueue> JobQueue for Metered<'_, P> {
    async fn send_batch(&self, bodies: &[String]) -> Result<(), JobError> {
        self.io(Counted::QueueSend { messages: bodies.len() as u64 }, self.inner.send_batch(bodies)).await
    }
}

impl<P: Ledger> Ledger for Metered<'_, P> {
    async fn open_run(&self, req: &OpenRun) -> Result<OpenDecision, JobError> {
        self.io(Counted::Subrequest, self.inner.open_run(req)).await
    }
    async fn record_page(&self, req: &PageDone) -> Result<(), JobError> {
        self.io(Counted::Subrequest, self.inner.record_page(req)).await
    }
    async fn finish_fanout(&self, req: &FanoutDone) -> Result<(), JobError> {
        self.io(Counted::Subrequest, self.inner.finish_fanout(req)).await
    }
    async fn claim(&self, shard: u32, req: &ClaimRequest) -> Result<ClaimResponse, JobError> {
        self.io(Counted::Subrequest, self.inner.claim(shard, req)).await
    }
    async fn complete(&self, shard: u32, req: &CompleteRequest) -> Result<CompleteResponse, JobError> {
        self.io(Counted::Subrequest, self.inner.complete(shard, req)).await
    }
    async fn settle(&self, shard: u32, req: &SettleRequest) -> Result<SettleDecision, JobError> {
        self.io(Counted::Subrequest, self.inner.settle(shard, req)).await
    }
    async fn head(&self, shard: u32, req: &HeadRequest) -> Result<HeadRow, JobError> {
        self.io(Counted::Subrequest, self.inner.head(shard, req)).await
    }
    fn shard_maps(&self) -> &[crate::ledger::shard_map::ShardMap] {
        self.inner.shard_maps()
    }
}

impl<P: crate::ports::Breakers> crate::ports::Breakers for Metered<'_, P> {
    async fn gate(&self, req: &crate::breaker::GateRequest) -> Result<crate::breaker::GateAnswer, JobError> {
        self.io(Counted::Subrequest, self.inner.gate(req)).await
    }
    async fn report(&self, req: &crate::breaker::BreakerReport) -> Result<(), JobError> {
        self.io(Counted::Subrequest, self.inner.report(req)).await
    }
}

impl<P: EliteClient> EliteClient for Metered<'_, P> {
    async fn optimize(&self, request: &EliteRequest) -> Result<EliteResponse, JobError> {
        self.io(Counted::ServiceBinding, self.inner.optimize(request)).await
    }
}

impl<P: ResultStore> ResultStore for Metered<'_, P> {
    async fn put(&self, key: &str, body: Vec<u8>, job_id: &str) -> Result<(), JobError> {
        self.io(Counted::Subrequest, self.inner.put(key, body, job_id)).await
    }
    async fn job_of(&self, key: &str) -> Result<Option<String>, JobError> {
        self.io(Counted::Subrequest, self.inner.job_of(key)).await
    }
}

impl<P: ObjectReader> ObjectReader for Metered<'_, P> {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, JobError> {
        self.io(Counted::Subrequest, self.inner.get(key)).await
    }
}

impl<P: DeadLetterSink> DeadLetterSink for Metered<'_, P> {
    async fn send(&self, letter: &DeadLetter) -> Result<(), JobError> {
        self.io(Counted::QueueSend { messages: 1 }, self.inner.send(letter)).await
    }
}

impl<P: Metrics> Metrics for Metered<'_, P> {
    fn job_finished(&self, event: &JobFinished) {
        self.usage.call(Counted::AnalyticsPoint);
        self.inner.job_finished(event);
    }
    fn aggregate(&self, point: &DataPoint) {
        self.usage.call(Counted::AnalyticsPoint);
        self.inner.aggregate(point);
    }
}

impl<P: ReportStore> ReportStore for Metered<'_, P> {
    async fn month_rollups(&self, customer_id: &str, month: Month) -> Result<Vec<DailyRollup>, JobError> {
        self.io(Counted::D1Query, self.inner.month_rollups(customer_id, month)).await
    }
    async fn month_rollups_page(&self, month: Month, after: Option<&str>) -> Result<RollupPage, JobError> {
        self.io(Counted::D1Query, self.inner.month_rollups_page(month, after)).await
    }
    async fn billing_page(&self, before_ms: i64, after: Option<&str>) -> Result<BillingPage, JobError> {
        self.io(Counted::D1Query, self.inner.billing_page(before_ms, after)).await
    }
    async fn put_section(&self, run_id: &str, section: &CustomerMonthly) -> Result<(), JobError> {
        self.io(Counted::D1Query, self.inner.put_section(run_id, section)).await
    }
    async fn sections_page(&self, run_id: &str, after: Option<&str>) -> Result<SectionPage, JobError> {
        self.io(Counted::D1Query, self.inner.sections_page(run_id, after)).await
    }
    async fn customer_billing(&self, customer_id: &str, before_ms: i64) -> Result<Vec<BillingEvent>, JobError> {
        self.io(Counted::D1Query, self.inner.customer_billing(customer_id, before_ms)).await
    }
    async fn plan_of(&self, customer_id: &str) -> Result<Option<Plan>, JobError> {
        self.io(Counted::D1Query, self.inner.plan_of(customer_id)).await
    }
}

/// Each multipart operation is one R2 call: a subrequest.
impl<P: PartUploads> PartUploads for Metered<'_, P> {
    fn part_bytes(&self) -> usize {
        self.inner.part_bytes()
    }
    async fn start_upload(&self, key: &str, job_id: &str) -> Result<String, JobError> {
        self.io(Counted::Subrequest, self.inner.start_upload(key, job_id)).await
    }
    async fn upload_part(&self, key: &str, upload_id: &str, number: u16, body: Vec<u8>) -> Result<String, JobError> {
        self.io(Counted::Subrequest, self.inner.upload_part(key, upload_id, number, body)).await
    }
    async fn complete_upload(&self, key: &str, upload_id: &str, parts: &[(u16, String)]) -> Result<(), JobError> {
        self.io(Counted::Subrequest, self.inner.complete_upload(key, upload_id, parts)).await
    }
    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), JobError> {
        self.io(Counted::Subrequest, self.inner.abort_upload(key, upload_id)).await
    }
}

impl<P: RunFinalizer> RunFinalizer for Metered<'_, P> {
    async fn request_finalize(&self, run_id: &str, now_ms: i64) -> Result<FinalizeDecision, JobError> {
        self.io(Counted::Subrequest, self.inner.request_finalize(run_id, now_ms)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::ports::{MemoryQueue, MemoryRegistry};
    use futures::executor::block_on;
    use futures::future::join_all;

    #[test]
    fn limits_calls_started_together_are_in_flight_together() {
        let usage = Usage::default();
        let queue = MemoryQueue::default();
        let metered = Metered::new(&queue, &usage);
        let batch = vec!["x".to_owned(); 10];
        block_on(join_all((0..5).map(|_| metered.send_batch(&batch))));
        let registry = MemoryRegistry::default();
        block_on(Metered::new(&registry, &usage).count_active()).unwrap();
        let f = usage.figures();
        assert_eq!((f.subrequests, f.queue_messages, f.peak_connections, f.d1_queries), (6, 50, 5, 1));
        assert_eq!(usage.in_flight(), 0);
    }
}
