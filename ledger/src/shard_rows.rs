//! A job shard's rows in SQLite (`code24_shared::ledger::compact::ShardRows`): jobs kept as
//! rows (`job_rows`, and the older builds' `jobs` while any is left), lanes with their
//! succeeded minutes (`sites`), counters (`counts`) and rollups (`rollups`). Every write is one
//! statement that writes as few rows as workerd bills: an upsert that updates in place (an
//! `INSERT OR REPLACE` deletes and inserts, index entries included), into tables without an
//! index beyond their key.

use serde::Deserialize;
use worker::SqlStorage;

use code24_shared::error::JobError;
use code24_shared::ledger::compact::{LaneRow, ShardRows};
use code24_shared::ledger::done_set::DoneSet;
use code24_shared::ledger::heads::HeadRow;
use code24_shared::ledger::{JobRow, JobState, ShardCounts, SiteRow, StoreError};
use code24_shared::reports::analytics::DailyRollup;

use crate::sql_tables::{exec, first, int, opt_int, uint};

/// A `job_rows` (or older `jobs`) row as SQLite returns it, by column name (`sweep_id` holds the
/// run id).
#[derive(Deserialize)]
struct JobRecord {
    job_id: String,
    sweep_id: String,
    customer_id: String,
    scheduled_ms: i64,
    state: String,
    attempts: u32,
    lease_until_ms: i64,
    last_error: Option<String>,
    updated_ms: i64,
}

impl TryFrom<JobRecord> for JobRow {
    type Error = StoreError;

    fn try_from(r: JobRecord) -> Result<Self, StoreError> {
        let state = JobState::parse(&r.state).ok_or_else(|| StoreError(format!("job {} has unknown state {:?}", r.job_id, r.state)))?;
        let last_error = r
            .last_error
            .map(|raw| serde_json::from_str::<JobError>(&raw))
            .transpose()
            .map_err(|e| StoreError(format!("job {} has an undecodable last_error: {e}", r.job_id)))?;
        Ok(JobRow {
            job_id: r.job_id,
            run_id: r.sweep_id,
            subject: r.customer_id,
            scheduled_ms: r.scheduled_ms,
            state,
            attempts: r.attempts,
            lease_until_ms: r.lease_until_ms,
            last_error,
            updated_ms: r.updated_ms,
        })
    }
}

/// A `sites` row as SQLite returns it (`customer_id` holds the lane key).
#[derive(Deserialize)]
struct LaneRecord {
    customer_id: String,
    newest_scheduled_ms: i64,
    active_job: Option<String>,
    active_lease_until_ms: i64,
    #[serde(default)]
    active_attempts: u32,
    #[serde(default)]
    done: Option<String>,
}

/// A job shard's rows, for one request.
pub(crate) struct SqlShardRows {
    sql: SqlStorage,
    /// The request's time: when a counter row was last written (`counts.touched_ms`).
    now_ms: i64,
}

impl SqlShardRows {
    pub(crate) fn new(sql: SqlStorage, now_ms: i64) -> Self {
        Self { sql, now_ms }
    }
}

const JOB_COLUMNS: &str = "job_id, sweep_id, customer_id, scheduled_ms, state, attempts, lease_until_ms, last_error, updated_ms";

impl ShardRows for SqlShardRows {
    fn job(&self, job_id: &str) -> Result<Option<JobRow>, StoreError> {
        for table in ["job_rows", "jobs"] {
            let query = format!("SELECT {JOB_COLUMNS} FROM {table} WHERE job_id = ?");
            if let Some(found) = first::<JobRecord>(&self.sql, &query, vec![job_id.into()])? {
                return JobRow::try_from(found).map(Some);
            }
        }
        Ok(None)
    }

    fn put_job(&mut self, row: &JobRow) -> Result<(), StoreError> {
        let last_error = row
            .last_error
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError(format!("cannot encode last_error of job {}: {e}", row.job_id)))?;
        exec(
            &self.sql,
            "INSERT INTO job_rows
                (job_id, sweep_id, customer_id, scheduled_ms, state, attempts, lease_until_ms, last_error, updated_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (job_id) DO UPDATE SET state = excluded.state, attempts = excluded.attempts,
                lease_until_ms = excluded.lease_until_ms, last_error = excluded.last_error, updated_ms = excluded.updated_ms",
            vec![
                row.job_id.as_str().into(),
                row.run_id.as_str().into(),
                row.subject.as_str().into(),
                int(row.scheduled_ms)?,
                row.state.as_str().into(),
                int(i64::from(row.attempts))?,
                int(row.lease_until_ms)?,
                last_error.into(),
                int(row.updated_ms)?,
            ],
        )?;
        // An older build's row of the same job would be read no more; it goes with the pruning.
        Ok(())
    }

    fn delete_job(&mut self, job_id: &str) -> Result<(), StoreError> {
        exec(&self.sql, "DELETE FROM job_rows WHERE job_id = ?", vec![job_id.into()])?;
        exec(&self.sql, "DELETE FROM jobs WHERE job_id = ?", vec![job_id.into()])
    }

    fn lane(&self, lane: &str) -> Result<Option<LaneRow>, StoreError> {
        let Some(r) = first::<LaneRecord>(&self.sql, "SELECT * FROM sites WHERE customer_id = ?", vec![lane.into()])? else {
            return Ok(None);
        };
        let raw = r.done.unwrap_or_default();
        let done =
            DoneSet::decode(&raw).ok_or_else(|| StoreError(format!("lane {} has an undecodable done set {raw:?}", r.customer_id)))?;
        let site = SiteRow {
            lane: r.customer_id,
            newest_scheduled_ms: r.newest_scheduled_ms,
            active_job: r.active_job,
            active_lease_until_ms: r.active_lease_until_ms,
        };
        Ok(Some(LaneRow { site, active_attempts: r.active_attempts, done }))
    }

    fn put_lane(&mut self, row: &LaneRow) -> Result<(), StoreError> {
        exec(
            &self.sql,
            "INSERT INTO sites (customer_id, newest_scheduled_ms, active_job, active_lease_until_ms, active_attempts, done)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (customer_id) DO UPDATE SET newest_scheduled_ms = excluded.newest_scheduled_ms,
                active_job = excluded.active_job, active_lease_until_ms = excluded.active_lease_until_ms,
                active_attempts = excluded.active_attempts, done = excluded.done",
            vec![
                row.site.lane.as_str().into(),
                int(row.site.newest_scheduled_ms)?,
                row.site.active_job.as_deref().into(),
                int(row.site.active_lease_until_ms)?,
                int(i64::from(row.active_attempts))?,
                row.done.encode().into(),
            ],
        )
    }

    fn counts(&self, run_id: &str) -> Result<Option<ShardCounts>, StoreError> {
        first(
            &self.sql,
            "SELECT sweep_id, in_flight, retrying, succeeded, dead, superseded, duplicates, last_terminal_ms FROM counts WHERE sweep_id = ?",
            vec![run_id.into()],
        )
    }

    fn put_counts(&mut self, c: &ShardCounts) -> Result<(), StoreError> {
        exec(
            &self.sql,
            "INSERT INTO counts
                (sweep_id, in_flight, retrying, succeeded, dead, superseded, duplicates, last_terminal_ms, touched_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (sweep_id) DO UPDATE SET in_flight = excluded.in_flight, retrying = excluded.retrying,
                succeeded = excluded.succeeded, dead = excluded.dead, superseded = excluded.superseded,
                duplicates = excluded.duplicates, last_terminal_ms = excluded.last_terminal_ms, touched_ms = excluded.touched_ms",
            vec![
                c.run_id.as_str().into(),
                uint(c.in_flight)?,
                uint(c.retrying)?,
                uint(c.succeeded)?,
                uint(c.dead)?,
                uint(c.superseded)?,
                uint(c.duplicates)?,
                opt_int(c.last_terminal_ms)?,
                int(self.now_ms)?,
            ],
        )
    }

    fn rollup(&self, customer_id: &str, day: &str) -> Result<Option<DailyRollup>, StoreError> {
        #[derive(Deserialize)]
        struct Body {
            body: String,
        }
        let found: Option<Body> =
            first(&self.sql, "SELECT body FROM rollups WHERE customer_id = ? AND day = ?", vec![customer_id.into(), day.into()])?;
        found.map(|b| decode_rollup(customer_id, day, &b.body)).transpose()
    }

    /// An update in place: one row written (two for a new customer-day: the row and its key).
    fn put_rollup(&mut self, r: &DailyRollup) -> Result<(), StoreError> {
        let body =
            serde_json::to_string(r).map_err(|e| StoreError(format!("cannot encode the rollup of {} on {}: {e}", r.customer_id, r.day)))?;
        exec(
            &self.sql,
            "INSERT INTO rollups (customer_id, day, body, dirty) VALUES (?, ?, ?, 1)
             ON CONFLICT (customer_id, day) DO UPDATE SET body = excluded.body, dirty = 1",
            vec![r.customer_id.as_str().into(), r.day.as_str().into(), body.into()],
        )
    }

    fn head(&self, task: &str) -> Result<Option<HeadRow>, StoreError> {
        #[derive(Deserialize)]
        struct Body {
            body: String,
        }
        let found: Option<Body> = first(&self.sql, "SELECT body FROM heads WHERE task = ?", vec![task.into()])?;
        found
            .map(|b| serde_json::from_str(&b.body).map_err(|e| StoreError(format!("undecodable head row of task {task}: {e}"))))
            .transpose()
    }

    /// An update in place, once per request (the compact table caches the work front).
    fn put_head(&mut self, row: &HeadRow) -> Result<(), StoreError> {
        let body = serde_json::to_string(row).map_err(|e| StoreError(format!("cannot encode the head row of {}: {e}", row.task)))?;
        exec(
            &self.sql,
            "INSERT INTO heads (task, body) VALUES (?, ?) ON CONFLICT (task) DO UPDATE SET body = excluded.body",
            vec![row.task.as_str().into(), body.into()],
        )
    }
}

/// A `rollups.body` as the rollup it encodes.
pub(crate) fn decode_rollup(customer_id: &str, day: &str, body: &str) -> Result<DailyRollup, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError(format!("the rollup of {customer_id} on {day} is undecodable: {e}")))
}
