//! How a job shard keeps its rows few and writes each at most once per request: the
//! [`JobTable`] the decisions run over, kept in a smaller form ([`ShardRows`]) that the
//! Durable Object stores in SQLite and the tests in maps.
//!
//! Cloudflare bills a SQLite Durable Object per row written (indexes included), so the shape
//! of the stored rows is the ledger's cost. A request's decisions read and write through a
//! per-request cache; [`CompactJobTable::finish`] then writes each changed row once:
//! - a lane ([`LaneRow`]: the lane's [`SiteRow`], the attempts of its active job and the
//!   minutes of its succeeded jobs), whatever number of times the decisions put it;
//! - an optimization job that *succeeded* (on a whole minute) becomes a bit of its lane's
//!   [`DoneSet`] and its row goes: its later deliveries still read as succeeded;
//! - an optimization job *in flight* as its lane's active job, without an error, lives in the
//!   lane (the active job, its lease and its attempts): no row of its own;
//! - every other job (retrying, dead, superseded, in flight after a failure or as an older
//!   sweep's recovery, any report job) keeps its row;
//! - a run's counters and a customer's rollup of a day, once each.
//!
//! On the happy path a job therefore writes its lane at the claim and its lane and rollup at
//! the complete. Decisions are unchanged: `jobs::claim`, `jobs::complete` and `jobs::settle`
//! read exactly the rows they would read from full rows (a test compares both over random
//! deliveries), except that a succeeded job read back has lost its attempts, its last error (of
//! an earlier attempt) and its update time, which no decision reads.
//!
//! One environment per ledger: a folded job is found again by its lane and its scheduled
//! minute, read from the job id (`{env}.optimize.{basic timestamp}.{customer}`).

use std::collections::BTreeMap;

use super::done_set::DoneSet;
use super::heads::HeadRow;
use super::jobs::JobTable;
use super::{is_optimization, lane_of, JobRow, JobState, ShardCounts, SiteRow, StoreError};
use crate::reports::analytics::DailyRollup;

/// A lane as stored: its [`SiteRow`], the attempts of its active job when that job has no row
/// of its own, and the minutes of its succeeded optimization jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneRow {
    pub site: SiteRow,
    /// The active job's attempts when it lives in the lane (`0`: it has a row, or none is active).
    pub active_attempts: u32,
    pub done: DoneSet,
}

/// The rows a job shard stores, each a keyed read or a whole-row write.
pub trait ShardRows {
    fn job(&self, job_id: &str) -> Result<Option<JobRow>, StoreError>;
    fn put_job(&mut self, row: &JobRow) -> Result<(), StoreError>;
    fn delete_job(&mut self, job_id: &str) -> Result<(), StoreError>;
    fn lane(&self, lane: &str) -> Result<Option<LaneRow>, StoreError>;
    fn put_lane(&mut self, row: &LaneRow) -> Result<(), StoreError>;
    fn counts(&self, run_id: &str) -> Result<Option<ShardCounts>, StoreError>;
    fn put_counts(&mut self, counts: &ShardCounts) -> Result<(), StoreError>;
    fn rollup(&self, customer_id: &str, day: &str) -> Result<Option<DailyRollup>, StoreError>;
    fn put_rollup(&mut self, rollup: &DailyRollup) -> Result<(), StoreError>;
    /// The task's latest-wins row ([`super::heads`]).
    fn head(&self, task: &str) -> Result<Option<HeadRow>, StoreError>;
    fn put_head(&mut self, row: &HeadRow) -> Result<(), StoreError>;
}

/// A cached job: its row as the decisions see it, whether a row is stored, and whether it changed.
#[derive(Debug, Clone)]
struct CachedJob {
    row: Option<JobRow>,
    stored: bool,
    dirty: bool,
}

/// A cached lane: as stored (`None`: no row yet), as now, and whether it changed.
#[derive(Debug, Clone)]
struct CachedLane {
    stored: Option<LaneRow>,
    now: Option<LaneRow>,
}

/// The decisions' [`JobTable`] over [`ShardRows`], for one request: create it, run the
/// decisions, then [`Self::finish`].
pub struct CompactJobTable<'a, S: ShardRows> {
    rows: &'a mut S,
    /// Minutes a lane remembers its succeeded jobs: the job retention.
    keep_minutes: i64,
    jobs: BTreeMap<String, CachedJob>,
    lanes: BTreeMap<String, CachedLane>,
    counts: BTreeMap<String, ShardCounts>,
    rollups: BTreeMap<(String, String), DailyRollup>,
    /// Heads changed by this request (a work front moves with every first claim: written once).
    heads: BTreeMap<String, HeadRow>,
}

impl<'a, S: ShardRows> CompactJobTable<'a, S> {
    pub fn new(rows: &'a mut S, retention_hours: u32) -> Self {
        Self {
            rows,
            keep_minutes: i64::from(retention_hours) * 60,
            jobs: BTreeMap::new(),
            lanes: BTreeMap::new(),
            counts: BTreeMap::new(),
            rollups: BTreeMap::new(),
            heads: BTreeMap::new(),
        }
    }

    /// Runs `decision` over a table for one request, then writes what it changed.
    pub fn batch<T>(
        rows: &'a mut S,
        retention_hours: u32,
        decision: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut table = Self::new(rows, retention_hours);
        let answer = decision(&mut table)?;
        table.finish()?;
        Ok(answer)
    }

    fn cached_lane(&mut self, lane: &str) -> Result<&mut CachedLane, StoreError> {
        if !self.lanes.contains_key(lane) {
            let stored = self.rows.lane(lane)?;
            self.lanes.insert(lane.to_owned(), CachedLane { now: stored.clone(), stored });
        }
        Ok(self.lanes.get_mut(lane).expect("just cached"))
    }

    /// Writes every changed row once.
    pub fn finish(mut self) -> Result<(), StoreError> {
        let jobs = std::mem::take(&mut self.jobs);
        for (job_id, cached) in &jobs {
            let Some(row) = cached.row.as_ref().filter(|_| cached.dirty) else { continue };
            let lane_key = lane_of(&row.run_id, &row.subject);
            let keep = self.keep_minutes;
            let lane = self.cached_lane(&lane_key)?;
            let folded = match lane.now.as_mut() {
                Some(lane) => {
                    if succeeded_minute(row).is_some_and(|m| lane.done.insert(m, keep)) {
                        if lane.site.active_job.as_deref() == Some(job_id.as_str()) {
                            lane.active_attempts = 0;
                        }
                        true
                    } else if lives_in_lane(row, &lane.site) {
                        lane.active_attempts = row.attempts;
                        true
                    } else {
                        // It has a row of its own now: the lane no longer answers for it (nor
                        // writes its older in-lane form over that row when another job takes over).
                        if lane.site.active_job.as_deref() == Some(job_id.as_str()) {
                            lane.active_attempts = 0;
                        }
                        false
                    }
                }
                None => false,
            };
            match (folded, cached.stored) {
                (true, true) => self.rows.delete_job(job_id)?,
                (true, false) => {}
                (false, _) => self.rows.put_job(row)?,
            }
        }
        for (key, lane) in std::mem::take(&mut self.lanes) {
            let Some(mut now) = lane.now else { continue };
            // An active job that lived in the lane and is no longer its active job (a newer one
            // took over its lapsed lease) needs a row of its own, unless it was written now.
            if let Some(old) = lane.stored.as_ref().filter(|old| old.active_attempts > 0) {
                let replaced = now.site.active_job != old.site.active_job;
                if let Some(job_id) = old.site.active_job.as_deref().filter(|id| replaced && !jobs.get(*id).is_some_and(|c| c.dirty)) {
                    if let Some(row) = in_lane_row(job_id, old) {
                        self.rows.put_job(&row)?;
                    }
                }
            }
            if now.site.active_job.is_none() {
                now.active_attempts = 0;
            }
            if lane.stored.as_ref() != Some(&now) {
                debug_assert_eq!(key, now.site.lane);
                self.rows.put_lane(&now)?;
            }
        }
        for counts in std::mem::take(&mut self.counts).into_values() {
            self.rows.put_counts(&counts)?;
        }
        for rollup in std::mem::take(&mut self.rollups).into_values() {
            self.rows.put_rollup(&rollup)?;
        }
        for head in std::mem::take(&mut self.heads).into_values() {
            if self.rows.head(&head.task)?.as_ref() != Some(&head) {
                self.rows.put_head(&head)?;
            }
        }
        Ok(())
    }
}

/// The scheduled minute of a succeeded optimization job that can be kept as a bit: its job id
/// must be exactly `{run}.{subject}` with the run's slot on a whole minute, so the id alone
/// finds the bit again.
fn succeeded_minute(row: &JobRow) -> Option<i64> {
    if row.state != JobState::Succeeded || !is_optimization(&row.run_id) || row.scheduled_ms % 60_000 != 0 {
        return None;
    }
    let (run, subject, scheduled_ms) = parse_job_id(&row.job_id)?;
    (run == row.run_id && subject == row.subject && scheduled_ms == row.scheduled_ms).then_some(scheduled_ms / 60_000)
}

/// Whether `row` is the lane's active job in flight, without an error, and so kept in the lane.
fn lives_in_lane(row: &JobRow, site: &SiteRow) -> bool {
    row.state == JobState::InFlight
        && row.last_error.is_none()
        && row.attempts > 0
        && site.active_job.as_deref() == Some(row.job_id.as_str())
        && site.active_lease_until_ms == row.lease_until_ms
        && is_optimization(&row.run_id)
        && parse_job_id(&row.job_id).is_some_and(|(run, subject, at)| run == row.run_id && subject == row.subject && at == row.scheduled_ms)
}

/// The in-flight row of the job that lives in `lane`.
fn in_lane_row(job_id: &str, lane: &LaneRow) -> Option<JobRow> {
    let (run, subject, scheduled_ms) = parse_job_id(job_id)?;
    Some(JobRow {
        job_id: job_id.to_owned(),
        run_id: run.to_owned(),
        subject: subject.to_owned(),
        scheduled_ms,
        state: JobState::InFlight,
        attempts: lane.active_attempts,
        lease_until_ms: lane.site.active_lease_until_ms,
        last_error: None,
        updated_ms: scheduled_ms,
    })
}

/// (run id, subject, scheduled ms) of an optimization job id `{env}.optimize.{basic}.{subject}`.
pub fn parse_job_id(job_id: &str) -> Option<(&str, &str, i64)> {
    let (run, subject) = job_id.rsplit_once('.')?;
    if !is_optimization(run) {
        return None;
    }
    let slot = run.rsplit('.').next()?;
    let at = chrono::NaiveDateTime::parse_from_str(slot, "%Y%m%dT%H%M%SZ").ok()?.and_utc();
    (crate::ids::basic_timestamp(at) == slot).then_some((run, subject, at.timestamp_millis()))
}

impl<S: ShardRows> JobTable for CompactJobTable<'_, S> {
    fn job(&self, job_id: &str) -> Result<Option<JobRow>, StoreError> {
        if let Some(cached) = self.jobs.get(job_id) {
            return Ok(cached.row.clone());
        }
        if let Some(row) = self.rows.job(job_id)? {
            return Ok(Some(row));
        }
        let Some((run, subject, scheduled_ms)) = parse_job_id(job_id) else { return Ok(None) };
        // The lane as stored: what the request changed of its jobs is in `self.jobs` already,
        // and its site may name another active job by now.
        let lane = match self.lanes.get(subject) {
            Some(cached) => cached.stored.clone(),
            None => self.rows.lane(subject)?,
        };
        let Some(lane) = lane else { return Ok(None) };
        if scheduled_ms % 60_000 == 0 && lane.done.contains(scheduled_ms / 60_000) {
            let row = JobRow {
                job_id: job_id.to_owned(),
                run_id: run.to_owned(),
                subject: subject.to_owned(),
                scheduled_ms,
                state: JobState::Succeeded,
                attempts: 0,
                lease_until_ms: 0,
                last_error: None,
                updated_ms: scheduled_ms,
            };
            return Ok(Some(row));
        }
        if lane.active_attempts > 0 && lane.site.active_job.as_deref() == Some(job_id) {
            return Ok(in_lane_row(job_id, &lane));
        }
        Ok(None)
    }

    fn put_job(&mut self, row: &JobRow) -> Result<(), StoreError> {
        if !self.jobs.contains_key(&row.job_id) {
            let stored = self.rows.job(&row.job_id)?.is_some();
            self.jobs.insert(row.job_id.clone(), CachedJob { row: None, stored, dirty: false });
        }
        let cached = self.jobs.get_mut(&row.job_id).expect("just cached");
        cached.row = Some(row.clone());
        cached.dirty = true;
        Ok(())
    }

    fn site(&self, lane: &str) -> Result<Option<SiteRow>, StoreError> {
        Ok(match self.lanes.get(lane) {
            Some(cached) => cached.now.as_ref().map(|l| l.site.clone()),
            None => self.rows.lane(lane)?.map(|l| l.site),
        })
    }

    fn put_site(&mut self, row: &SiteRow) -> Result<(), StoreError> {
        let lane = self.cached_lane(&row.lane)?;
        match lane.now.as_mut() {
            Some(now) => now.site = row.clone(),
            None => lane.now = Some(LaneRow { site: row.clone(), active_attempts: 0, done: DoneSet::default() }),
        }
        Ok(())
    }

    fn counts(&self, run_id: &str) -> Result<ShardCounts, StoreError> {
        if let Some(pending) = self.counts.get(run_id) {
            return Ok(pending.clone());
        }
        Ok(self.rows.counts(run_id)?.unwrap_or_else(|| ShardCounts { run_id: run_id.to_owned(), ..ShardCounts::default() }))
    }

    fn put_counts(&mut self, counts: &ShardCounts) -> Result<(), StoreError> {
        self.counts.insert(counts.run_id.clone(), counts.clone());
        Ok(())
    }

    fn rollup(&self, customer_id: &str, day: &str) -> Result<Option<DailyRollup>, StoreError> {
        if let Some(pending) = self.rollups.get(&(customer_id.to_owned(), day.to_owned())) {
            return Ok(Some(pending.clone()));
        }
        self.rows.rollup(customer_id, day)
    }

    fn put_rollup(&mut self, rollup: &DailyRollup) -> Result<(), StoreError> {
        self.rollups.insert((rollup.customer_id.clone(), rollup.day.clone()), rollup.clone());
        Ok(())
    }

    fn head(&self, task: &str) -> Result<Option<HeadRow>, StoreError> {
        match self.heads.get(task) {
            Some(pending) => Ok(Some(pending.clone())),
            None => self.rows.head(task),
        }
    }

    fn put_head(&mut self, row: &HeadRow) -> Result<(), StoreError> {
        self.heads.insert(row.task.clone(), row.clone());
        Ok(())
    }
}
