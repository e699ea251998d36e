//! In-memory ledger tables: the twin of the Durable Object's SQLite tables, used by the
//! simulation and the core's tests. They run the same decision functions.

use std::collections::BTreeMap;

use crate::ledger::compact::{LaneRow, ShardRows};
use crate::ledger::heads::HeadRow;
use crate::ledger::jobs::JobTable;
use crate::ledger::journal::{slot_runs, JournalStore, JOURNAL_SLOTS};
use crate::ledger::runs::RunTable;
use crate::ledger::{JobRow, RunRow, ShardCounts, SiteRow, StoreError};
use crate::reports::analytics::DailyRollup;

#[derive(Debug, Default, Clone)]
pub struct MemoryJobTable {
    pub jobs: BTreeMap<String, JobRow>,
    pub sites: BTreeMap<String, SiteRow>,
    pub counts: BTreeMap<String, ShardCounts>,
    /// Rollups by (customer id, day). Nothing flushes them, so there is no dirty mark.
    pub rollups: BTreeMap<(String, String), DailyRollup>,
    /// Latest-wins rows by task.
    pub heads: BTreeMap<String, HeadRow>,
}

impl JobTable for MemoryJobTable {
    fn job(&self, job_id: &str) -> Result<Option<JobRow>, StoreError> {
        Ok(self.jobs.get(job_id).cloned())
    }

    fn put_job(&mut self, row: &JobRow) -> Result<(), StoreError> {
        self.jobs.insert(row.job_id.clone(), row.clone());
        Ok(())
    }

    fn site(&self, lane: &str) -> Result<Option<SiteRow>, StoreError> {
        Ok(self.sites.get(lane).cloned())
    }

    fn put_site(&mut self, row: &SiteRow) -> Result<(), StoreError> {
        self.sites.insert(row.lane.clone(), row.clone());
        Ok(())
    }

    fn counts(&self, run_id: &str) -> Result<ShardCounts, StoreError> {
        Ok(self.counts.get(run_id).cloned().unwrap_or_else(|| ShardCounts { run_id: run_id.to_owned(), ..ShardCounts::default() }))
    }

    fn put_counts(&mut self, counts: &ShardCounts) -> Result<(), StoreError> {
        self.counts.insert(counts.run_id.clone(), counts.clone());
        Ok(())
    }

    fn rollup(&self, customer_id: &str, day: &str) -> Result<Option<DailyRollup>, StoreError> {
        Ok(self.rollups.get(&(customer_id.to_owned(), day.to_owned())).cloned())
    }

    fn put_rollup(&mut self, rollup: &DailyRollup) -> Result<(), StoreError> {
        self.rollups.insert((rollup.customer_id.clone(), rollup.day.clone()), rollup.clone());
        Ok(())
    }

    fn head(&self, task: &str) -> Result<Option<HeadRow>, StoreError> {
        Ok(self.heads.get(task).cloned())
    }

    fn put_head(&mut self, row: &HeadRow) -> Result<(), StoreError> {
        self.heads.insert(row.task.clone(), row.clone());
        Ok(())
    }
}

#[derive(Debug, Default, Clone)]
pub struct MemoryRunTable {
    pub runs: BTreeMap<String, RunRow>,
}

impl RunTable for MemoryRunTable {
    fn run(&self, run_id: &str) -> Result<Option<RunRow>, StoreError> {
        Ok(self.runs.get(run_id).cloned())
    }

    fn put_run(&mut self, row: &RunRow) -> Result<(), StoreError> {
        self.runs.insert(row.run_id.clone(), row.clone());
        Ok(())
    }

    fn recent(&self, limit: u32) -> Result<Vec<RunRow>, StoreError> {
        let mut rows: Vec<RunRow> = self.runs.values().cloned().collect();
        rows.sort_by(|a, b| b.scheduled_ms.cmp(&a.scheduled_ms).then_with(|| b.run_id.cmp(&a.run_id)));
        rows.truncate(limit as usize);
        Ok(rows)
    }
}

/// The stored rows of a compact job shard (`ledger::compact`), as the Durable Object keeps them
/// in SQLite, with a count of the rows written (each put or delete is one).
#[derive(Debug, Default, Clone)]
pub struct MemoryShardRows {
    pub jobs: BTreeMap<String, JobRow>,
    pub lanes: BTreeMap<String, LaneRow>,
    pub counts: BTreeMap<String, ShardCounts>,
    pub rollups: BTreeMap<(String, String), DailyRollup>,
    pub heads: BTreeMap<String, HeadRow>,
    pub writes: u64,
}

impl ShardRows for MemoryShardRows {
    fn job(&self, job_id: &str) -> Result<Option<JobRow>, StoreError> {
        Ok(self.jobs.get(job_id).cloned())
    }

    fn put_job(&mut self, row: &JobRow) -> Result<(), StoreError> {
        self.writes += 1;
        self.jobs.insert(row.job_id.clone(), row.clone());
        Ok(())
    }

    fn delete_job(&mut self, job_id: &str) -> Result<(), StoreError> {
        self.writes += u64::from(self.jobs.remove(job_id).is_some());
        Ok(())
    }

    fn lane(&self, lane: &str) -> Result<Option<LaneRow>, StoreError> {
        Ok(self.lanes.get(lane).cloned())
    }

    fn put_lane(&mut self, row: &LaneRow) -> Result<(), StoreError> {
        self.writes += 1;
        self.lanes.insert(row.site.lane.clone(), row.clone());
        Ok(())
    }

    fn counts(&self, run_id: &str) -> Result<Option<ShardCounts>, StoreError> {
        Ok(self.counts.get(run_id).cloned())
    }

    fn put_counts(&mut self, counts: &ShardCounts) -> Result<(), StoreError> {
        self.writes += 1;
        self.counts.insert(counts.run_id.clone(), counts.clone());
        Ok(())
    }

    fn rollup(&self, customer_id: &str, day: &str) -> Result<Option<DailyRollup>, StoreError> {
        Ok(self.rollups.get(&(customer_id.to_owned(), day.to_owned())).cloned())
    }

    fn put_rollup(&mut self, rollup: &DailyRollup) -> Result<(), StoreError> {
        self.writes += 1;
        self.rollups.insert((rollup.customer_id.clone(), rollup.day.clone()), rollup.clone());
        Ok(())
    }

    fn head(&self, task: &str) -> Result<Option<HeadRow>, StoreError> {
        Ok(self.heads.get(task).cloned())
    }

    fn put_head(&mut self, row: &HeadRow) -> Result<(), StoreError> {
        self.writes += 1;
        self.heads.insert(row.task.clone(), row.clone());
        Ok(())
    }
}

/// A job shard's journal (`ledger::journal`) as the Durable Object keeps it: a ring of
/// `JOURNAL_SLOTS` entries, each slot overwritten in turn, and the last entry folded.
#[derive(Debug, Default, Clone)]
pub struct MemoryJournal {
    pub slots: BTreeMap<u64, (u64, String)>,
    pub folded: u64,
    /// Entries appended (each is one row written).
    pub appends: u64,
    /// The most entries one read returned (a restart reads its journal in pages).
    pub largest_read: std::cell::Cell<u64>,
}

impl JournalStore for MemoryJournal {
    fn append(&mut self, seq: u64, entry: &str) -> Result<(), StoreError> {
        self.appends += 1;
        self.slots.insert(seq % JOURNAL_SLOTS, (seq, entry.to_owned()));
        Ok(())
    }

    fn last(&self) -> Result<u64, StoreError> {
        Ok(self.slots.values().map(|(seq, _)| *seq).max().unwrap_or(0))
    }

    fn entries(&self, from: u64, to: u64) -> Result<Vec<(u64, String)>, StoreError> {
        // As the Durable Object reads them: by runs of slots, each entry checked for its lap.
        let found: Vec<(u64, String)> = slot_runs(from, to)
            .into_iter()
            .flat_map(|(first_slot, last_slot, first, last)| {
                self.slots.range(first_slot..=last_slot).map(|(_, e)| e).filter(move |(seq, _)| (first..=last).contains(seq))
            })
            .cloned()
            .collect();
        self.largest_read.set(self.largest_read.get().max(found.len() as u64));
        Ok(found)
    }

    fn folded(&self) -> Result<u64, StoreError> {
        Ok(self.folded)
    }

    fn set_folded(&mut self, seq: u64) -> Result<(), StoreError> {
        self.folded = seq;
        Ok(())
    }
}
