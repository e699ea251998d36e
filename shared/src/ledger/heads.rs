//! Latest-wins across a task's sweeps, and where their work stands. Each job shard keeps one
//! small row per optimization task ([`HeadRow`]):
//!
//! - its *head*: the scheduled time of the newest sweep whose fan-out finished, announced by
//!   that sweep's producer ([`HeadRequest::announce_ms`]). A claim of an older sweep's job is
//!   then superseded without work ([`newest_started`], called by `jobs::claim`), so under
//!   overload the consumers skip what is already stale instead of working a growing backlog.
//!   The head moves only once the newer fan-out *finished*: every site whose older job is
//!   skipped has a newer job in the queue (a newer firing that failed supersedes nothing).
//! - its *work front*: the last job claimed for a first attempt in the newest sweep worked so
//!   far in this shard ([`advance_front`]). The producer reads every shard's front before it
//!   opens the next sweep, and the sweep starts after the furthest of them in the previous
//!   sweep's order (`pipeline::rotation::next_origin`): the sites the previous sweep never
//!   reached are sent first, the sites it just worked last.
//!
//! The two together are the fairness rule of "Overload" in ARCHITECTURE.md.

use serde::{Deserialize, Serialize};

use super::jobs::JobTable;
use super::{is_optimization, JobClaim, StoreError};

/// One task's latest-wins row in a job shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadRow {
    /// The task (`optimize`).
    pub task: String,
    /// Scheduled time of the newest sweep whose fan-out finished; jobs of older sweeps are
    /// superseded. `i64::MIN` before any announcement.
    pub head_ms: i64,
    /// Where the work of the newest sweep worked so far stands in this shard.
    pub front: Option<WorkFront>,
}

/// The last job of a sweep claimed for its first attempt: where the consumers' work stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkFront {
    /// The sweep's scheduled time.
    pub scheduled_ms: i64,
    /// The job's subject (its customer).
    pub subject: String,
    /// When it was claimed (in a shard, the latest first attempt is its front).
    pub at_ms: i64,
    /// The sweep's run id (empty in a row written by an older build).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub run_id: String,
    /// Jobs of the sweep this shard has ended (succeeded, dead or superseded) as of the read:
    /// filled by the head route, never stored. Summed over the shards, it says whether the
    /// sweep was worked through (`pipeline::rotation::worked_through`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<u64>,
}

/// Body of the job shards' head route: reads the task's row, after raising its head to
/// `announce_ms` when one is given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadRequest {
    pub task: String,
    /// The scheduled time of a sweep whose fan-out just finished.
    #[serde(default)]
    pub announce_ms: Option<i64>,
}

/// The task of a run id (`{env}.{task}.{slot}`).
pub fn task_of(run_id: &str) -> &str {
    run_id.split('.').nth(1).unwrap_or("")
}

fn row_of(table: &impl JobTable, task: &str) -> Result<HeadRow, StoreError> {
    Ok(table.head(task)?.unwrap_or(HeadRow { task: task.to_owned(), head_ms: i64::MIN, front: None }))
}

/// Answers a [`HeadRequest`]: the task's row, its head raised to the announced time (a head
/// never moves back: a late announcement of an older sweep changes nothing), its front with
/// the jobs of the front's sweep this shard has ended.
pub fn head(table: &mut impl JobTable, req: &HeadRequest) -> Result<HeadRow, StoreError> {
    let mut row = row_of(table, &req.task)?;
    if let Some(at) = req.announce_ms.filter(|at| *at > row.head_ms) {
        row.head_ms = at;
        table.put_head(&row)?;
    }
    if let Some(front) = row.front.as_mut().filter(|f| !f.run_id.is_empty()) {
        let counts = table.counts(&front.run_id)?;
        front.ended = Some(counts.succeeded + counts.dead + counts.superseded);
    }
    Ok(row)
}

/// The scheduled time of the newest sweep started (fan-out finished) for the claim's task, or
/// `i64::MIN` when none supersedes it: a replay is never superseded, and only optimization
/// sweeps share lanes.
pub(super) fn newest_started(table: &impl JobTable, c: &JobClaim) -> Result<i64, StoreError> {
    if c.replay || !is_optimization(&c.run_id) {
        return Ok(i64::MIN);
    }
    Ok(table.head(task_of(&c.run_id))?.map_or(i64::MIN, |r| r.head_ms))
}

/// Records a first attempt's claim as the task's work front, unless the front is already in a
/// newer sweep. Retries and replays do not move it: they are not where the work stands.
pub(super) fn advance_front(table: &mut impl JobTable, c: &JobClaim, now_ms: i64) -> Result<(), StoreError> {
    if c.replay || !is_optimization(&c.run_id) {
        return Ok(());
    }
    let mut row = row_of(table, task_of(&c.run_id))?;
    if row.front.as_ref().is_some_and(|f| f.scheduled_ms > c.scheduled_ms) {
        return Ok(());
    }
    row.front =
        Some(WorkFront { scheduled_ms: c.scheduled_ms, subject: c.subject.clone(), at_ms: now_ms, run_id: c.run_id.clone(), ended: None });
    table.put_head(&row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::jobs::{claim, complete};
    use crate::ledger::{ClaimDecision, JobOutcome, Recovery, Verdict};
    use crate::testkit::ledger::MemoryJobTable;

    const LEASE: i64 = 30_000;

    fn job(sweep: u32, customer: &str) -> JobClaim {
        let run_id = format!("l.optimize.s{sweep}");
        JobClaim {
            job_id: format!("{run_id}.{customer}"),
            run_id,
            subject: customer.into(),
            scheduled_ms: i64::from(sweep) * 180_000,
            replay: false,
            replay_at_ms: None,
        }
    }

    fn check(t: &mut MemoryJobTable, c: &JobClaim, now: i64, expected: ClaimDecision) {
        assert_eq!(claim(t, c, now, LEASE).unwrap(), expected, "claim of {} at {now}", c.job_id);
    }

    fn announce(t: &mut MemoryJobTable, sweep: u32) -> HeadRow {
        head(t, &HeadRequest { task: "optimize".into(), announce_ms: Some(i64::from(sweep) * 180_000) }).unwrap()
    }

    #[test]
    fn overload_an_older_sweeps_job_is_superseded_once_a_newer_fan_out_finished() {
        let mut t = MemoryJobTable::default();
        let work = ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh };
        check(&mut t, &job(1, "a"), 0, work.clone());
        // Sweep 2 opened but its fan-out has not finished: sweep 1 is still worked.
        check(&mut t, &job(1, "b"), 1, work.clone());
        announce(&mut t, 2);
        // Sweep 2's job for "c" is queued: sweep 1's is skipped without work.
        check(&mut t, &job(1, "c"), 2, ClaimDecision::Superseded);
        assert_eq!(t.counts("l.optimize.s1").unwrap().superseded, 1);
        // A late announcement of an older sweep moves nothing back.
        assert_eq!(announce(&mut t, 1).head_ms, 2 * 180_000);
        check(&mut t, &job(1, "d"), 3, ClaimDecision::Superseded);
        // Sweep 2 and a replay of sweep 1 are worked; report runs are not optimization sweeps.
        check(&mut t, &job(2, "c"), 4, work.clone());
        check(&mut t, &JobClaim { replay: true, ..job(1, "e") }, 5, work.clone());
        let report =
            JobClaim { run_id: "l.monthly-analytics.2027-01".into(), job_id: "l.monthly-analytics.2027-01.a".into(), ..job(1, "a") };
        check(&mut t, &report, 6, work);
    }

    #[test]
    fn overload_a_crashed_attempt_of_a_superseded_sweep_is_looked_for_not_discarded() {
        let mut t = MemoryJobTable::default();
        check(&mut t, &job(1, "a"), 0, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
        announce(&mut t, 2);
        check(&mut t, &job(1, "a"), LEASE + 1, ClaimDecision::Work { attempt: 2, recovery: Recovery::LookOnly });
        let found = JobOutcome { job_id: job(1, "a").job_id, attempt: 2, error: None, superseded: false, metrics: None };
        assert_eq!(complete(&mut t, &found, LEASE + 2, 3).unwrap(), Verdict::Ack);
        assert_eq!(t.counts("l.optimize.s1").unwrap().succeeded, 1);
    }

    #[test]
    fn overload_the_work_front_is_the_newest_sweeps_latest_first_attempt() {
        let mut t = MemoryJobTable::default();
        let front = |t: &mut MemoryJobTable| head(t, &HeadRequest { task: "optimize".into(), announce_ms: None }).unwrap().front;
        assert_eq!(front(&mut t), None);
        claim(&mut t, &job(1, "a"), 10, LEASE).unwrap();
        claim(&mut t, &job(1, "b"), 20, LEASE).unwrap();
        let ended = |sweep: u32, subject: &str, at_ms: i64, ended: u64| WorkFront {
            scheduled_ms: i64::from(sweep) * 180_000,
            subject: subject.into(),
            at_ms,
            run_id: format!("l.optimize.s{sweep}"),
            ended: Some(ended),
        };
        assert_eq!(front(&mut t), Some(ended(1, "b", 20, 0)));
        let done = JobOutcome { job_id: job(1, "b").job_id, attempt: 1, error: None, superseded: false, metrics: None };
        complete(&mut t, &done, 21, 3).unwrap();
        assert_eq!(front(&mut t), Some(ended(1, "b", 20, 1)), "the shard's ended jobs of the front's sweep, as of the read");
        // A retry (second attempt) and a replay do not move it; a newer sweep does, and an
        // older sweep's first attempt then does not.
        claim(&mut t, &job(1, "a"), LEASE + 11, LEASE).unwrap();
        claim(&mut t, &job(2, "c"), LEASE + 12, LEASE).unwrap();
        claim(&mut t, &job(1, "d"), LEASE + 13, LEASE).unwrap();
        claim(&mut t, &JobClaim { replay: true, ..job(0, "e") }, LEASE + 14, LEASE).unwrap();
        assert_eq!(front(&mut t), Some(ended(2, "c", LEASE + 12, 0)));
    }
}
