//! In-memory twins of every port, for the simulation and the core's tests. Each keeps what a
//! test needs to check invariants afterwards (what was sent, written, called), and the
//! ledger twin runs the very decision functions the Durable Object runs.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::datapoints::DataPoint;
use crate::elite::{classify_response, EliteRequest, EliteResponse};
use crate::error::JobError;
use crate::ledger::heads::{HeadRequest, HeadRow};
use crate::ledger::jobs::{claim_batch, complete_batch, settle};
use crate::ledger::runs::{self, RunTable};
use crate::ledger::shard_map::{ShardMap, MAPS};
use crate::ledger::{
    ClaimRequest, ClaimResponse, CompleteRequest, CompleteResponse, FanoutDone, FinalizeDecision, FinalizeRequest, OpenDecision, OpenRun,
    PageDone, RunProgress, SettleDecision, SettleRequest,
};
use crate::limits::rate::SendWindow;
use crate::ports::{Clock, DeadLetterSink, EliteClient, JobFinished, JobQueue, Ledger, Metrics, SitePage, SiteRegistry};
use crate::site::Site;

pub use super::results::{MemoryResults, OpenUpload, StoredObject};
use crate::standin::model::Standin;
use crate::standin::{scored_answer, simulated_answer, Fault};
use crate::testkit::ledger::{MemoryJobTable, MemoryRunTable};
use crate::wire::DeadLetter;

/// Site registry twin: customer id → (site, active).
#[derive(Debug, Default)]
pub struct MemoryRegistry {
    pub sites: RefCell<BTreeMap<String, (Site, bool)>>,
}

impl MemoryRegistry {
    pub fn add(&self, site: Site, active: bool) {
        self.sites.borrow_mut().insert(site.customer_id.as_str().to_owned(), (site, active));
    }

    pub fn active(&self) -> Vec<Site> {
        self.sites.borrow().values().filter(|(_, a)| *a).map(|(s, _)| s.clone()).collect()
    }
}

impl SiteRegistry for MemoryRegistry {
    async fn count_active(&self) -> Result<u64, JobError> {
        Ok(self.sites.borrow().values().filter(|(_, a)| *a).count() as u64)
    }

    async fn active_page(&self, after: Option<&str>, limit: u32) -> Result<SitePage, JobError> {
        use std::ops::Bound::{Excluded, Unbounded};
        let sites = self.sites.borrow();
        let lower = after.map_or(Unbounded, |a| Excluded(a.to_owned()));
        let sites: Vec<Site> =
            sites.range((lower, Unbounded)).filter(|(_, (_, active))| *active).take(limit as usize).map(|(_, (s, _))| s.clone()).collect();
        let last_key = sites.last().map(|s| s.customer_id.as_str().to_owned());
        Ok(SitePage { sites, last_key })
    }
}

/// The simulation's clock: a shared instant that only moves when a driver waits (or the
/// simulation steps it). Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct SimClock(Rc<Cell<i64>>);

impl SimClock {
    pub fn at(now_ms: i64) -> Self {
        Self(Rc::new(Cell::new(now_ms)))
    }

    pub fn get(&self) -> i64 {
        self.0.get()
    }

    pub fn set(&self, now_ms: i64) {
        self.0.set(now_ms);
    }
}

impl Clock for SimClock {
    fn now_ms(&self) -> i64 {
        self.0.get()
    }

    async fn sleep_until(&self, at_ms: i64) {
        self.0.set(self.0.get().max(at_ms));
    }
}

/// A queue's throughput as the platform enforces it, for the queue twin: sends beyond
/// `cap_per_s` messages in any one-second window by the simulated clock, and every send during
/// a burst of refusals (the queue saturated by others), fail as a real 429 does.
#[derive(Debug, Clone)]
pub struct Throttle {
    pub clock: SimClock,
    pub cap_per_s: u64,
    /// (from, until) instants during which every send is refused.
    pub bursts: Vec<(i64, i64)>,
    pub window: SendWindow,
}

impl Throttle {
    /// The platform's throughput ([`crate::limits::QUEUE_SEND_RATE_PER_S`]) on `clock`.
    pub fn platform(clock: &SimClock) -> Self {
        Self { clock: clock.clone(), cap_per_s: crate::limits::QUEUE_SEND_RATE_PER_S, bursts: Vec::new(), window: SendWindow::default() }
    }
}

/// Queue twin, producer side: records every sent body. Once that many batches went through,
/// `fail_after` makes every send fail (an outage: a transient error), and `cut_after` cuts the
/// producer off (its invocation dies: a permanent error, which it does not retry). With a
/// [`Throttle`], sends beyond the queue's throughput are refused as a 429 is: a transient error
/// saying "429 Too Many Requests".
#[derive(Debug, Default)]
pub struct MemoryQueue {
    pub sent: RefCell<Vec<String>>,
    pub batches: Cell<u64>,
    pub fail_after: Cell<Option<u64>>,
    pub cut_after: Cell<Option<u64>>,
    pub throttle: RefCell<Option<Throttle>>,
    /// Sends refused by the throttle.
    pub refused: Cell<u64>,
}

impl JobQueue for MemoryQueue {
    async fn send_batch(&self, bodies: &[String]) -> Result<(), JobError> {
        assert!(
            bodies.len() as u64 <= crate::limits::QUEUE_SEND_BATCH_MESSAGES,
            "a send_batch of {} messages would be refused",
            bodies.len()
        );
        if self.cut_after.get().is_some_and(|n| self.batches.get() >= n) {
            return Err(JobError::permanent("simulated producer cut off mid-fan-out"));
        }
        if self.fail_after.get().is_some_and(|n| self.batches.get() >= n) {
            return Err(JobError::transient("simulated queue outage"));
        }
        if let Some(t) = self.throttle.borrow_mut().as_mut() {
            let now = t.clock.get();
            let in_burst = t.bursts.iter().any(|(from, until)| (*from..*until).contains(&now));
            if in_burst || !t.window.admit(now, bodies.len() as u64, t.cap_per_s) {
                self.refused.set(self.refused.get() + 1);
                return Err(JobError::transient(format!(
                    "429 Too Many Requests: the queue accepts {} messages/s (simulated{})",
                    t.cap_per_s,
                    if in_burst { ", refusing a burst" } else { "" }
                )));
            }
        }
        self.batches.set(self.batches.get() + 1);
        self.sent.borrow_mut().extend(bodies.iter().cloned());
        Ok(())
    }
}

/// Ledger twin: one sweep table and a job table per slot of its shard maps (the build's
/// [`MAPS`]: [`crate::ledger::JOB_SHARDS`] tables; a test's second map adds its own).
#[derive(Debug)]
pub struct MemoryLedger {
    pub runs: RefCell<MemoryRunTable>,
    /// By slot ([`ShardMap::slot`]).
    pub shards: RefCell<Vec<MemoryJobTable>>,
    /// Requests served, for the "constant number of ledger calls per batch" check.
    pub requests: Cell<u64>,
    maps: Vec<ShardMap>,
}

impl Default for MemoryLedger {
    fn default() -> Self {
        Self::with_maps(MAPS)
    }
}

impl MemoryLedger {
    /// A ledger whose job shards are the slots of `maps`.
    pub fn with_maps(maps: &[ShardMap]) -> Self {
        Self {
            runs: RefCell::default(),
            shards: RefCell::new(vec![MemoryJobTable::default(); ShardMap::slots(maps) as usize]),
            requests: Cell::new(0),
            maps: maps.to_vec(),
        }
    }

    /// Progress of one run, exactly as the coordinator computes it.
    pub fn progress(&self, run_id: &str) -> Option<RunProgress> {
        let row = self.runs.borrow().run(run_id).expect("memory tables never fail")?;
        let counts: Vec<_> = self.shards.borrow().iter().filter_map(|s| s.counts.get(run_id).cloned()).collect();
        let (progress, update) = runs::progress(&row, &counts);
        if let Some(update) = update {
            self.runs.borrow_mut().put_run(&update).expect("memory tables never fail");
        }
        Some(progress)
    }

    /// The fan-in request of a run, exactly as the coordinator answers it
    /// (`code24_runtime::ledger_client::DurableLedger::request_finalize`).
    pub async fn request_finalize(&self, run_id: &str, now_ms: i64) -> Result<FinalizeDecision, JobError> {
        self.count();
        let counts: Vec<_> = self.shards.borrow().iter().filter_map(|s| s.counts.get(run_id).cloned()).collect();
        let req = FinalizeRequest { run_id: run_id.to_owned(), now_ms };
        Ok(runs::request_finalize(&mut *self.runs.borrow_mut(), &req, &counts)?)
    }

    /// The state of one job, wherever its shard is.
    pub fn job(&self, job_id: &str) -> Option<crate::ledger::JobRow> {
        self.shards.borrow().iter().find_map(|s| s.jobs.get(job_id).cloned())
    }

    fn count(&self) {
        self.requests.set(self.requests.get() + 1);
    }
}

impl Ledger for MemoryLedger {
    async fn open_run(&self, req: &OpenRun) -> Result<OpenDecision, JobError> {
        self.count();
        Ok(runs::open(&mut *self.runs.borrow_mut(), req)?)
    }

    async fn record_page(&self, req: &PageDone) -> Result<(), JobError> {
        self.count();
        Ok(runs::record_page(&mut *self.runs.borrow_mut(), req)?)
    }

    async fn finish_fanout(&self, req: &FanoutDone) -> Result<(), JobError> {
        self.count();
        Ok(runs::finish_fanout(&mut *self.runs.borrow_mut(), req)?)
    }

    async fn claim(&self, shard: u32, req: &ClaimRequest) -> Result<ClaimResponse, JobError> {
        self.count();
        Ok(claim_batch(&mut self.shards.borrow_mut()[shard as usize], req)?)
    }

    async fn complete(&self, shard: u32, req: &CompleteRequest) -> Result<CompleteResponse, JobError> {
        self.count();
        Ok(complete_batch(&mut self.shards.borrow_mut()[shard as usize], req)?)
    }

    async fn settle(&self, shard: u32, req: &SettleRequest) -> Result<SettleDecision, JobError> {
        self.count();
        Ok(settle(&mut self.shards.borrow_mut()[shard as usize], req)?)
    }

    async fn head(&self, shard: u32, req: &HeadRequest) -> Result<HeadRow, JobError> {
        self.count();
        Ok(crate::ledger::heads::head(&mut self.shards.borrow_mut()[shard as usize], req)?)
    }

    fn shard_maps(&self) -> &[ShardMap] {
        &self.maps
    }
}

/// Elite twin: the stand-in's own model (fault rules, counters) answering in memory. A hang
/// becomes the transient timeout error the real client reports.
#[derive(Debug)]
pub struct MemoryElite {
    pub standin: RefCell<Standin>,
    /// Optimize calls per job id.
    pub calls_per_job: RefCell<BTreeMap<String, u64>>,
}

impl Default for MemoryElite {
    fn default() -> Self {
        Self { standin: RefCell::new(Standin::new("memory".into())), calls_per_job: RefCell::default() }
    }
}

impl EliteClient for MemoryElite {
    async fn optimize(&self, request: &EliteRequest) -> Result<EliteResponse, JobError> {
        *self.calls_per_job.borrow_mut().entry(request.job_id.clone()).or_default() += 1;
        let fault = self.standin.borrow_mut().on_optimize(request);
        let ok = || serde_json::to_vec(&simulated_answer(request)).expect("serializable");
        let (status, body) = match fault {
            None | Some(Fault::Latency { .. }) => (200, ok()),
            Some(Fault::Status { code }) => (code, b"{\"error\":\"simulated\"}".to_vec()),
            Some(Fault::Garbage) => (200, b"not the elite contract".to_vec()),
            Some(Fault::Score { score }) => (200, serde_json::to_vec(&scored_answer(request, score)).expect("serializable")),
            Some(Fault::Hang { .. }) => return Err(JobError::transient(format!("elite {} timed out", request.role.as_str()))),
        };
        classify_response(request.role, status, &body)
    }
}

/// Dead-letter queue twin.
#[derive(Debug, Default)]
pub struct MemoryDeadLetters {
    pub letters: RefCell<Vec<DeadLetter>>,
}

impl DeadLetterSink for MemoryDeadLetters {
    async fn send(&self, letter: &DeadLetter) -> Result<(), JobError> {
        // Like the real queue, refuse a message over the size limit.
        let size = letter.encode().len();
        if size > crate::wire::MAX_MESSAGE_BYTES {
            return Err(JobError::transient(format!("dead letter of {size} bytes refused: over the queue's message limit")));
        }
        self.letters.borrow_mut().push(letter.clone());
        Ok(())
    }
}

/// Analytics twin.
#[derive(Debug, Default)]
pub struct MemoryMetrics {
    pub finished: RefCell<Vec<JobFinished>>,
    /// Report aggregates, in the order written.
    pub aggregates: RefCell<Vec<DataPoint>>,
}

impl Metrics for MemoryMetrics {
    fn job_finished(&self, event: &JobFinished) {
        self.finished.borrow_mut().push(event.clone());
    }

    fn aggregate(&self, point: &DataPoint) {
        self.aggregates.borrow_mut().push(point.clone());
    }
}
