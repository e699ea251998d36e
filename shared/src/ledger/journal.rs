//! A job shard's rows written behind, with a journal that keeps every request durable: the
//! rows a request changes stay in the instance's memory ([`Overlay`]), the request itself is
//! appended to a journal in the same transaction as its answer, and now and then every changed
//! row is written at once ([`Shard::fold`]). An instance that restarts reads the rows as last
//! folded and runs the journal's requests after them again ([`Shard::recover`]): the decisions
//! are pure functions of the rows and the request (its time included), so it ends in exactly
//! the state it had. Nothing a request decided is lost, and no decision changes.
//!
//! Why: Cloudflare bills a SQLite Durable Object per row written. Written through, a job on the
//! happy path writes its lane at the claim and its lane and its customer's rollup at the
//! complete (3 rows, whatever the batch). Written behind, a request writes one journal row for
//! all its jobs, and a fold writes each lane, rollup, counter and head once for all the requests
//! since the previous fold: with batches that touch one shard (`pipeline::rotation::by_shard`),
//! about 2 / 8 + 3 / (sweeps between folds) rows per job.
//!
//! The journal is a ring of [`JOURNAL_SLOTS`] rows updated in place (an update is one row
//! written; an insert and a later delete would be two): a shard folds before a request would
//! overwrite an entry not folded yet, before its overlay outgrows [`OVERLAY_FOLD_ROWS`] (its
//! memory), and at every alarm (the rollup flush and the pruning read the folded rows).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::compact::{CompactJobTable, LaneRow, ShardRows};
use super::heads::{self, HeadRequest, HeadRow};
use super::jobs;
use super::{
    ClaimRequest, ClaimResponse, CompleteRequest, CompleteResponse, JobRow, SettleDecision, SettleRequest, ShardCounts, StoreError,
};
use crate::reports::analytics::DailyRollup;

/// Entries the journal holds before a shard must fold. A restarted instance runs at most this
/// many requests again; at 100,000 sites a shard takes about 3,200 requests a sweep (claims and
/// completes of 8 jobs), so a full ring is about 10 sweeps, and the hourly alarm folds first.
pub const JOURNAL_SLOTS: u64 = 32_768;

/// Rows the overlay may hold before a shard must fold, whatever its journal: about 1 KB a lane
/// (its succeeded minutes), so about 40 MB of an instance's 128 MB. At 100,000 sites a shard's
/// lanes are 12,500 and the journal's ring decides; a shard of many more sites (1,000,000 over
/// 8 shards: 125,000 lanes) folds more often instead of running out of memory, at the price of
/// more rows written (see "Shards for a million sites" in ARCHITECTURE.md).
pub const OVERLAY_FOLD_ROWS: usize = 40_000;

/// Entries a restarting shard reads at once: about 1.5 MB of JSON at 100,000 sites (1,400
/// bytes an entry of 8 jobs), so a restart with a full ring holds a page and the overlay it
/// rebuilds, not the whole ring (about 47 MB of text, held twice while it is read: the JS rows
/// and their Rust copy; `shared/tests/journal_recovery.rs`).
pub const RECOVER_PAGE_ENTRIES: u64 = 1_024;

/// A request that may write a job shard's rows: a journal entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "route", content = "body", rename_all = "snake_case")]
pub enum ShardWrite {
    Claim(ClaimRequest),
    Complete(CompleteRequest),
    Settle(SettleRequest),
    Head(HeadRequest),
}

/// The answer to a [`ShardWrite`], as its route answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ShardAnswer {
    Claim(ClaimResponse),
    Complete(CompleteResponse),
    Settle(SettleDecision),
    Head(HeadRow),
}

/// Runs `write`'s decisions over `rows` (through a [`CompactJobTable`]).
pub fn decide(rows: &mut impl ShardRows, retention_hours: u32, write: &ShardWrite) -> Result<ShardAnswer, StoreError> {
    CompactJobTable::batch(rows, retention_hours, |t| {
        Ok(match write {
            ShardWrite::Claim(r) => ShardAnswer::Claim(jobs::claim_batch(t, r)?),
            ShardWrite::Complete(r) => ShardAnswer::Complete(jobs::complete_batch(t, r)?),
            ShardWrite::Settle(r) => ShardAnswer::Settle(jobs::settle(t, r)?),
            ShardWrite::Head(r) => ShardAnswer::Head(heads::head(t, r)?),
        })
    })
}

/// Where the journal's entries are kept: a ring of [`JOURNAL_SLOTS`] rows and the sequence
/// number of the last entry folded.
pub trait JournalStore {
    /// Keeps entry `seq` (in slot `seq % JOURNAL_SLOTS`).
    fn append(&mut self, seq: u64, entry: &str) -> Result<(), StoreError>;
    /// The newest kept entry's number (0 when none).
    fn last(&self) -> Result<u64, StoreError>;
    /// The kept entries numbered `from..=to` (`to - from < JOURNAL_SLOTS`: one slot each), in
    /// any order.
    fn entries(&self, from: u64, to: u64) -> Result<Vec<(u64, String)>, StoreError>;
    fn folded(&self) -> Result<u64, StoreError>;
    fn set_folded(&mut self, seq: u64) -> Result<(), StoreError>;
}

/// The runs of slots that hold entries `from..=to` (`to - from < JOURNAL_SLOTS`), as
/// (first slot, last slot, first entry, last entry): one, or two when the range wraps the ring.
/// Each is one range read of the ring's key.
pub fn slot_runs(from: u64, to: u64) -> Vec<(u64, u64, u64, u64)> {
    let (mut runs, mut start) = (Vec::new(), from);
    while start <= to {
        // The last entry of this lap of the ring, or `to`.
        let end = to.min(start - start % JOURNAL_SLOTS + JOURNAL_SLOTS - 1);
        runs.push((start % JOURNAL_SLOTS, end % JOURNAL_SLOTS, start, end));
        start = end + 1;
    }
    runs
}

/// Rows written since the last fold (a job `None`: deleted).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Overlay {
    jobs: BTreeMap<String, Option<JobRow>>,
    lanes: BTreeMap<String, LaneRow>,
    counts: BTreeMap<String, ShardCounts>,
    rollups: BTreeMap<(String, String), DailyRollup>,
    heads: BTreeMap<String, HeadRow>,
}

impl Overlay {
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty() && self.lanes.is_empty() && self.counts.is_empty() && self.rollups.is_empty() && self.heads.is_empty()
    }

    /// Whether a rollup changed (the flush to D1 is then due).
    pub fn has_rollups(&self) -> bool {
        !self.rollups.is_empty()
    }

    /// Rows a fold of this overlay writes (a deleted job counts as one).
    pub fn rows(&self) -> usize {
        self.jobs.len() + self.lanes.len() + self.counts.len() + self.rollups.len() + self.heads.len()
    }

    fn merge(&mut self, newer: Overlay) {
        self.jobs.extend(newer.jobs);
        self.lanes.extend(newer.lanes);
        self.counts.extend(newer.counts);
        self.rollups.extend(newer.rollups);
        self.heads.extend(newer.heads);
    }

    fn write_into(&self, rows: &mut impl ShardRows) -> Result<(), StoreError> {
        for (job_id, row) in &self.jobs {
            match row {
                Some(row) => rows.put_job(row)?,
                None => rows.delete_job(job_id)?,
            }
        }
        for lane in self.lanes.values() {
            rows.put_lane(lane)?;
        }
        for counts in self.counts.values() {
            rows.put_counts(counts)?;
        }
        for rollup in self.rollups.values() {
            rows.put_rollup(rollup)?;
        }
        for head in self.heads.values() {
            rows.put_head(head)?;
        }
        Ok(())
    }
}

/// The stored rows seen through an overlay, with the writes of one request staged on top.
pub struct Layered<'a, S> {
    base: &'a Overlay,
    staged: Overlay,
    stored: &'a mut S,
}

impl<'a, S: ShardRows> Layered<'a, S> {
    pub fn new(base: &'a Overlay, stored: &'a mut S) -> Self {
        Self { base, staged: Overlay::default(), stored }
    }

    /// The rows this request wrote.
    pub fn staged(self) -> Overlay {
        self.staged
    }

    /// A row as staged, else as in the overlay, else as stored.
    fn find<V: Clone>(
        &self,
        pick: impl Fn(&Overlay) -> Option<&V>,
        stored: impl FnOnce() -> Result<Option<V>, StoreError>,
    ) -> Result<Option<V>, StoreError> {
        match pick(&self.staged).or_else(|| pick(self.base)) {
            Some(found) => Ok(Some(found.clone())),
            None => stored(),
        }
    }
}

impl<S: ShardRows> ShardRows for Layered<'_, S> {
    fn job(&self, job_id: &str) -> Result<Option<JobRow>, StoreError> {
        Ok(self.find(|o| o.jobs.get(job_id), || self.stored.job(job_id).map(Some))?.flatten())
    }

    fn put_job(&mut self, row: &JobRow) -> Result<(), StoreError> {
        self.staged.jobs.insert(row.job_id.clone(), Some(row.clone()));
        Ok(())
    }

    fn delete_job(&mut self, job_id: &str) -> Result<(), StoreError> {
        self.staged.jobs.insert(job_id.to_owned(), None);
        Ok(())
    }

    fn lane(&self, lane: &str) -> Result<Option<LaneRow>, StoreError> {
        self.find(|o| o.lanes.get(lane), || self.stored.lane(lane))
    }

    fn put_lane(&mut self, row: &LaneRow) -> Result<(), StoreError> {
        self.staged.lanes.insert(row.site.lane.clone(), row.clone());
        Ok(())
    }

    fn counts(&self, run_id: &str) -> Result<Option<ShardCounts>, StoreError> {
        self.find(|o| o.counts.get(run_id), || self.stored.counts(run_id))
    }

    fn put_counts(&mut self, counts: &ShardCounts) -> Result<(), StoreError> {
        self.staged.counts.insert(counts.run_id.clone(), counts.clone());
        Ok(())
    }

    fn rollup(&self, customer_id: &str, day: &str) -> Result<Option<DailyRollup>, StoreError> {
        let key = (customer_id.to_owned(), day.to_owned());
        self.find(|o| o.rollups.get(&key), || self.stored.rollup(customer_id, day))
    }

    fn put_rollup(&mut self, rollup: &DailyRollup) -> Result<(), StoreError> {
        self.staged.rollups.insert((rollup.customer_id.clone(), rollup.day.clone()), rollup.clone());
        Ok(())
    }

    fn head(&self, task: &str) -> Result<Option<HeadRow>, StoreError> {
        self.find(|o| o.heads.get(task), || self.stored.head(task))
    }

    fn put_head(&mut self, row: &HeadRow) -> Result<(), StoreError> {
        self.staged.heads.insert(row.task.clone(), row.clone());
        Ok(())
    }
}

/// A job shard's state in the instance's memory: the rows written since the last fold and
/// where the journal stands.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Shard {
    overlay: Overlay,
    /// The journal's last entry (its requests are all in `overlay` or folded).
    applied: u64,
    /// The last entry folded into the stored rows.
    folded: u64,
}

impl Shard {
    /// The state of a shard that (re)starts: the stored rows, then every journal entry after
    /// the last fold, run again in order, read [`RECOVER_PAGE_ENTRIES`] at a time.
    pub fn recover(rows: &mut impl ShardRows, journal: &impl JournalStore, retention_hours: u32) -> Result<Self, StoreError> {
        let folded = journal.folded()?;
        let last = journal.last()?;
        let mut shard = Self { overlay: Overlay::default(), applied: folded, folded };
        while shard.applied < last {
            let to = last.min(shard.applied + RECOVER_PAGE_ENTRIES);
            let mut entries = journal.entries(shard.applied + 1, to)?;
            entries.sort_by_key(|(seq, _)| *seq);
            for (seq, entry) in entries {
                if seq != shard.applied + 1 {
                    return Err(StoreError(format!("journal entry {} is missing ({seq} follows {})", shard.applied + 1, shard.applied)));
                }
                let write: ShardWrite =
                    serde_json::from_str(&entry).map_err(|e| StoreError(format!("journal entry {seq} is undecodable: {e}")))?;
                let mut layered = Layered::new(&shard.overlay, rows);
                decide(&mut layered, retention_hours, &write)?;
                let staged = layered.staged();
                shard.overlay.merge(staged);
                shard.applied = seq;
            }
            if shard.applied != to {
                return Err(StoreError(format!("journal entry {} is missing (the journal goes on to {last})", shard.applied + 1)));
            }
        }
        Ok(shard)
    }

    /// Whether the next entry would overwrite one not folded yet, or the overlay holds
    /// [`OVERLAY_FOLD_ROWS`] rows: fold first.
    pub fn must_fold(&self) -> bool {
        self.applied - self.folded >= JOURNAL_SLOTS || self.overlay.rows() >= OVERLAY_FOLD_ROWS
    }

    /// Rows the next fold writes.
    pub fn pending_rows(&self) -> usize {
        self.overlay.rows()
    }

    /// Rollups changed since the last fold: in memory and the journal only, so neither in the
    /// stored rows nor marked for the next flush to D1 yet.
    pub fn pending_rollups(&self) -> usize {
        self.overlay.rollups.len()
    }

    /// Decides `write` over the rows as they stand and journals it when it changed a row, all
    /// inside the caller's transaction; returns the answer and what to [`Self::commit`] once
    /// the transaction committed.
    pub fn run(
        &self,
        rows: &mut impl ShardRows,
        journal: &mut impl JournalStore,
        retention_hours: u32,
        write: &ShardWrite,
    ) -> Result<(ShardAnswer, Overlay), StoreError> {
        let mut layered = Layered::new(&self.overlay, rows);
        let answer = decide(&mut layered, retention_hours, write)?;
        let staged = layered.staged();
        if !staged.is_empty() {
            let entry = serde_json::to_string(write).map_err(|e| StoreError(format!("cannot journal a request: {e}")))?;
            journal.append(self.applied + 1, &entry)?;
        }
        Ok((answer, staged))
    }

    /// Takes in what a committed [`Self::run`] wrote (and journaled, when anything).
    pub fn commit(&mut self, staged: Overlay) {
        if !staged.is_empty() {
            self.overlay.merge(staged);
            self.applied += 1;
        }
    }

    /// A read through the rows as they stand (nothing it writes is kept).
    pub fn read<S: ShardRows, T>(
        &self,
        rows: &mut S,
        read: impl FnOnce(&mut Layered<'_, S>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        read(&mut Layered::new(&self.overlay, rows))
    }

    /// Writes every row changed since the last fold and records the journal as folded, inside
    /// the caller's transaction; [`Self::folded`] once it committed.
    pub fn fold(&self, rows: &mut impl ShardRows, journal: &mut impl JournalStore) -> Result<(), StoreError> {
        if self.applied == self.folded {
            return Ok(());
        }
        self.overlay.write_into(rows)?;
        journal.set_folded(self.applied)
    }

    /// After a committed [`Self::fold`]: the overlay is in the stored rows.
    pub fn folded(&mut self) {
        self.overlay = Overlay::default();
        self.folded = self.applied;
    }
}
