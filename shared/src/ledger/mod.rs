//! The ledger: progress and deduplication of every run, as deterministic state machines. A
//! run is one firing of a scheduled task ([`crate::ids::RunId`]): an optimization *sweep*, or a
//! report *run*.
//!
//! One Durable Object class hosts two kinds of instance:
//! - the *run coordinator* ([`RUNS_OBJECT`]): one row per run with its fan-out cursor and
//!   counts of enqueued jobs ([`runs`]);
//! - [`JOB_SHARDS`] *job shards* (`jobs-0` ..): one row per job and per lane, sharded by
//!   subject so a 100k-site sweep is not bound by one object's throughput ([`jobs`]).
//!
//! Field names on the wire and SQLite column names predate the words run, lane and subject
//! (`sweep_id`, `customer_id`); the Rust names say what they hold, and `serde` renames keep
//! the old names ([`claim_wire`] for the claim decision), checked by `wire_names`' tests.
//!
//! The decisions live here, over small table traits; the Durable Object implements the
//! traits over SQLite and the simulation over in-memory maps (`testkit::ledger`, built for
//! tests only), so both run the very same code. The request and response types below are the
//! wire form of the Durable Object's HTTP routes ([`route`]).
//!
//! The job shards also keep each customer's daily rollups of optimization runs ([`rollups`]),
//! updated in the same transaction as the job's state, so a rollup counts every finished job
//! exactly once whatever the queue redelivers, and per task a latest-wins row ([`heads`]):
//! the newest sweep whose fan-out finished (older sweeps' jobs are superseded) and where the
//! consumers' work stands.

mod claim_wire;
pub mod compact;
pub mod done_set;
pub mod freshness;
pub mod heads;
pub mod jobs;
pub mod journal;
pub mod rollups;
pub mod route;
pub mod runs;
pub mod shard_map;
pub mod stats;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::JobError;
use crate::ids::stable_hash;

/// Number of job shards of the first shard map. Changing it in place would move customers
/// between shards and forget their dedup state; the number changes by adding a version to
/// [`shard_map::MAPS`] instead (see there).
pub const JOB_SHARDS: u32 = 8;
/// Name of the run-coordinator instance. Its name is `sweeps` from before report runs: a
/// Durable Object's name is its identity, so a new name would start an empty coordinator.
pub const RUNS_OBJECT: &str = "sweeps";

/// The job shard that owns a job's `subject` ([`JobClaim::subject`]) in the first shard map:
/// the customer of an optimization job, the customer or reserved word of a report job. Every
/// job of a subject, of every run under one map, lives in the one shard that also holds its
/// lanes. Callers with a job choose by its run's time ([`JobClaim::shard`]).
pub fn shard_of(subject: impl AsRef<str>) -> u32 {
    (stable_hash(subject.as_ref().as_bytes()) % u64::from(JOB_SHARDS)) as u32
}

/// The key of the per-site row that serializes jobs and decides superseding. Optimization
/// sweeps of one customer share a lane (a newer sweep supersedes an older one, and two never
/// work the site at once); every other task's run has its own lane per customer, so a report
/// job never waits for or supersedes an optimization, nor a backfill of an older period.
pub fn lane_of(run_id: &str, subject: &str) -> String {
    if is_optimization(run_id) {
        subject.to_owned()
    } else {
        format!("{run_id}:{subject}")
    }
}

/// Whether `run_id` (`{env}.{task}.{slot}`) is an optimization sweep: its jobs share a lane
/// per customer and are counted in the customers' daily rollups.
pub fn is_optimization(run_id: &str) -> bool {
    run_id.split('.').nth(1) == Some(crate::schedule::Task::Optimize.as_str())
}

/// Durable Object name of job shard `shard`.
pub fn shard_object(shard: u32) -> String {
    format!("jobs-{shard}")
}

/// A failure inside the ledger's storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ledger storage: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::transient(e.to_string())
    }
}

/// The state of one job in its shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Claimed by a consumer that holds a lease on it.
    InFlight,
    /// Failed transiently; its message was retried with a delay.
    Retrying,
    /// Result written and recorded. Terminal.
    Succeeded,
    /// Dead-lettered with its reason. Terminal (until a replay).
    Dead,
    /// Skipped because a newer sweep already works or worked the same site. Terminal.
    Superseded,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InFlight => "in_flight",
            Self::Retrying => "retrying",
            Self::Succeeded => "succeeded",
            Self::Dead => "dead",
            Self::Superseded => "superseded",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::InFlight, Self::Retrying, Self::Succeeded, Self::Dead, Self::Superseded].into_iter().find(|s| s.as_str() == raw)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Dead | Self::Superseded)
    }
}

/// One job as a shard stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRow {
    pub job_id: String,
    /// The run this job belongs to ([`crate::ids::RunId`]); `sweep_id` on the wire and in the
    /// shard's SQLite table, which an old and a new Worker version share during a deploy.
    #[serde(rename = "sweep_id")]
    pub run_id: String,
    /// The job's subject: the customer of an optimization job, the customer or the reserved
    /// word (`finalize`, `report`, `check`) of a report job. It picks the shard and the lane.
    /// `customer_id` on the wire and in the shard's SQLite table, from before report jobs had
    /// subjects; an old and a new Worker version share both during a deploy.
    #[serde(rename = "customer_id")]
    pub subject: String,
    pub scheduled_ms: i64,
    pub state: JobState,
    /// Claims granted so far; the claim token of the current attempt.
    pub attempts: u32,
    /// While `InFlight`, no other delivery may work the job before this instant.
    pub lease_until_ms: i64,
    pub last_error: Option<JobError>,
    pub updated_ms: i64,
}

/// Per lane: the newest run that claimed it and the job holding it right now. This is what
/// keeps one site from being worked by two sweeps at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteRow {
    /// The lane key ([`lane_of`]): the customer id for optimization sweeps, `{run}:{subject}`
    /// for any other run. Stored in the shard's SQLite column `customer_id` (from before report
    /// runs had lanes of their own); renaming the column would need a migration, so the wire
    /// and column name stay.
    #[serde(rename = "customer_id")]
    pub lane: String,
    /// Scheduled time of the newest run whose job for this lane was claimed.
    pub newest_scheduled_ms: i64,
    /// The job currently working this site, if any, and its lease.
    pub active_job: Option<String>,
    pub active_lease_until_ms: i64,
}

/// A shard's counters for one run. Jobs are counted by their current state; duplicates
/// count absorbed redeliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardCounts {
    /// The run counted; `sweep_id` on the wire and in the shard's SQLite table (see
    /// [`JobRow::run_id`]).
    #[serde(rename = "sweep_id")]
    pub run_id: String,
    pub in_flight: u64,
    pub retrying: u64,
    pub succeeded: u64,
    pub dead: u64,
    pub superseded: u64,
    /// Deliveries acked without work because their job had already ended.
    pub duplicates: u64,
    /// When the last job of this run in this shard reached a terminal state.
    pub last_terminal_ms: Option<i64>,
}

// ----- job shard wire -----

/// One job a consumer wants to work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobClaim {
    pub job_id: String,
    /// The run this job belongs to ([`crate::ids::RunId`]); `sweep_id` on the wire and in the
    /// shard's SQLite table, which an old and a new Worker version share during a deploy.
    #[serde(rename = "sweep_id")]
    pub run_id: String,
    /// The job's subject: the customer of an optimization job, the customer or the reserved
    /// word (`finalize`, `report`, `check`) of a report job. It picks the shard and the lane.
    /// `customer_id` on the wire and in the shard's SQLite table, from before report jobs had
    /// subjects; an old and a new Worker version share both during a deploy.
    #[serde(rename = "customer_id")]
    pub subject: String,
    pub scheduled_ms: i64,
    /// A replayed dead letter: never superseded.
    #[serde(default)]
    pub replay: bool,
    /// When a replay was planned: it revives a job that died before then only (see
    /// `wire::OptimizeJobWire::replay_at_ms`; `None`: any death, as older replays did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_at_ms: Option<i64>,
}

impl JobClaim {
    /// The job shard (its slot, [`shard_map::ShardMap::slot`]) this claim goes to under the
    /// build's maps: its subject's, in the map in force at its run's scheduled time.
    pub fn shard(&self) -> u32 {
        self.shard_in(shard_map::MAPS)
    }

    /// [`Self::shard`] under `maps` (the ledger port's, `crate::ports::Ledger::shard_maps`).
    pub fn shard_in(&self, maps: &[shard_map::ShardMap]) -> u32 {
        shard_map::ShardMap::slot(maps, &self.subject, self.scheduled_ms)
    }

    /// The claim of a decoded job.
    pub fn of(job: &crate::wire::OptimizeJob) -> Self {
        Self {
            job_id: job.job_id.as_str().to_owned(),
            run_id: job.sweep_id.as_str().to_owned(),
            subject: job.customer_id.as_str().to_owned(),
            scheduled_ms: job.scheduled.timestamp_millis(),
            replay: job.replay,
            replay_at_ms: job.replay_at_ms,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRequest {
    pub claims: Vec<JobClaim>,
    pub now_ms: i64,
    pub lease_ms: i64,
}

/// What the consumer must do with one claimed message. Its JSON form is older than
/// [`Recovery`] and is kept byte for byte ([`claim_wire`]): an old and a new Worker version
/// exchange it during a deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "claim_wire::ClaimDecisionWire", from = "claim_wire::ClaimDecisionWire")]
pub enum ClaimDecision {
    /// Work the job; `attempt` is the claim token to complete with, and `recovery` says
    /// whether an earlier attempt may have left its result behind.
    Work { attempt: u32, recovery: Recovery },
    /// The job already ended: ack without work.
    Duplicate,
    /// The job already died: send its dead letter again (an earlier send may have failed
    /// after the ledger recorded the death), then ack. The dead-letter store keys by job id.
    AlreadyDead { attempts: u32, error: JobError },
    /// A newer sweep owns the site: ack without work.
    Superseded,
    /// Another delivery holds the site now: retry this message after the lease ends.
    Busy { retry_after_ms: i64 },
}

/// Whether an earlier attempt of a claimed job may have left its result behind, and so what
/// the work must do first: the one word for recovery, from the ledger's claim decision to the
/// job kind's work. An attempt that crashed after writing its result but before reporting
/// leaves the job in flight with a lapsed lease; the next claim recovers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// No earlier attempt can have written a result it did not report (a first attempt, or a
    /// retry after a reported failure): do the work.
    Fresh,
    /// An earlier attempt crashed without reporting and may have written the result: look
    /// for it first and use it if it is there; otherwise do the work.
    LookFirst,
    /// As [`Self::LookFirst`], but a newer run has claimed the lane since: look for the result
    /// and use it if it is there; otherwise the job is superseded and must not be worked.
    LookOnly,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimResponse {
    /// One decision per claim, in request order.
    pub decisions: Vec<ClaimDecision>,
}

/// How one worked job ended, as the consumer saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOutcome {
    pub job_id: String,
    /// The claim token from [`ClaimDecision::Work`].
    pub attempt: u32,
    /// `None` when the result was written.
    pub error: Option<JobError>,
    /// Set when a [`Recovery::LookOnly`] claim found no result: the job is superseded.
    #[serde(default)]
    pub superseded: bool,
    /// What the attempt measured, for the customer's daily rollup. Absent from an older
    /// consumer's outcomes, and for a superseded job (not a run).
    #[serde(default)]
    pub metrics: Option<JobMetrics>,
}

/// What one worked attempt measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMetrics {
    /// From the start of the work to its end (the result written, or the failure known).
    pub duration_ms: i64,
    /// The elite workers' scores (brand, designer, developer), when this attempt wrote the
    /// result; `None` when it found a crashed attempt's result in R2 or failed.
    pub scores: Option<[u8; 3]>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteRequest {
    pub outcomes: Vec<JobOutcome>,
    pub now_ms: i64,
    /// Transient failures at this attempt or later are dead-lettered.
    pub max_attempts: u32,
}

/// What the consumer must do with a worked message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Done (or owned by another delivery): ack.
    Ack,
    /// Retry the message; `attempt` feeds the backoff.
    Retry { attempt: u32 },
    /// Send to the dead-letter queue with this error, then ack.
    Dead { attempts: u32, error: JobError },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteResponse {
    /// One verdict per outcome, in request order.
    pub verdicts: Vec<Verdict>,
}

/// Settles a job whose message the queue itself dead-lettered after `max_retries`
/// deliveries (the consumer never decided its fate). Sent by the dead-letters consumer after
/// it looked in R2 for the job's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettleRequest {
    pub claim: JobClaim,
    /// Whether R2 holds this job's result (a crashed attempt may have written it).
    pub written: bool,
    pub error: JobError,
    pub now_ms: i64,
}

/// What the dead-letters consumer must do with a queue-dead-lettered job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum SettleDecision {
    /// The job is now dead (or already was): store the dead letter.
    Dead { attempts: u32 },
    /// The job ended otherwise (succeeded, superseded, or its written result was recorded
    /// now): nothing was lost, store nothing.
    Ended { state: JobState },
    /// A delivery holds a live lease on it: ask again after it.
    Busy { retry_after_ms: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountsRequest {
    /// The runs whose counters are asked for; `sweep_ids` on the wire, which an old and a new
    /// Worker version share during a deploy.
    #[serde(rename = "sweep_ids")]
    pub run_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRequest {
    pub job_id: String,
}

// ----- sweep coordinator wire -----

/// Where a sweep's fan-out stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunPhase {
    /// The producer is (or was, before it died) sending messages.
    Enqueuing,
    /// Every message was sent.
    Enqueued,
    /// The producer died mid-fan-out and a newer sweep of the same task has started, which
    /// covers the remaining sites: what was enqueued is all this sweep will have.
    Abandoned,
}

impl RunPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enqueuing => "enqueuing",
            Self::Enqueued => "enqueued",
            Self::Abandoned => "abandoned",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "enqueuing" => Some(Self::Enqueuing),
            "enqueued" => Some(Self::Enqueued),
            "abandoned" => Some(Self::Abandoned),
            _ => None,
        }
    }
}

/// One sweep as the coordinator stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRow {
    /// The run ([`crate::ids::RunId`]); `sweep_id` on the wire (see [`JobRow::run_id`]).
    #[serde(rename = "sweep_id")]
    pub run_id: String,
    pub task: String,
    pub scheduled_ms: i64,
    pub phase: RunPhase,
    /// Customer id of the last site whose message was sent (keyset cursor, in the rotated
    /// order `pipeline::rotation::rank` defines).
    pub cursor: Option<String>,
    /// Where the fan-out started: it sends the sites after this customer id, then wraps to the
    /// first and stops at it (`None`: from the first to the last). An optimization sweep starts
    /// where the previous sweep of its task stopped ([`runs::open`]), so no site is starved by
    /// its position in the id order.
    #[serde(default)]
    pub origin: Option<String>,
    /// Whether the fan-out sends each block of its order by ledger shard
    /// (`pipeline::rotation::by_shard`), which changes how its work front is read
    /// (`pipeline::rotation::next_origin`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_shard: bool,
    /// Active sites when the sweep opened; replaced by `enqueued` when the fan-out ends.
    pub expected: u64,
    pub enqueued: u64,
    pub opened_ms: i64,
    /// A producer working the fan-out holds it until this instant.
    pub producer_lease_until_ms: i64,
    /// The token of the producer holding the lease: page and finish reports from any other
    /// producer (one that outlived its lease) are refused, so no page is counted twice.
    pub producer_owner: Option<String>,
    pub fanout_done_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    /// How many times the cron fired for this sweep (1 = no duplicate firing).
    pub firings: u32,
    /// When a fan-in asked, the first time the run was complete, for the run's final job
    /// ([`runs::request_finalize`]); only that request was answered `Enqueue`.
    #[serde(default)]
    pub finalize_requested_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRun {
    /// The run ([`crate::ids::RunId`]); `sweep_id` on the wire (see [`JobRow::run_id`]).
    #[serde(rename = "sweep_id")]
    pub run_id: String,
    /// A token unique to this producer invocation.
    pub owner: String,
    pub task: String,
    pub scheduled_ms: i64,
    /// Active sites now (the registry's count), the first estimate of `expected`.
    pub expected: u64,
    pub now_ms: i64,
    pub lease_ms: i64,
    /// Where the work of the task's newest sweeps stands, one front per job shard that has one
    /// ([`heads`]): a new optimization sweep starts after the furthest of the previous sweep's
    /// (`pipeline::rotation::next_origin`). Empty from an older producer and for report runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub work_fronts: Vec<heads::WorkFront>,
    /// Job shards whose front could not be read: a sweep after one sent by shard then starts
    /// at the previous sweep's origin, not at the nearest front (the unread shard's work may be
    /// behind it). Zero from an older producer.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unread_shards: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum OpenDecision {
    /// A new sweep: fan out after `origin` (from the first site when `None`), wrapping round.
    Start {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin: Option<String>,
        /// Send each block of the order by ledger shard ([`RunRow::by_shard`]).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        by_shard: bool,
    },
    /// A producer died mid-fan-out (or this producer retries its own fan-out): continue after
    /// `cursor` in the order that starts after `origin`.
    Resume {
        cursor: Option<String>,
        enqueued: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        by_shard: bool,
    },
    /// The fan-out already finished: a duplicate firing, enqueue nothing.
    AlreadyEnqueued,
    /// Another producer is fanning out right now: enqueue nothing.
    InProgress { lease_until_ms: i64 },
    /// An optimization sweep whose fan-out finished more than a producer lease ago and which
    /// has not been seen complete is fired again: send every site's job once more, counting
    /// nothing (a job that ended absorbs its copy as a duplicate; one lost in transit, e.g.
    /// by a local queue that lived only in memory across a restart, is worked). Cloudflare's
    /// own duplicate firings come within seconds and never re-drive.
    Redrive {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        by_shard: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageDone {
    /// The run ([`crate::ids::RunId`]); `sweep_id` on the wire (see [`JobRow::run_id`]).
    #[serde(rename = "sweep_id")]
    pub run_id: String,
    /// The token the sweep was opened or resumed with.
    pub owner: String,
    /// Customer id of the last site of the page.
    pub cursor: String,
    /// Messages sent for this page.
    pub added: u64,
    pub now_ms: i64,
    pub lease_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanoutDone {
    /// The run ([`crate::ids::RunId`]); `sweep_id` on the wire (see [`JobRow::run_id`]).
    #[serde(rename = "sweep_id")]
    pub run_id: String,
    pub owner: String,
    pub now_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressRequest {
    /// The run ([`crate::ids::RunId`]); `sweep_id` on the wire (see [`JobRow::run_id`]).
    #[serde(rename = "sweep_id")]
    pub run_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentRequest {
    pub limit: u32,
}

/// Asks the coordinator whether a run's final (fan-in) job is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalizeRequest {
    /// The report run; `sweep_id` on the wire, which an old and a new Worker version share
    /// during a deploy.
    #[serde(rename = "sweep_id")]
    pub run_id: String,
    pub now_ms: i64,
}

/// The coordinator's answer to a [`FinalizeRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum FinalizeDecision {
    /// Some job of the run has not ended yet (or the fan-out is still going, or the run is
    /// unknown): nothing to do; the request of the run's last job will see it complete.
    NotComplete,
    /// The run is complete and this is the first request to see it: enqueue the final job.
    Enqueue,
    /// An earlier request was answered [`Self::Enqueue`] at `at_ms`. Sending the final job
    /// again is harmless (the ledger deduplicates it by job id), which is how a caller whose
    /// send failed after an `Enqueue` recovers on its retry.
    AlreadyRequested { at_ms: i64 },
}

/// A sweep's progress as operators and tests see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunProgress {
    /// The run ([`crate::ids::RunId`]); `sweep_id` on the wire (see [`JobRow::run_id`]).
    #[serde(rename = "sweep_id")]
    pub run_id: String,
    pub task: String,
    pub scheduled_ms: i64,
    pub phase: RunPhase,
    pub expected: u64,
    pub enqueued: u64,
    pub in_flight: u64,
    pub retrying: u64,
    pub succeeded: u64,
    pub dead: u64,
    pub superseded: u64,
    pub duplicates: u64,
    pub firings: u32,
    pub started_ms: i64,
    pub fanout_done_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    /// Every expected job ended (succeeded, dead or superseded).
    pub complete: bool,
}

#[cfg(test)]
mod compact_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod wire_names;
