//! Counting wrappers around the in-memory twins: every port call of a sweep is counted where
//! it crosses the boundary, the same calls the Workers make over real bindings.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashSet};

use code24_shared::elite::{classify_response, EliteRequest, EliteResponse};
use code24_shared::error::JobError;
use code24_shared::ledger::heads::{HeadRequest, HeadRow};
use code24_shared::ledger::jobs::{claim_batch, complete_batch, settle, JobTable};
use code24_shared::ledger::runs::{self, RunTable};
use code24_shared::ledger::{
    ClaimRequest, ClaimResponse, CompleteRequest, CompleteResponse, FanoutDone, JobRow, OpenDecision, OpenRun, PageDone, RunProgress,
    SettleDecision, SettleRequest, ShardCounts, SiteRow, StoreError, JOB_SHARDS,
};
use code24_shared::ports::{EliteClient, JobFinished, JobQueue, Ledger, Metrics, ObjectReader, ResultStore, SitePage, SiteRegistry};
use code24_shared::reports::analytics::DailyRollup;
use code24_shared::standin::simulated_answer;
use code24_shared::testkit::ledger::{MemoryJobTable, MemoryRunTable};
use code24_shared::testkit::ports::{MemoryQueue, MemoryRegistry};

/// The registry, counting D1 queries and the rows they read. D1 bills the rows a query
/// scans: `COUNT(*)` over the active sites scans every active row (through the index), and a
/// keyset page scans the rows it returns.
#[derive(Debug, Default)]
pub(crate) struct CountingRegistry {
    pub(crate) inner: MemoryRegistry,
    pub(crate) queries: Cell<u64>,
    pub(crate) rows_read: Cell<u64>,
}

impl SiteRegistry for CountingRegistry {
    async fn count_active(&self) -> Result<u64, JobError> {
        let n = self.inner.count_active().await?;
        self.queries.set(self.queries.get() + 1);
        self.rows_read.set(self.rows_read.get() + n);
        Ok(n)
    }

    async fn active_page(&self, after: Option<&str>, limit: u32) -> Result<SitePage, JobError> {
        let page = self.inner.active_page(after, limit).await?;
        self.queries.set(self.queries.get() + 1);
        self.rows_read.set(self.rows_read.get() + page.sites.len() as u64);
        Ok(page)
    }
}

/// The producer's queue: `send_batch` calls (each is one queue write operation per message
/// in Cloudflare's billing; the call count is what the producer waits on).
#[derive(Debug, Default)]
pub(crate) struct CountingQueue {
    pub(crate) inner: MemoryQueue,
    pub(crate) calls: Cell<u64>,
}

impl JobQueue for CountingQueue {
    async fn send_batch(&self, bodies: &[String]) -> Result<(), JobError> {
        self.calls.set(self.calls.get() + 1);
        self.inner.send_batch(bodies).await
    }
}

/// One job shard's SQLite tables, counting the rows its transactions read and write: the
/// Durable Object runs the same decision functions over SQL tables, one statement per call.
#[derive(Debug, Default, Clone)]
pub(crate) struct CountingJobTable {
    inner: MemoryJobTable,
    pub(crate) rows_written: u64,
    /// Rollup rows dirtied: each is copied to D1 by the next flush (one D1 row written).
    pub(crate) rollups_written: u64,
    /// Sweeps whose counters this request changed: the Durable Object writes each counters
    /// row once per request (`ledger/src/sql_tables.rs`, `SqlJobTable::batch`).
    counts_dirty: BTreeSet<String>,
}

impl CountingJobTable {
    /// Ends one request: its counters rows are written.
    fn end_request(&mut self) {
        self.rows_written += self.counts_dirty.len() as u64;
        self.counts_dirty.clear();
    }
}

impl JobTable for CountingJobTable {
    fn job(&self, job_id: &str) -> Result<Option<JobRow>, StoreError> {
        self.inner.job(job_id)
    }
    fn put_job(&mut self, row: &JobRow) -> Result<(), StoreError> {
        self.rows_written += 1;
        self.inner.put_job(row)
    }
    fn site(&self, customer_id: &str) -> Result<Option<SiteRow>, StoreError> {
        self.inner.site(customer_id)
    }
    fn put_site(&mut self, row: &SiteRow) -> Result<(), StoreError> {
        self.rows_written += 1;
        self.inner.put_site(row)
    }
    fn counts(&self, run_id: &str) -> Result<ShardCounts, StoreError> {
        self.inner.counts(run_id)
    }
    fn put_counts(&mut self, counts: &ShardCounts) -> Result<(), StoreError> {
        self.counts_dirty.insert(counts.run_id.clone());
        self.inner.put_counts(counts)
    }
    fn rollup(&self, customer_id: &str, day: &str) -> Result<Option<DailyRollup>, StoreError> {
        self.inner.rollup(customer_id, day)
    }
    fn put_rollup(&mut self, rollup: &DailyRollup) -> Result<(), StoreError> {
        self.rows_written += 1;
        self.rollups_written += 1;
        self.inner.put_rollup(rollup)
    }
    fn head(&self, task: &str) -> Result<Option<HeadRow>, StoreError> {
        self.inner.head(task)
    }
    fn put_head(&mut self, row: &HeadRow) -> Result<(), StoreError> {
        self.rows_written += 1;
        self.inner.put_head(row)
    }
}

/// The ledger: the coordinator's sweep table and [`JOB_SHARDS`] counting job tables, driven by
/// the core's decision functions exactly as the Durable Object drives its SQLite tables;
/// requests by side, and the shards touched by the current consumer batch.
#[derive(Debug)]
pub(crate) struct CountingLedger {
    runs: RefCell<MemoryRunTable>,
    pub(crate) shards: RefCell<Vec<CountingJobTable>>,
    pub(crate) producer_requests: Cell<u64>,
    pub(crate) consumer_requests: Cell<u64>,
    pub(crate) sweep_rows_written: Cell<u64>,
    /// Shards the current batch sent a request to (reset by the driver per batch).
    pub(crate) batch_shards: RefCell<BTreeSet<u32>>,
}

impl Default for CountingLedger {
    fn default() -> Self {
        Self {
            runs: RefCell::default(),
            shards: RefCell::new(vec![CountingJobTable::default(); JOB_SHARDS as usize]),
            producer_requests: Cell::new(0),
            consumer_requests: Cell::new(0),
            sweep_rows_written: Cell::new(0),
            batch_shards: RefCell::default(),
        }
    }
}

impl CountingLedger {
    fn producer(&self) {
        self.producer_requests.set(self.producer_requests.get() + 1);
        // Each coordinator request upserts the sweep's row once.
        self.sweep_rows_written.set(self.sweep_rows_written.get() + 1);
    }

    fn consumer(&self, shard: u32) {
        self.consumer_requests.set(self.consumer_requests.get() + 1);
        self.batch_shards.borrow_mut().insert(shard);
    }

    /// The sweep's progress, as the coordinator computes it.
    pub(crate) fn progress(&self, run_id: &str) -> Option<RunProgress> {
        let row = self.runs.borrow().run(run_id).ok()??;
        let counts: Vec<ShardCounts> = self.shards.borrow().iter().filter_map(|s| s.counts(run_id).ok()).collect();
        Some(runs::progress(&row, &counts).0)
    }

    /// Runs one request's decision on a shard, as one Durable Object request.
    fn on_shard<T>(&self, shard: u32, decision: impl FnOnce(&mut CountingJobTable) -> Result<T, StoreError>) -> Result<T, JobError> {
        self.consumer(shard);
        let mut shards = self.shards.borrow_mut();
        let table = &mut shards[shard as usize];
        let answer = decision(table);
        table.end_request();
        Ok(answer?)
    }
}

impl Ledger for CountingLedger {
    async fn open_run(&self, req: &OpenRun) -> Result<OpenDecision, JobError> {
        self.producer();
        Ok(runs::open(&mut *self.runs.borrow_mut(), req)?)
    }
    async fn record_page(&self, req: &PageDone) -> Result<(), JobError> {
        self.producer();
        Ok(runs::record_page(&mut *self.runs.borrow_mut(), req)?)
    }
    async fn finish_fanout(&self, req: &FanoutDone) -> Result<(), JobError> {
        self.producer();
        Ok(runs::finish_fanout(&mut *self.runs.borrow_mut(), req)?)
    }
    async fn claim(&self, shard: u32, req: &ClaimRequest) -> Result<ClaimResponse, JobError> {
        self.on_shard(shard, |t| claim_batch(t, req))
    }
    async fn complete(&self, shard: u32, req: &CompleteRequest) -> Result<CompleteResponse, JobError> {
        self.on_shard(shard, |t| complete_batch(t, req))
    }
    async fn settle(&self, shard: u32, req: &SettleRequest) -> Result<SettleDecision, JobError> {
        self.on_shard(shard, |t| settle(t, req))
    }
    async fn head(&self, shard: u32, req: &HeadRequest) -> Result<HeadRow, JobError> {
        // The producer's requests: before it opens a sweep, and once its fan-out finished.
        self.producer_requests.set(self.producer_requests.get() + 1);
        let table = &mut self.shards.borrow_mut()[shard as usize];
        let answer = code24_shared::ledger::heads::head(table, req);
        table.end_request();
        Ok(answer?)
    }
}

/// R2: object writes and their bytes. Unlike [`code24_shared::testkit::ports::MemoryResults`] it keeps
/// no bodies (a million result objects would not fit in memory); a fault-free sweep never
/// asks for a stored job id, so [`ResultStore::job_of`] answers from the keys alone.
#[derive(Debug, Default)]
pub(crate) struct CountingResults {
    pub(crate) keys: RefCell<HashSet<String>>,
    pub(crate) puts: Cell<u64>,
    pub(crate) bytes: Cell<u64>,
    /// Reads: the optimizer's platform context, once per batch (there is none in the bench).
    pub(crate) gets: Cell<u64>,
}

impl ObjectReader for CountingResults {
    async fn get(&self, _key: &str) -> Result<Option<Vec<u8>>, JobError> {
        self.gets.set(self.gets.get() + 1);
        Ok(None)
    }
}

impl ResultStore for CountingResults {
    async fn put(&self, key: &str, body: Vec<u8>, _job_id: &str) -> Result<(), JobError> {
        self.puts.set(self.puts.get() + 1);
        self.bytes.set(self.bytes.get() + body.len() as u64);
        self.keys.borrow_mut().insert(key.to_owned());
        Ok(())
    }

    async fn job_of(&self, key: &str) -> Result<Option<String>, JobError> {
        Err(JobError::permanent(format!("the bench never recovers a job ({key})")))
    }
}

/// The elite workers: the local stand-in's simulated answer for the request, as JSON bytes,
/// classified by the core exactly as the optimizer classifies a real answer. Unlike
/// [`code24_shared::testkit::ports::MemoryElite`] it keeps no per-job call map and runs no fault model
/// (a fault-free sweep has none), which the profile showed as a large share of a
/// million-site run's allocations.
#[derive(Debug, Default)]
pub(crate) struct CountingElite {
    pub(crate) calls: Cell<u64>,
}

impl EliteClient for CountingElite {
    async fn optimize(&self, request: &EliteRequest) -> Result<EliteResponse, JobError> {
        self.calls.set(self.calls.get() + 1);
        let body = serde_json::to_vec(&simulated_answer(request)).map_err(|e| JobError::permanent(e.to_string()))?;
        classify_response(request.role, 200, &body)
    }
}

/// The analytics dataset: finished jobs, counted (not kept).
#[derive(Debug, Default)]
pub(crate) struct CountingMetrics {
    pub(crate) finished: Cell<u64>,
}

impl Metrics for CountingMetrics {
    fn job_finished(&self, _event: &JobFinished) {
        self.finished.set(self.finished.get() + 1);
    }

    /// A sweep writes no report aggregates.
    fn aggregate(&self, _point: &code24_shared::datapoints::DataPoint) {}
}
