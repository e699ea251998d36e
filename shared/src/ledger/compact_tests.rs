//! The compact job shard decides exactly as full rows do: random requests (claims, completes,
//! settles, replays, of overlapping sweeps, with lapsed leases and redeliveries) run over the
//! full rows (`MemoryJobTable`) and over the compact rows (`CompactJobTable` over
//! `MemoryShardRows`), and every decision, verdict, counter, rollup and job state is compared.
//! The same requests also run written behind (`journal::Shard` over its own rows and journal),
//! folded and restarted at random: the same answers, and once folded, the same rows.

use super::compact::CompactJobTable;
use super::jobs::{claim_batch, complete_batch, settle, JobTable};
use super::journal::{Shard, ShardAnswer, ShardWrite};
use super::*;
use crate::backoff::Rng;
use crate::error::JobError;
use crate::ids::{from_epoch_ms, RunId};
use crate::schedule::Task;
use crate::testkit::ledger::{MemoryJobTable, MemoryJournal, MemoryShardRows};

const LEASE: i64 = 30_000;
const RETENTION_HOURS: u32 = 360;
const START_MS: i64 = 1_800_000_000_000 / 180_000 * 180_000;

/// A job shard written behind: its stored rows, its journal and its state in memory.
#[derive(Default)]
struct Behind {
    rows: MemoryShardRows,
    journal: MemoryJournal,
    shard: Shard,
}

impl Behind {
    /// Runs `write` as the Durable Object does; then, at random, folds or restarts.
    fn run(&mut self, write: ShardWrite, rng: &mut Rng) -> ShardAnswer {
        let (answer, staged) = self.shard.run(&mut self.rows, &mut self.journal, RETENTION_HOURS, &write).unwrap();
        self.shard.commit(staged);
        match rng.below(10) {
            0 => self.fold(),
            1 => self.shard = Shard::recover(&mut self.rows, &self.journal, RETENTION_HOURS).unwrap(),
            _ => {}
        }
        answer
    }

    fn fold(&mut self) {
        self.shard.fold(&mut self.rows, &mut self.journal).unwrap();
        self.shard.folded();
    }
}

/// A job of sweep `sweep` (3 minutes apart; an odd one off the minute) for customer `c`.
fn claim_of(sweep: u64, c: u64, replay: bool) -> JobClaim {
    let scheduled_ms = START_MS + sweep as i64 * 180_000 + if sweep == 3 { 7_000 } else { 0 };
    let run = RunId::new("local", Task::Optimize, from_epoch_ms(scheduled_ms).unwrap());
    let subject = format!("c{c}");
    JobClaim { job_id: format!("{run}.{subject}"), run_id: run.as_str().to_owned(), subject, scheduled_ms, replay, replay_at_ms: None }
}

fn error(rng: &mut Rng) -> Option<JobError> {
    match rng.below(4) {
        0 => Some(JobError::transient("elite answered 503")),
        1 => Some(JobError::permanent("elite answered 400")),
        _ => None,
    }
}

#[test]
fn compact_rows_decide_exactly_as_full_rows() {
    let mut written = Vec::new();
    for seed in 0..300 {
        let mut rng = Rng::new(seed);
        let mut full = MemoryJobTable::default();
        let mut rows = MemoryShardRows::default();
        let mut behind = Behind::default();
        // Its own random folds and restarts, so the requests stay those of the test before it.
        let mut chance = Rng::new(seed + 1_000);
        let mut now = START_MS;
        // The attempts each job was last granted, to complete with (stale ones too).
        let mut granted: Vec<(JobClaim, u32)> = Vec::new();
        let mut all: Vec<JobClaim> = Vec::new();
        for step in 0..60 {
            now += rng.below(20_000) as i64;
            let kind = rng.below(10);
            if kind < 5 || granted.is_empty() {
                let claims: Vec<JobClaim> =
                    (0..1 + rng.below(3)).map(|_| claim_of(rng.below(5), rng.below(3), rng.below(20) == 0)).collect();
                all.extend(claims.iter().cloned());
                let req = ClaimRequest { claims: claims.clone(), now_ms: now, lease_ms: LEASE };
                let want = claim_batch(&mut full, &req).unwrap();
                let got = CompactJobTable::batch(&mut rows, RETENTION_HOURS, |t| claim_batch(t, &req)).unwrap();
                assert_eq!(got, want, "seed {seed} step {step}: claims {claims:?}");
                assert_eq!(behind.run(ShardWrite::Claim(req), &mut chance), ShardAnswer::Claim(got), "seed {seed} step {step}: behind");
                for (c, d) in claims.into_iter().zip(want.decisions) {
                    if let ClaimDecision::Work { attempt, .. } = d {
                        granted.push((c, attempt));
                    }
                }
            } else if kind < 9 {
                let (c, attempt) = granted.remove(rng.below(granted.len() as u64) as usize);
                let o =
                    JobOutcome { job_id: c.job_id.clone(), attempt, error: error(&mut rng), superseded: rng.below(8) == 0, metrics: None };
                let req = CompleteRequest { outcomes: vec![o], now_ms: now, max_attempts: 3 };
                let want = complete_batch(&mut full, &req).unwrap();
                let got = CompactJobTable::batch(&mut rows, RETENTION_HOURS, |t| complete_batch(t, &req)).unwrap();
                assert_eq!(got, want, "seed {seed} step {step}: complete {req:?}");
                assert_eq!(
                    behind.run(ShardWrite::Complete(req), &mut chance),
                    ShardAnswer::Complete(got),
                    "seed {seed} step {step}: behind"
                );
            } else {
                let c = all[rng.below(all.len() as u64) as usize].clone();
                let req = SettleRequest { claim: c, written: rng.below(2) == 0, error: JobError::transient("max retries"), now_ms: now };
                let want = settle(&mut full, &req).unwrap();
                let got = CompactJobTable::batch(&mut rows, RETENTION_HOURS, |t| settle(t, &req)).unwrap();
                assert_eq!(got, want, "seed {seed} step {step}: settle {req:?}");
                assert_eq!(behind.run(ShardWrite::Settle(req), &mut chance), ShardAnswer::Settle(got), "seed {seed} step {step}: behind");
            }
            let compact = CompactJobTable::new(&mut rows, RETENTION_HOURS);
            for c in &all {
                let (want, got) = (full.job(&c.job_id).unwrap(), compact.job(&c.job_id).unwrap());
                // A succeeded job read back has only its state (see `compact`).
                let view = |r: Option<JobRow>| {
                    r.map(|r| match r.state {
                        JobState::Succeeded => (r.state, 0, None, 0),
                        _ => (r.state, r.lease_until_ms, r.last_error, r.attempts),
                    })
                };
                assert_eq!(view(got), view(want), "seed {seed} step {step}: job {}", c.job_id);
                assert_eq!(compact.counts(&c.run_id).unwrap(), full.counts(&c.run_id).unwrap(), "seed {seed}: counts");
                let lane = lane_of(&c.run_id, &c.subject);
                assert_eq!(compact.site(&lane).unwrap(), full.site(&lane).unwrap(), "seed {seed}: lane {lane}");
            }
        }
        assert_eq!(rows.rollups, full.rollups, "seed {seed}: rollups");
        behind.fold();
        let b = &behind.rows;
        assert_eq!(
            (&b.jobs, &b.lanes, &b.counts, &b.rollups, &b.heads),
            (&rows.jobs, &rows.lanes, &rows.counts, &rows.rollups, &rows.heads)
        );
        written.push((rows.jobs.len(), full.jobs.len()));
    }
    let (kept, all): (usize, usize) = written.iter().fold((0, 0), |(a, b), (k, f)| (a + k, b + f));
    // Half the outcomes here are failures, which keep their rows; a happy job keeps none (below).
    assert!(kept < all, "compact rows keep fewer job rows: {kept} of {all}");
}

#[test]
fn a_happy_job_writes_its_lane_and_work_front_at_the_claim_and_its_lane_and_rollup_at_the_complete() {
    let mut rows = MemoryShardRows::default();
    for sweep in 0..3 {
        let c = claim_of(sweep * 2, 1, false);
        let before = rows.writes;
        let req = ClaimRequest { claims: vec![c.clone()], now_ms: c.scheduled_ms, lease_ms: LEASE };
        let d = CompactJobTable::batch(&mut rows, RETENTION_HOURS, |t| claim_batch(t, &req)).unwrap();
        assert_eq!(d.decisions, [ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh }]);
        // The task's head row moves its work front with every first claim (latest-wins).
        assert_eq!(rows.writes - before, 3, "lane, counters and the task's head");
        let o = JobOutcome { job_id: c.job_id.clone(), attempt: 1, error: None, superseded: false, metrics: None };
        let req = CompleteRequest { outcomes: vec![o], now_ms: c.scheduled_ms + 1, max_attempts: 3 };
        CompactJobTable::batch(&mut rows, RETENTION_HOURS, |t| complete_batch(t, &req)).unwrap();
        assert_eq!(rows.writes - before, 6, "then lane, counters and rollup");
        assert!(rows.jobs.is_empty(), "no job row is kept: {:?}", rows.jobs.keys());
    }
    // Four jobs of one sweep in one request: one counters row and one head row for all of them.
    let claims: Vec<JobClaim> = (10..14).map(|c| claim_of(8, c, false)).collect();
    let before = rows.writes;
    let req = ClaimRequest { claims, now_ms: START_MS, lease_ms: LEASE };
    CompactJobTable::batch(&mut rows, RETENTION_HOURS, |t| claim_batch(t, &req)).unwrap();
    assert_eq!(rows.writes - before, 4 + 1 + 1);
}

#[test]
fn a_job_that_left_its_lane_keeps_its_own_row_when_a_newer_job_takes_the_lane() {
    // A replay works an old sweep's job in the lane; a redelivery after its lease lapsed looks
    // for its result (its own row, attempt 2); a newer sweep's job then takes the lane. The old
    // job's row must stay at attempt 2 (the lane once wrote its in-lane form over it).
    let (mut full, mut rows) = (MemoryJobTable::default(), MemoryShardRows::default());
    let (newer, old, newest) = (claim_of(2, 0, false), claim_of(0, 0, false), claim_of(4, 0, false));
    let done = |c: &JobClaim| CompleteRequest {
        outcomes: vec![JobOutcome { job_id: c.job_id.clone(), attempt: 1, error: None, superseded: false, metrics: None }],
        now_ms: START_MS + 1,
        max_attempts: 3,
    };
    let steps: Vec<(i64, ClaimRequest)> =
        [(0, &newer), (10, &JobClaim { replay: true, ..old.clone() }), (LEASE + 20, &old), (LEASE + 30, &newest)]
            .into_iter()
            .map(|(at, c)| (at, ClaimRequest { claims: vec![c.clone()], now_ms: START_MS + at, lease_ms: LEASE }))
            .collect();
    for (i, (_, req)) in steps.iter().enumerate() {
        let want = claim_batch(&mut full, req).unwrap();
        assert_eq!(CompactJobTable::batch(&mut rows, RETENTION_HOURS, |t| claim_batch(t, req)).unwrap(), want, "claim {i}");
        if i == 0 {
            complete_batch(&mut full, &done(&newer)).unwrap();
            CompactJobTable::batch(&mut rows, RETENTION_HOURS, |t| complete_batch(t, &done(&newer))).unwrap();
        }
    }
    let got = CompactJobTable::new(&mut rows, RETENTION_HOURS).job(&old.job_id).unwrap();
    assert_eq!(got.map(|r| (r.state, r.attempts)), full.job(&old.job_id).unwrap().map(|r| (r.state, r.attempts)));
}

#[test]
fn a_shard_folds_before_its_overlay_outgrows_its_memory() {
    use super::journal::OVERLAY_FOLD_ROWS;
    let mut behind = Behind::default();
    // One claim request of many first attempts: a lane each, one counters row, one head row.
    let claims: Vec<JobClaim> = (0..OVERLAY_FOLD_ROWS as u64 - 3).map(|c| claim_of(1, c, false)).collect();
    let write = ShardWrite::Claim(ClaimRequest { claims, now_ms: START_MS, lease_ms: LEASE });
    let (_, staged) = behind.shard.run(&mut behind.rows, &mut behind.journal, RETENTION_HOURS, &write).unwrap();
    behind.shard.commit(staged);
    assert_eq!(behind.shard.pending_rows(), OVERLAY_FOLD_ROWS - 1);
    assert!(!behind.shard.must_fold(), "one journal entry and a bounded overlay: nothing due");
    let one = ShardWrite::Claim(ClaimRequest { claims: vec![claim_of(1, 1_000_000, false)], now_ms: START_MS, lease_ms: LEASE });
    let (_, staged) = behind.shard.run(&mut behind.rows, &mut behind.journal, RETENTION_HOURS, &one).unwrap();
    behind.shard.commit(staged);
    assert!(behind.shard.must_fold(), "the overlay reached its bound");
    behind.fold();
    assert!(!behind.shard.must_fold() && behind.shard.pending_rows() == 0);
    assert_eq!(behind.rows.lanes.len(), OVERLAY_FOLD_ROWS - 2, "every lane reached the table");
}

#[test]
fn rollups_changed_since_the_last_fold_are_pending_until_it() {
    // A completed job changes its customer's rollup in memory: the stored rows (and so the
    // flush to D1) know nothing of it until the fold, which is what the freshness route counts.
    let mut behind = Behind::default();
    let claims: Vec<JobClaim> = (0..3).map(|c| claim_of(1, c, false)).collect();
    let claim = ShardWrite::Claim(ClaimRequest { claims: claims.clone(), now_ms: START_MS, lease_ms: LEASE });
    let (_, staged) = behind.shard.run(&mut behind.rows, &mut behind.journal, RETENTION_HOURS, &claim).unwrap();
    behind.shard.commit(staged);
    assert_eq!(behind.shard.pending_rollups(), 0, "a claim changes no rollup");
    let outcomes =
        claims.iter().map(|c| JobOutcome { job_id: c.job_id.clone(), attempt: 1, error: None, superseded: false, metrics: None }).collect();
    let complete = ShardWrite::Complete(CompleteRequest { outcomes, now_ms: START_MS + 1, max_attempts: 3 });
    let (_, staged) = behind.shard.run(&mut behind.rows, &mut behind.journal, RETENTION_HOURS, &complete).unwrap();
    behind.shard.commit(staged);
    assert_eq!(behind.shard.pending_rollups(), 3, "one rollup per customer, in memory only");
    assert!(behind.rows.rollups.is_empty(), "nothing stored before the fold");
    behind.fold();
    assert_eq!((behind.shard.pending_rollups(), behind.rows.rollups.len()), (0, 3));
}

#[test]
fn slot_runs_cover_a_range_once_and_split_it_where_the_ring_wraps() {
    use super::journal::{slot_runs, JOURNAL_SLOTS};
    let s = JOURNAL_SLOTS;
    assert_eq!(slot_runs(1, 1_024), [(1, 1_024, 1, 1_024)]);
    assert_eq!(slot_runs(s - 10, s + 5), [(s - 10, s - 1, s - 10, s - 1), (0, 5, s, s + 5)]);
    assert_eq!(slot_runs(3 * s, 3 * s), [(0, 0, 3 * s, 3 * s)]);
    assert_eq!(slot_runs(2 * s + 1, 3 * s), [(1, s - 1, 2 * s + 1, 3 * s - 1), (0, 0, 3 * s, 3 * s)]);
    assert!(slot_runs(5, 4).is_empty());
}
