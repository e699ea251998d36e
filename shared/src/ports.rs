//! The pipeline's boundaries as small capability traits. Each has an in-memory twin in
//! `crate::testkit` (simulation, tests; behind the `testkit` feature; the dead-letter store's
//! twin is `testkit::dead_letters`) and a Workers implementation in the `code24-runtime` crate
//! (D1, Queues, R2, the ledger Durable Object, service bindings).
//!
//! Every failure is a [`JobError`] and so carries its class. The traits use `async fn`
//! without `Send` bounds on purpose: Workers futures are single-threaded.

#![allow(async_fn_in_trait)]

use crate::breaker::{BreakerReport, GateAnswer, GateRequest};
use crate::datapoints::DataPoint;
use crate::dead_letters::record::DeadLetterRecord;
use crate::elite::{EliteHealth, EliteRequest, EliteResponse, EliteRole};
use crate::error::JobError;
use crate::ledger::heads::{HeadRequest, HeadRow};
use crate::ledger::shard_map::{ShardMap, MAPS};
use crate::ledger::{
    ClaimRequest, ClaimResponse, CompleteRequest, CompleteResponse, FanoutDone, FinalizeDecision, OpenDecision, OpenRun, PageDone,
    SettleDecision, SettleRequest,
};
use crate::reports::analytics::{CustomerMonthly, DailyRollup};
use crate::reports::pages::{BillingPage, RollupPage, SectionPage};
use crate::reports::period::Month;
use crate::reports::revenue::BillingEvent;
use crate::site::{Plan, Site};
use crate::wire::DeadLetter;

/// One page of the site registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SitePage {
    /// The valid active sites of the page (rows failing validation are left out and logged).
    pub sites: Vec<Site>,
    /// The customer id of the page's last row, valid or not; `None` when the page is empty.
    pub last_key: Option<String>,
}

/// The site registry (D1 in production).
pub trait SiteRegistry {
    async fn count_active(&self) -> Result<u64, JobError>;
    /// Up to `limit` active rows with a customer id greater than `after`, ordered by
    /// customer id (keyset pagination: the cost of a page does not grow with its position).
    async fn active_page(&self, after: Option<&str>, limit: u32) -> Result<SitePage, JobError>;
}

/// The optimize queue, producer side. Bodies are JSON text.
pub trait JobQueue {
    /// Sends at most 100 bodies totalling at most 256 KB (see [`crate::pipeline::producer::batches`]).
    async fn send_batch(&self, bodies: &[String]) -> Result<(), JobError>;
}

/// Time for a driver that waits: the producer paces its sends and backs off between retries.
/// The Workers implementation reads `Date.now()` and sleeps on a timer; the simulation's clock
/// jumps to the instant asked for, so a paced sweep of 100,000 sites runs in no real time.
pub trait Clock {
    fn now_ms(&self) -> i64;
    /// Returns at `at_ms` or later (at once when it has passed).
    async fn sleep_until(&self, at_ms: i64);
}

/// The ledger Durable Object: the run coordinator and the job shards.
pub trait Ledger {
    async fn open_run(&self, req: &OpenRun) -> Result<OpenDecision, JobError>;
    async fn record_page(&self, req: &PageDone) -> Result<(), JobError>;
    async fn finish_fanout(&self, req: &FanoutDone) -> Result<(), JobError>;
    async fn claim(&self, shard: u32, req: &ClaimRequest) -> Result<ClaimResponse, JobError>;
    async fn complete(&self, shard: u32, req: &CompleteRequest) -> Result<CompleteResponse, JobError>;
    async fn settle(&self, shard: u32, req: &SettleRequest) -> Result<SettleDecision, JobError>;
    /// A job shard's latest-wins row of a task, its head raised first when the request
    /// announces a finished fan-out ([`crate::ledger::heads`]).
    async fn head(&self, shard: u32, req: &HeadRequest) -> Result<HeadRow, JobError>;
    /// The shard maps whose slots the job routes' `shard` numbers
    /// ([`crate::ledger::shard_map::ShardMap::slot`]): the build's table, or a test's.
    fn shard_maps(&self) -> &[ShardMap] {
        MAPS
    }
}

/// One elite worker call, timeout included: an implementation turns a timeout or a network
/// error into a transient [`JobError`] and classifies answers with
/// [`crate::elite::classify_response`].
/// The elite circuit breakers ([`crate::breaker`]), kept by the ledger's `breakers` instance:
/// asked once per optimizer batch before its claims, told once after its elite calls.
pub trait Breakers {
    async fn gate(&self, req: &GateRequest) -> Result<GateAnswer, JobError>;
    async fn report(&self, req: &BreakerReport) -> Result<(), JobError>;
}

/// The breakers behind their off switch (`BREAKERS_ENABLED`, `config::breakers_enabled`): when
/// off, [`NoBreakers`]' answers, and the breakers instance is never called.
#[derive(Debug, Clone, Copy)]
pub struct Switched<'a, B> {
    pub breakers: &'a B,
    pub enabled: bool,
}

impl<B: Breakers> Breakers for Switched<'_, B> {
    async fn gate(&self, req: &GateRequest) -> Result<GateAnswer, JobError> {
        if self.enabled {
            self.breakers.gate(req).await
        } else {
            NoBreakers.gate(req).await
        }
    }
    async fn report(&self, req: &BreakerReport) -> Result<(), JobError> {
        if self.enabled {
            self.breakers.report(req).await
        } else {
            Ok(())
        }
    }
}

/// No breakers: everything is admitted and nothing is reported (report consumers, tests,
/// environments without the `breakers` instance).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBreakers;

impl Breakers for NoBreakers {
    async fn gate(&self, req: &GateRequest) -> Result<GateAnswer, JobError> {
        Ok(GateAnswer { admit: req.jobs, retry_after_ms: 0, held_by: Vec::new() })
    }
    async fn report(&self, _req: &BreakerReport) -> Result<(), JobError> {
        Ok(())
    }
}

pub trait EliteClient {
    async fn optimize(&self, request: &EliteRequest) -> Result<EliteResponse, JobError>;
}

/// The R2 results bucket.
pub trait ResultStore {
    async fn put(&self, key: &str, body: Vec<u8>, job_id: &str) -> Result<(), JobError>;
    /// The job id stored with the object at `key`, if it exists: lets a recovered job see
    /// that a crashed attempt already wrote its result.
    async fn job_of(&self, key: &str) -> Result<Option<String>, JobError>;
}

/// Reading an object of the results bucket (R2) back: the monthly job reads one optimization
/// object per customer and month, the optimizer one platform context per batch.
pub trait ObjectReader {
    /// The object's body, or `None` if there is no object at `key`.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, JobError>;
}

/// The dead-letter queue, producer side.
pub trait DeadLetterSink {
    async fn send(&self, letter: &DeadLetter) -> Result<(), JobError>;
}

/// The dead-letter store (D1's `dead_letters` table), as the dead-letters consumer fills it.
/// Its twin is `testkit::dead_letters::MemoryDeadLetterStore`.
pub trait DeadLetterStore {
    /// Inserts a record, or updates the row of the same id: the newest error, the most
    /// attempts and the latest failure win; a purged row stays purged, any other is `dead`
    /// again (a replay that died again). Everything else keeps its first value.
    async fn upsert(&self, record: &DeadLetterRecord) -> Result<(), JobError>;
    /// Rows in the store, purged ones included.
    async fn count(&self) -> Result<u64, JobError>;
}

/// One finished job (succeeded or dead), for the analytics dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFinished {
    pub job_id: String,
    /// The run the job belonged to ([`crate::ids::RunId`]).
    pub run_id: String,
    pub customer_id: String,
    pub succeeded: bool,
    pub attempts: u32,
    pub duration_ms: i64,
    /// The elite workers' scores (brand, designer, developer) when this delivery's work wrote
    /// them (not for a recovered result, a report job or a death).
    pub scores: Option<[u8; 3]>,
}

/// Where finished jobs and report aggregates are reported (Workers Analytics Engine, dataset
/// `code24_jobs`; the points are built by [`crate::datapoints`]). Writing never fails a job:
/// an implementation logs what it could not write.
pub trait Metrics {
    /// One data point per finished job ([`crate::datapoints::job_point`]).
    fn job_finished(&self, event: &JobFinished);
    /// A report's aggregate: a customer's or the platform's month.
    fn aggregate(&self, point: &DataPoint);
}

// ----- report jobs -----

/// The report jobs' data in D1: the rollups and billing events they read, and the monthly
/// sections a run's customer jobs write and its finalize job reads back.
pub trait ReportStore {
    /// One customer's daily rollups of `month`.
    async fn month_rollups(&self, customer_id: &str, month: Month) -> Result<Vec<DailyRollup>, JobError>;
    /// Every customer's daily rollups of `month`, one page of whole customers
    /// ([`whole_customers`](crate::reports::pages::whole_customers)) after customer `after`.
    async fn month_rollups_page(&self, month: Month, after: Option<&str>) -> Result<RollupPage, JobError>;
    /// The billing events before `before_ms` (earlier ones give each customer's MRR at a start),
    /// one page of whole customers after customer `after`, ordered by customer then time
    /// ([`whole_customer_events`](crate::reports::pages::whole_customer_events)).
    async fn billing_page(&self, before_ms: i64, after: Option<&str>) -> Result<BillingPage, JobError>;
    /// Writes (or rewrites) one customer's section of a monthly-analytics run.
    async fn put_section(&self, run_id: &str, section: &CustomerMonthly) -> Result<(), JobError>;
    /// The sections written for the run after customer `after`, one page in customer order
    /// ([`SECTION_PAGE_ROWS`](crate::reports::pages::SECTION_PAGE_ROWS) a read).
    async fn sections_page(&self, run_id: &str, after: Option<&str>) -> Result<SectionPage, JobError>;
    /// One customer's billing events before `before_ms` (its MRR through a month).
    async fn customer_billing(&self, customer_id: &str, before_ms: i64) -> Result<Vec<BillingEvent>, JobError>;
    /// The customer's plan, if the customer is in the registry (for the insights' cohorts).
    async fn plan_of(&self, customer_id: &str) -> Result<Option<Plan>, JobError>;
}

/// Objects too large to hold whole, written in parts (an R2 multipart upload): every part but
/// the last has at least [`part_bytes`](Self::part_bytes), parts may arrive in any order, and
/// the object (with its job id, as [`ResultStore::put`] tags it) appears only when the upload
/// is completed. An upload not completed is aborted, or expires.
pub trait PartUploads {
    /// The smallest part the store takes, the last excepted (R2:
    /// [`R2_PART_MIN_BYTES`](crate::limits::R2_PART_MIN_BYTES)).
    fn part_bytes(&self) -> usize;
    /// Starts an upload of `key` tagged with `job_id`; answers its upload id.
    async fn start_upload(&self, key: &str, job_id: &str) -> Result<String, JobError>;
    /// Uploads part `number` (from 1); answers its etag, which completing the upload needs.
    async fn upload_part(&self, key: &str, upload_id: &str, number: u16, body: Vec<u8>) -> Result<String, JobError>;
    /// Completes the upload with every part (number, etag), in part order.
    async fn complete_upload(&self, key: &str, upload_id: &str, parts: &[(u16, String)]) -> Result<(), JobError>;
    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), JobError>;
}

/// The ledger's fan-in: whether a run's final job is due ([`crate::ledger::runs::request_finalize`]).
pub trait RunFinalizer {
    async fn request_finalize(&self, run_id: &str, now_ms: i64) -> Result<FinalizeDecision, JobError>;
}

/// What the dev health check probes. Its canary optimization goes through the elite client and
/// its list of sites through the registry, so those are supertraits. Every probe answers within
/// its own timeout: an implementation turns a timeout into an error, never hangs.
pub trait HealthProbes: EliteClient + SiteRegistry {
    /// `GET /health` of one elite worker, decoded.
    async fn elite_health(&self, role: EliteRole) -> Result<EliteHealth, JobError>;
    /// The probe's object store (the results bucket): write, read, delete.
    async fn object_put(&self, key: &str, body: Vec<u8>) -> Result<(), JobError>;
    async fn object_get(&self, key: &str) -> Result<Option<Vec<u8>>, JobError>;
    async fn object_delete(&self, key: &str) -> Result<(), JobError>;
    /// One trivial query (`SELECT 1`).
    async fn db_ping(&self) -> Result<(), JobError>;
    /// The HTTP status of a `GET url`, within [`crate::reports::health::SITE_TIMEOUT_MS`];
    /// a network error or a timeout is an error.
    async fn site_status(&self, url: &str) -> Result<u16, JobError>;
}
