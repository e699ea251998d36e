//! The post-deploy canary's pure parts. `cargo xtask deploy --env X` ends with it and `cargo
//! xtask canary` runs it alone: through the environment's admin API it checks `/health`,
//! registers [`SITES`] canary sites, starts one optimization run over them alone
//! (`POST /api/canary`), waits for the run to complete, reads each site's result back, and
//! gives a verdict ([`verdict`]).
//!
//! A canary never disturbs customers. Its sites are customer ids under the reserved prefix
//! [`PREFIX`], registered *inactive* (the admin API refuses an active one), so sweeps, monthly
//! analytics and the health check's site probes never see them; its run is a task of its own
//! ([`crate::schedule::Task::Canary`], run id `{env}.canary.{time}`), so its jobs have their
//! own ledger lanes (never superseding nor superseded by a sweep) and no daily rollup counts
//! them. What it exercises is the real path: the dispatcher's fan-out to the optimize queue,
//! the optimizer, the three elite workers, R2 and the ledger.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{rfc3339, CustomerId, RunId};
use crate::ledger::RunProgress;
use crate::optimization::{optimization_key, OptimizationResult};
use crate::reports::health::CANARY_SITE_URL;
use crate::schedule::Task;

/// The canary's task name, in its run ids.
pub const TASK: &str = "canary";
/// The reserved prefix of canary customer ids.
pub const PREFIX: &str = "canary-";
/// How many canary sites a canary run works: enough to touch several ledger shards and run
/// two jobs side by side in one consumer invocation, few enough to cost nothing.
pub const SITES: usize = 3;

/// Whether `customer_id` names a canary site.
pub fn is_canary(customer_id: &str) -> bool {
    customer_id.starts_with(PREFIX)
}

/// The canary sites' customer ids: `canary-1`, `canary-2`, ...
pub fn site_ids() -> Vec<CustomerId> {
    (1..=SITES).map(|n| CustomerId::parse(&format!("{PREFIX}{n}")).expect("a valid customer id")).collect()
}

/// The body of `POST /api/sites` that registers one canary site: inactive, at the health
/// check's canary URL (which the elite workers already know as a probe).
pub fn registration(customer_id: &CustomerId) -> serde_json::Value {
    serde_json::json!({
        "customer_id": customer_id.as_str(),
        "url": CANARY_SITE_URL,
        "plan": "starter",
        "name": "canary (post-deploy smoke check)",
        "active": false,
    })
}

/// The run id of a canary started at `at` (to the second).
pub fn run_id(environment: &str, at: DateTime<Utc>) -> RunId {
    RunId::new(environment, Task::Canary, at)
}

/// The answer of `POST /api/canary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    pub run_id: String,
    /// RFC 3339: the run's scheduled time.
    pub scheduled_at: String,
    /// Jobs sent.
    pub sent: u64,
    /// Per canary site sent: its customer id and the R2 key its result will be written at.
    pub results: Vec<(String, String)>,
}

impl Started {
    /// The answer for a run scheduled at `at` that sent `sent` jobs for `sites`.
    pub fn new(run_id: &RunId, at: DateTime<Utc>, sent: u64, sites: &[CustomerId]) -> Self {
        Self {
            run_id: run_id.as_str().to_owned(),
            scheduled_at: rfc3339(at),
            sent,
            results: sites.iter().map(|c| (c.as_str().to_owned(), optimization_key(c, at))).collect(),
        }
    }
}

/// Everything the canary saw, for [`verdict`].
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// `/health`: `Err` with what came back instead of a 200.
    pub health: Option<Result<(), String>>,
    /// The run, once started, as the ledger last reported it.
    pub progress: Option<RunProgress>,
    /// Per canary site: its result object, or why it could not be read.
    pub results: Vec<(String, Result<OptimizationResult, String>)>,
    /// Whether waiting for the run to complete ran out of time.
    pub timed_out: bool,
    /// The log lines of the canary's time in which an invocation reported overrunning a
    /// per-invocation limit (`None`: no log could be read).
    pub overruns: Option<Vec<String>>,
}

/// The canary's verdict: it passes only when every check passed; `findings` says what was
/// seen, one line each, failures first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub pass: bool,
    pub findings: Vec<String>,
}

/// Judges a canary run `run_id` of [`SITES`] sites from what was observed.
pub fn verdict(run_id: &str, observed: &Observed) -> Verdict {
    let mut failed = Vec::new();
    let mut passed = Vec::new();
    match &observed.health {
        Some(Ok(())) => passed.push("health: the dispatcher answers /health".to_owned()),
        Some(Err(e)) => failed.push(format!("health: {e}")),
        None => failed.push("health: not checked".to_owned()),
    }
    match &observed.progress {
        None => failed.push(format!("run {run_id}: never reported by the ledger")),
        Some(p) if p.expected != SITES as u64 => failed.push(format!("run {run_id}: expected {} jobs, not {SITES}", p.expected)),
        Some(p) if !p.complete || observed.timed_out => failed.push(format!(
            "run {run_id}: not complete in time ({} succeeded, {} dead, {} in flight, {} retrying of {})",
            p.succeeded, p.dead, p.in_flight, p.retrying, p.expected
        )),
        Some(p) if p.succeeded != p.expected => {
            failed.push(format!("run {run_id}: {} of {} succeeded ({} dead, {} superseded)", p.succeeded, p.expected, p.dead, p.superseded))
        }
        Some(p) => passed.push(format!("run {run_id}: all {} jobs succeeded", p.expected)),
    }
    if observed.results.len() != SITES {
        failed.push(format!("results: {} of {SITES} canary sites were read", observed.results.len()));
    }
    for (customer, result) in &observed.results {
        match result {
            Ok(r) if r.job_id == format!("{run_id}.{customer}") => passed.push(format!(
                "result of {customer}: written by this run (scores {}, {}, {})",
                r.brand.score, r.designer.score, r.developer.score
            )),
            Ok(r) => failed.push(format!("result of {customer}: written by job {}, not by this run", r.job_id)),
            Err(e) => failed.push(format!("result of {customer}: {e}")),
        }
    }
    match &observed.overruns {
        Some(lines) if lines.is_empty() => passed.push("limits: no invocation reported an overrun in the logs".to_owned()),
        Some(lines) => failed.extend(lines.iter().map(|l| format!("limits: an invocation overran: {l}"))),
        None => {}
    }
    let pass = failed.is_empty();
    failed.extend(passed);
    Verdict { pass, findings: failed }
}

#[cfg(test)]
mod tests;
