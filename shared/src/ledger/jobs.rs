//! The job shard's state machine: claiming a delivered job (fresh, duplicate, superseded,
//! busy, or recovered after a crash) and completing it (succeeded, retry, dead). Storage is a
//! [`JobTable`]; the Durable Object backs it with SQLite, the simulation with maps.
//!
//! Every entry of an optimization job into `Succeeded` or `Dead` also counts in its customer's
//! daily rollup ([`super::rollups`]), through the same table, so in the same transaction.

use super::heads::{self, HeadRow};
use super::rollups::{self, Ended};
use super::{
    is_optimization, lane_of, ClaimDecision, ClaimRequest, ClaimResponse, CompleteRequest, CompleteResponse, JobClaim, JobMetrics,
    JobOutcome, JobRow, JobState, Recovery, ShardCounts, SiteRow, StoreError, Verdict,
};
use crate::error::{ErrorClass, JobError};
use crate::reports::analytics::DailyRollup;

/// The rows a job shard keeps. Every call is one small keyed read or write.
pub trait JobTable {
    fn job(&self, job_id: &str) -> Result<Option<JobRow>, StoreError>;
    fn put_job(&mut self, row: &JobRow) -> Result<(), StoreError>;
    /// The row of lane `lane` ([`super::lane_of`]).
    fn site(&self, lane: &str) -> Result<Option<SiteRow>, StoreError>;
    fn put_site(&mut self, row: &SiteRow) -> Result<(), StoreError>;
    /// Counters of `run_id`, zero when the run is unknown to this shard.
    fn counts(&self, run_id: &str) -> Result<ShardCounts, StoreError>;
    fn put_counts(&mut self, counts: &ShardCounts) -> Result<(), StoreError>;
    /// The customer's rollup of `day` (`YYYY-MM-DD`), if any run counted in it.
    fn rollup(&self, customer_id: &str, day: &str) -> Result<Option<DailyRollup>, StoreError>;
    /// Stores a rollup and marks it for the next flush to D1.
    fn put_rollup(&mut self, rollup: &DailyRollup) -> Result<(), StoreError>;
    /// The latest-wins row of `task` ([`super::heads`]), if any.
    fn head(&self, task: &str) -> Result<Option<HeadRow>, StoreError>;
    fn put_head(&mut self, row: &HeadRow) -> Result<(), StoreError>;
}

/// Moves one job between states in its run's counters.
fn shift(counts: &mut ShardCounts, from: Option<JobState>, to: JobState, now_ms: i64) {
    if let Some(from) = from {
        let field = field_mut(counts, from);
        *field = field.saturating_sub(1);
    }
    *field_mut(counts, to) += 1;
    if to.is_terminal() {
        counts.last_terminal_ms = Some(counts.last_terminal_ms.map_or(now_ms, |t| t.max(now_ms)));
    }
}

fn field_mut(c: &mut ShardCounts, s: JobState) -> &mut u64 {
    match s {
        JobState::InFlight => &mut c.in_flight,
        JobState::Retrying => &mut c.retrying,
        JobState::Succeeded => &mut c.succeeded,
        JobState::Dead => &mut c.dead,
        JobState::Superseded => &mut c.superseded,
    }
}

/// Claims every job of a consumer batch, in order.
pub fn claim_batch(table: &mut impl JobTable, request: &ClaimRequest) -> Result<ClaimResponse, StoreError> {
    let decisions = request.claims.iter().map(|c| claim(table, c, request.now_ms, request.lease_ms)).collect::<Result<_, _>>()?;
    Ok(ClaimResponse { decisions })
}

/// Decides what one delivery of a job means.
pub fn claim(table: &mut impl JobTable, c: &JobClaim, now_ms: i64, lease_ms: i64) -> Result<ClaimDecision, StoreError> {
    let existing = table.job(&c.job_id)?;
    let mut counts = table.counts(&c.run_id)?;
    counts.run_id.clone_from(&c.run_id);

    // A job that already ended absorbs the redelivery; a replay revives a job that died before
    // it was planned (a copy of it delivered after the revived job died again is a redelivery).
    if let Some(job) = &existing {
        let revives = c.replay && job.state == JobState::Dead && c.replay_at_ms.is_none_or(|at| job.updated_ms <= at);
        if job.state.is_terminal() && !revives {
            counts.duplicates += 1;
            table.put_counts(&counts)?;
            if job.state == JobState::Dead {
                let error = job.last_error.clone().unwrap_or_else(|| JobError::permanent("dead (reason not recorded)"));
                return Ok(ClaimDecision::AlreadyDead { attempts: job.attempts, error });
            }
            return Ok(ClaimDecision::Duplicate);
        }
    }

    let lane = lane_of(&c.run_id, &c.subject);
    let mut site = table.site(&lane)?.unwrap_or(SiteRow {
        lane: lane.clone(),
        newest_scheduled_ms: i64::MIN,
        active_job: None,
        active_lease_until_ms: 0,
    });

    // An older sweep's job never runs once a newer sweep has claimed the site, or once a newer
    // sweep of its task finished its fan-out (latest-wins: its job for this site is queued).
    // An attempt of it that crashed may have written its result, though: that is recovered,
    // not discarded.
    let newer = site.newest_scheduled_ms.max(heads::newest_started(table, c)?);
    if newer > c.scheduled_ms && !c.replay {
        // Any earlier attempt (in flight, or retrying after a failure that may have come after
        // its write) may have left a result in R2.
        if let Some(job) = existing.as_ref().filter(|j| j.attempts > 0 && !j.state.is_terminal()) {
            if job.lease_until_ms > now_ms {
                return Ok(ClaimDecision::Busy { retry_after_ms: job.lease_until_ms - now_ms });
            }
            let attempt = job.attempts + 1;
            table.put_job(&JobRow { attempts: attempt, lease_until_ms: now_ms + lease_ms, updated_ms: now_ms, ..job.clone() })?;
            return Ok(ClaimDecision::Work { attempt, recovery: Recovery::LookOnly });
        }
        let from = existing.as_ref().map(|j| j.state);
        table.put_job(&JobRow {
            job_id: c.job_id.clone(),
            run_id: c.run_id.clone(),
            subject: c.subject.clone(),
            scheduled_ms: c.scheduled_ms,
            state: JobState::Superseded,
            attempts: existing.as_ref().map_or(0, |j| j.attempts),
            lease_until_ms: 0,
            last_error: existing.as_ref().and_then(|j| j.last_error.clone()),
            updated_ms: now_ms,
        })?;
        shift(&mut counts, from, JobState::Superseded, now_ms);
        table.put_counts(&counts)?;
        return Ok(ClaimDecision::Superseded);
    }

    // One job at a time per site: wait while another live lease holds it (that includes an
    // earlier delivery of this very job, which may still finish).
    if site.active_job.is_some() && site.active_lease_until_ms > now_ms {
        return Ok(ClaimDecision::Busy { retry_after_ms: site.active_lease_until_ms - now_ms });
    }

    // Work it. An in-flight row here means its lease lapsed: the holder died before it
    // reported, possibly after writing the result.
    let recovery = if existing.as_ref().is_some_and(|j| j.state == JobState::InFlight) { Recovery::LookFirst } else { Recovery::Fresh };
    let attempts = existing.as_ref().map_or(0, |j| j.attempts) + 1;
    let from = existing.as_ref().map(|j| j.state);
    let first_attempt = existing.is_none();
    if let Some(dead) = existing.as_ref().filter(|j| j.state == JobState::Dead) {
        // A replay revives a dead job: its death no longer counts; how it ends now will.
        take_back_from_rollup(table, dead)?;
    }
    table.put_job(&JobRow {
        job_id: c.job_id.clone(),
        run_id: c.run_id.clone(),
        subject: c.subject.clone(),
        scheduled_ms: c.scheduled_ms,
        state: JobState::InFlight,
        attempts,
        lease_until_ms: now_ms + lease_ms,
        last_error: existing.and_then(|j| j.last_error),
        updated_ms: now_ms,
    })?;
    if from != Some(JobState::InFlight) {
        shift(&mut counts, from, JobState::InFlight, now_ms);
        table.put_counts(&counts)?;
    }
    if first_attempt {
        heads::advance_front(table, c, now_ms)?;
    }
    site.newest_scheduled_ms = site.newest_scheduled_ms.max(c.scheduled_ms);
    site.active_job = Some(c.job_id.clone());
    site.active_lease_until_ms = now_ms + lease_ms;
    table.put_site(&site)?;
    Ok(ClaimDecision::Work { attempt: attempts, recovery })
}

/// Settles a job the queue dead-lettered on its own (see [`super::SettleRequest`]).
pub fn settle(table: &mut impl JobTable, req: &super::SettleRequest) -> Result<super::SettleDecision, StoreError> {
    use super::SettleDecision;
    let c = &req.claim;
    let existing = table.job(&c.job_id)?;
    if let Some(job) = &existing {
        if job.state == JobState::Dead {
            return Ok(SettleDecision::Dead { attempts: job.attempts });
        }
        if job.state.is_terminal() {
            return Ok(SettleDecision::Ended { state: job.state });
        }
        if job.state == JobState::InFlight && job.lease_until_ms > req.now_ms {
            return Ok(SettleDecision::Busy { retry_after_ms: job.lease_until_ms - req.now_ms });
        }
    }
    let (to, decision) = if req.written {
        (JobState::Succeeded, SettleDecision::Ended { state: JobState::Succeeded })
    } else {
        (JobState::Dead, SettleDecision::Dead { attempts: existing.as_ref().map_or(0, |j| j.attempts) })
    };
    let mut counts = table.counts(&c.run_id)?;
    counts.run_id.clone_from(&c.run_id);
    shift(&mut counts, existing.as_ref().map(|j| j.state), to, req.now_ms);
    table.put_counts(&counts)?;
    let job = JobRow {
        job_id: c.job_id.clone(),
        run_id: c.run_id.clone(),
        subject: c.subject.clone(),
        scheduled_ms: c.scheduled_ms,
        state: to,
        attempts: existing.as_ref().map_or(0, |j| j.attempts),
        lease_until_ms: 0,
        last_error: if req.written { existing.and_then(|j| j.last_error) } else { Some(req.error.clone()) },
        updated_ms: req.now_ms,
    };
    table.put_job(&job)?;
    // Nothing measured the attempts the queue gave up on: a run without duration or scores.
    let ended = if req.written { Ended::Succeeded } else { Ended::Dead(&req.error) };
    record_in_rollup(table, &job, ended, None)?;
    if let Some(mut site) = table.site(&lane_of(&c.run_id, &c.subject))? {
        if site.active_job.as_deref() == Some(c.job_id.as_str()) {
            site.active_job = None;
            site.active_lease_until_ms = 0;
            table.put_site(&site)?;
        }
    }
    Ok(decision)
}

/// Records how every worked job of a batch ended, in order.
pub fn complete_batch(table: &mut impl JobTable, request: &CompleteRequest) -> Result<CompleteResponse, StoreError> {
    let verdicts = request.outcomes.iter().map(|o| complete(table, o, request.now_ms, request.max_attempts)).collect::<Result<_, _>>()?;
    Ok(CompleteResponse { verdicts })
}

/// Records how one worked job ended and says what to do with its message.
pub fn complete(table: &mut impl JobTable, o: &JobOutcome, now_ms: i64, max_attempts: u32) -> Result<Verdict, StoreError> {
    let Some(mut job) = table.job(&o.job_id)? else {
        // Pruned or never claimed: nothing to record, and retrying cannot help.
        return Ok(Verdict::Ack);
    };
    let stale = job.attempts != o.attempt || job.state != JobState::InFlight;
    if job.state.is_terminal() {
        return Ok(Verdict::Ack);
    }
    // A stale failure belongs to an attempt another delivery has taken over: that delivery
    // will report. A stale success still counts: the result is written.
    if stale && o.error.is_some() {
        return Ok(Verdict::Ack);
    }
    let mut counts = table.counts(&job.run_id)?;
    counts.run_id.clone_from(&job.run_id);
    let from = job.state;
    let (to, verdict) = match &o.error {
        None if o.superseded => (JobState::Superseded, Verdict::Ack),
        None => (JobState::Succeeded, Verdict::Ack),
        Some(e) if e.class == ErrorClass::Transient && job.attempts < max_attempts => {
            (JobState::Retrying, Verdict::Retry { attempt: job.attempts })
        }
        Some(e) => {
            let error = if e.class == ErrorClass::Transient {
                JobError::new(ErrorClass::Transient, format!("gave up after {} attempts; last error: {}", job.attempts, e.message))
            } else {
                e.clone()
            };
            (JobState::Dead, Verdict::Dead { attempts: job.attempts, error })
        }
    };
    job.state = to;
    job.lease_until_ms = 0;
    job.updated_ms = now_ms;
    match &verdict {
        Verdict::Dead { error, .. } => job.last_error = Some(error.clone()),
        _ => {
            if let Some(e) = &o.error {
                job.last_error = Some(e.clone());
            }
        }
    }
    table.put_job(&job)?;
    shift(&mut counts, Some(from), to, now_ms);
    table.put_counts(&counts)?;
    match &verdict {
        Verdict::Ack if to == JobState::Succeeded => record_in_rollup(table, &job, Ended::Succeeded, o.metrics.as_ref())?,
        Verdict::Dead { error, .. } => record_in_rollup(table, &job, Ended::Dead(error), o.metrics.as_ref())?,
        _ => {}
    }
    if let Some(mut site) = table.site(&lane_of(&job.run_id, &job.subject))? {
        if site.active_job.as_deref() == Some(job.job_id.as_str()) {
            site.active_job = None;
            site.active_lease_until_ms = 0;
            table.put_site(&site)?;
        }
    }
    Ok(verdict)
}

/// Counts `job`'s entry into a terminal state in its customer's rollup ([`rollups::add`]),
/// through the same table and so in the same transaction as the state. Jobs of other tasks
/// (reports, health checks) are not optimization runs and count nowhere.
fn record_in_rollup(table: &mut impl JobTable, job: &JobRow, ended: Ended<'_>, metrics: Option<&JobMetrics>) -> Result<(), StoreError> {
    let Some(mut r) = rollup_of(table, job)? else { return Ok(()) };
    rollups::add(&mut r, ended, job.scheduled_ms, metrics);
    table.put_rollup(&r)
}

/// Takes back the death of `job` (still in its dead row) because a replay revives it.
fn take_back_from_rollup(table: &mut impl JobTable, job: &JobRow) -> Result<(), StoreError> {
    let Some(mut r) = rollup_of(table, job)? else { return Ok(()) };
    rollups::take_back_death(&mut r, job.last_error.as_ref());
    table.put_rollup(&r)
}

/// The rollup `job` counts in, as stored or empty; `None` when it counts in none.
fn rollup_of(table: &impl JobTable, job: &JobRow) -> Result<Option<DailyRollup>, StoreError> {
    if !is_optimization(&job.run_id) {
        return Ok(None);
    }
    let Some(day) = rollups::day_of(job.scheduled_ms) else { return Ok(None) };
    // An optimization job's subject is its customer.
    Ok(Some(table.rollup(&job.subject, &day)?.unwrap_or_else(|| rollups::empty(&job.subject, &day))))
}
