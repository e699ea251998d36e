//! In-memory ledger tables: the twin of the Durable Object's SQLite tables, used by the
//! simulation and the core's tests. They run the same decision functions.

use std::collections::BTreeMap;

use crate::ledger::jobs::JobTable;
use crate::ledger::sweeps::SweepTable;
use crate::ledger::{JobRow, ShardCounts, SiteRow, StoreError, SweepRow};
use crate::reports::analytics::DailyRollup;

#[derive(Debug, Default, Clone)]
pub struct MemoryJobTable {
    pub jobs: BTreeMap<String, JobRow>,
    pub sites: BTreeMap<String, SiteRow>,
    pub counts: BTreeMap<String, ShardCounts>,
    /// Rollups by (customer id, day). Nothing flushes them, so there is no dirty mark.
    pub rollups: BTreeMap<(String, String), DailyRollup>,
}

impl JobTable for MemoryJobTable {
    fn job(&self, job_id: &str) -> Result<Option<JobRow>, StoreError> {
        Ok(self.jobs.get(job_id).cloned())
    }

    fn put_job(&mut self, row: &JobRow) -> Result<(), StoreError> {
        self.jobs.insert(row.job_id.clone(), row.clone());
        Ok(())
    }

    fn site(&self, customer_id: &str) -> Result<Option<SiteRow>, StoreError> {
        Ok(self.sites.get(customer_id).cloned())
    }

    fn put_site(&mut self, row: &SiteRow) -> Result<(), StoreError> {
        self.sites.insert(row.customer_id.clone(), row.clone());
        Ok(())
    }

    fn counts(&self, sweep_id: &str) -> Result<ShardCounts, StoreError> {
        Ok(self.counts.get(sweep_id).cloned().unwrap_or_else(|| ShardCounts { sweep_id: sweep_id.to_owned(), ..ShardCounts::default() }))
    }

    fn put_counts(&mut self, counts: &ShardCounts) -> Result<(), StoreError> {
        self.counts.insert(counts.sweep_id.clone(), counts.clone());
        Ok(())
    }

    fn rollup(&self, customer_id: &str, day: &str) -> Result<Option<DailyRollup>, StoreError> {
        Ok(self.rollups.get(&(customer_id.to_owned(), day.to_owned())).cloned())
    }

    fn put_rollup(&mut self, rollup: &DailyRollup) -> Result<(), StoreError> {
        self.rollups.insert((rollup.customer_id.clone(), rollup.day.clone()), rollup.clone());
        Ok(())
    }
}

#[derive(Debug, Default, Clone)]
pub struct MemorySweepTable {
    pub sweeps: BTreeMap<String, SweepRow>,
}

impl SweepTable for MemorySweepTable {
    fn sweep(&self, sweep_id: &str) -> Result<Option<SweepRow>, StoreError> {
        Ok(self.sweeps.get(sweep_id).cloned())
    }

    fn put_sweep(&mut self, row: &SweepRow) -> Result<(), StoreError> {
        self.sweeps.insert(row.sweep_id.clone(), row.clone());
        Ok(())
    }

    fn recent(&self, limit: u32) -> Result<Vec<SweepRow>, StoreError> {
        let mut rows: Vec<SweepRow> = self.sweeps.values().cloned().collect();
        rows.sort_by(|a, b| b.scheduled_ms.cmp(&a.scheduled_ms).then_with(|| b.sweep_id.cmp(&a.sweep_id)));
        rows.truncate(limit as usize);
        Ok(rows)
    }
}
