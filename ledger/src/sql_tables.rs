//! The ledger's tables over the Durable Object's SQLite storage: the schema, and
//! [`JobTable`] / [`RunTable`] implemented as keyed reads and whole-row upserts, so the
//! decisions of `code24_shared::ledger` run here exactly as they run over the in-memory twin.
//!
//! Every instance creates every table: the coordinator's job tables and a shard's sweep table
//! simply stay empty. That keeps an instance ignorant of its own kind (a Durable Object does
//! not reliably know the name it was reached by) and lets one pruning pass serve both kinds.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use worker::{SqlStorage, SqlStorageValue};

use code24_shared::error::JobError;
use code24_shared::ledger::heads::HeadRow;
use code24_shared::ledger::jobs::JobTable;
use code24_shared::ledger::runs::RunTable;
use code24_shared::ledger::{JobRow, JobState, RunPhase, RunRow, ShardCounts, SiteRow, StoreError};
use code24_shared::reports::analytics::DailyRollup;

/// The schema, one statement each so a failure names its statement. Idempotent: it runs every
/// time an instance starts.
///
/// Column names keep their first spelling, which predates report runs: every `sweep_id` column
/// (and the table `sweeps`) holds a run id of any task (`RunRow::run_id`), and `sites.customer_id`
/// holds a lane key (`SiteRow::lane`). Renaming a column would need a migration of every live
/// instance; the Rust names say what the columns hold.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS jobs (
        job_id TEXT PRIMARY KEY,
        sweep_id TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        scheduled_ms INTEGER NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        lease_until_ms INTEGER NOT NULL,
        last_error TEXT,
        updated_ms INTEGER NOT NULL
    )",
    // Counts pruning asks whether any job of a sweep is left.
    "CREATE INDEX IF NOT EXISTS jobs_by_sweep ON jobs (sweep_id)",
    // Pruning deletes by age.
    "CREATE INDEX IF NOT EXISTS jobs_by_scheduled ON jobs (scheduled_ms)",
    "CREATE TABLE IF NOT EXISTS sites (
        customer_id TEXT PRIMARY KEY,
        newest_scheduled_ms INTEGER NOT NULL,
        active_job TEXT,
        active_lease_until_ms INTEGER NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS counts (
        sweep_id TEXT PRIMARY KEY,
        in_flight INTEGER NOT NULL,
        retrying INTEGER NOT NULL,
        succeeded INTEGER NOT NULL,
        dead INTEGER NOT NULL,
        superseded INTEGER NOT NULL,
        duplicates INTEGER NOT NULL,
        last_terminal_ms INTEGER
    )",
    "CREATE TABLE IF NOT EXISTS sweeps (
        sweep_id TEXT PRIMARY KEY,
        task TEXT NOT NULL,
        scheduled_ms INTEGER NOT NULL,
        phase TEXT NOT NULL,
        cursor TEXT,
        expected INTEGER NOT NULL,
        enqueued INTEGER NOT NULL,
        opened_ms INTEGER NOT NULL,
        producer_lease_until_ms INTEGER NOT NULL,
        fanout_done_ms INTEGER,
        finished_ms INTEGER,
        firings INTEGER NOT NULL,
        producer_owner TEXT,
        finalize_requested_ms INTEGER
    )",
    // `recent` and pruning both go by scheduled time.
    "CREATE INDEX IF NOT EXISTS sweeps_by_scheduled ON sweeps (scheduled_ms)",
    // A job shard's daily rollups (`code24_shared::ledger::rollups`): `body` is the
    // `DailyRollup` as JSON; `dirty` = 1 until the alarm has copied this very body to D1.
    "CREATE TABLE IF NOT EXISTS rollups (
        customer_id TEXT NOT NULL,
        day TEXT NOT NULL,
        body TEXT NOT NULL,
        dirty INTEGER NOT NULL,
        PRIMARY KEY (customer_id, day)
    )",
    // The flush reads only dirty rows, in key order.
    "CREATE INDEX IF NOT EXISTS rollups_dirty ON rollups (customer_id, day) WHERE dirty = 1",
    // When the alarm is next due to prune (`name` = 'prune'): the one alarm also flushes
    // rollups, far more often than it prunes.
    "CREATE TABLE IF NOT EXISTS timers (
        name TEXT PRIMARY KEY,
        at_ms INTEGER NOT NULL
    )",
    // A job shard's latest-wins row per task (`code24_shared::ledger::heads`): `body` is the
    // `HeadRow` as JSON. One row per task, never pruned.
    "CREATE TABLE IF NOT EXISTS heads (
        task TEXT PRIMARY KEY,
        body TEXT NOT NULL
    )",
];

/// Columns added after a table was first created, as (table, column, definition). A store
/// created by an older build gains them on start; a newer store already has them.
const ADDED_COLUMNS: &[(&str, &str, &str)] =
    &[("sweeps", "producer_owner", "TEXT"), ("sweeps", "finalize_requested_ms", "INTEGER"), ("sweeps", "origin", "TEXT")];

/// Creates every table and index that does not exist yet, and adds columns newer builds need.
pub(crate) fn create_schema(sql: &SqlStorage) -> Result<(), StoreError> {
    for statement in SCHEMA {
        exec(sql, statement, Vec::new())?;
    }
    #[derive(Deserialize)]
    struct Column {
        name: String,
    }
    for (table, column, definition) in ADDED_COLUMNS {
        let columns: Vec<Column> = rows(sql, &format!("SELECT name FROM pragma_table_info('{table}')"), Vec::new())?;
        if !columns.iter().any(|c| c.name == *column) {
            exec(sql, &format!("ALTER TABLE {table} ADD COLUMN {column} {definition}"), Vec::new())?;
        }
    }
    Ok(())
}

/// Runs one statement, turning the runtime's error into a [`StoreError`].
pub(crate) fn exec(sql: &SqlStorage, query: &str, params: Vec<SqlStorageValue>) -> Result<(), StoreError> {
    sql.exec(query, params).map(drop).map_err(|e| StoreError(format!("{e} (in: {})", first_line(query))))
}

/// Runs one query and decodes every row. `SqlCursor::one()` would crash the instance on zero
/// rows (0.8.7), so single-row reads go through here too and take the first element.
pub(crate) fn rows<T: DeserializeOwned>(sql: &SqlStorage, query: &str, params: Vec<SqlStorageValue>) -> Result<Vec<T>, StoreError> {
    let context = |e: worker::Error| StoreError(format!("{e} (in: {})", first_line(query)));
    sql.exec(query, params).map_err(context)?.to_array().map_err(context)
}

fn first_line(query: &str) -> &str {
    query.lines().next().unwrap_or(query).trim()
}

/// Binds an integer. JavaScript carries it as an f64, and the row decoder refuses integers
/// outside the safe range, so such a value is refused here instead of being stored rounded
/// and becoming unreadable.
pub(crate) fn int(value: i64) -> Result<SqlStorageValue, StoreError> {
    SqlStorageValue::try_from_i64(value).map_err(|_| StoreError(format!("{value} is outside the storable integer range")))
}

fn uint(value: u64) -> Result<SqlStorageValue, StoreError> {
    int(i64::try_from(value).map_err(|_| StoreError(format!("{value} is outside the storable integer range")))?)
}

fn opt_int(value: Option<i64>) -> Result<SqlStorageValue, StoreError> {
    value.map_or(Ok(SqlStorageValue::Null), int)
}

/// Reads the first row, if any.
fn first<T: DeserializeOwned>(sql: &SqlStorage, query: &str, params: Vec<SqlStorageValue>) -> Result<Option<T>, StoreError> {
    Ok(rows(sql, query, params)?.into_iter().next())
}

/// A `jobs` row as SQLite returns it, by column name (`sweep_id` holds the run id).
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

/// A `sweeps` row as SQLite returns it, by column name (`sweep_id` holds the run id).
#[derive(Deserialize)]
struct RunRecord {
    sweep_id: String,
    task: String,
    scheduled_ms: i64,
    phase: String,
    cursor: Option<String>,
    expected: u64,
    enqueued: u64,
    opened_ms: i64,
    producer_lease_until_ms: i64,
    fanout_done_ms: Option<i64>,
    finished_ms: Option<i64>,
    firings: u32,
    producer_owner: Option<String>,
    #[serde(default)]
    finalize_requested_ms: Option<i64>,
    #[serde(default)]
    origin: Option<String>,
}

impl TryFrom<RunRecord> for RunRow {
    type Error = StoreError;

    fn try_from(r: RunRecord) -> Result<Self, StoreError> {
        let phase = RunPhase::parse(&r.phase).ok_or_else(|| StoreError(format!("sweep {} has unknown phase {:?}", r.sweep_id, r.phase)))?;
        Ok(RunRow {
            run_id: r.sweep_id,
            task: r.task,
            scheduled_ms: r.scheduled_ms,
            phase,
            cursor: r.cursor,
            origin: r.origin,
            expected: r.expected,
            enqueued: r.enqueued,
            opened_ms: r.opened_ms,
            producer_lease_until_ms: r.producer_lease_until_ms,
            fanout_done_ms: r.fanout_done_ms,
            finished_ms: r.finished_ms,
            firings: r.firings,
            producer_owner: r.producer_owner,
            finalize_requested_ms: r.finalize_requested_ms,
        })
    }
}

/// A job shard's tables (`jobs`, `sites`, `counts`).
pub(crate) struct SqlJobTable {
    sql: SqlStorage,
    /// Counters written during this request, by sweep: a batch decision updates its sweep's
    /// counters once per job, and writing the row each time made the counters row the most
    /// written row of the shard (the bench's profile). [`SqlJobTable::batch`] writes each
    /// once, at the end, inside the same transaction.
    counts: BTreeMap<String, ShardCounts>,
}

impl SqlJobTable {
    pub(crate) fn new(sql: SqlStorage) -> Self {
        Self { sql, counts: BTreeMap::new() }
    }

    /// Runs one decision over the tables, then writes the counters it changed.
    pub(crate) fn batch<T>(sql: SqlStorage, decision: impl FnOnce(&mut Self) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut table = Self::new(sql);
        let answer = decision(&mut table)?;
        for c in std::mem::take(&mut table.counts).into_values() {
            table.write_counts(&c)?;
        }
        Ok(answer)
    }

    fn write_counts(&self, c: &ShardCounts) -> Result<(), StoreError> {
        exec(
            &self.sql,
            "INSERT OR REPLACE INTO counts
                (sweep_id, in_flight, retrying, succeeded, dead, superseded, duplicates, last_terminal_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                c.run_id.as_str().into(),
                uint(c.in_flight)?,
                uint(c.retrying)?,
                uint(c.succeeded)?,
                uint(c.dead)?,
                uint(c.superseded)?,
                uint(c.duplicates)?,
                opt_int(c.last_terminal_ms)?,
            ],
        )
    }
}

impl JobTable for SqlJobTable {
    fn job(&self, job_id: &str) -> Result<Option<JobRow>, StoreError> {
        first::<JobRecord>(&self.sql, "SELECT * FROM jobs WHERE job_id = ?", vec![job_id.into()])?.map(JobRow::try_from).transpose()
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
            "INSERT OR REPLACE INTO jobs
                (job_id, sweep_id, customer_id, scheduled_ms, state, attempts, lease_until_ms, last_error, updated_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        )
    }

    /// The lane is stored in the column `customer_id` (see [`SiteRow::lane`]).
    fn site(&self, lane: &str) -> Result<Option<SiteRow>, StoreError> {
        first(&self.sql, "SELECT * FROM sites WHERE customer_id = ?", vec![lane.into()])
    }

    fn put_site(&mut self, row: &SiteRow) -> Result<(), StoreError> {
        exec(
            &self.sql,
            "INSERT OR REPLACE INTO sites (customer_id, newest_scheduled_ms, active_job, active_lease_until_ms)
             VALUES (?, ?, ?, ?)",
            vec![
                row.lane.as_str().into(),
                int(row.newest_scheduled_ms)?,
                row.active_job.as_deref().into(),
                int(row.active_lease_until_ms)?,
            ],
        )
    }

    fn counts(&self, run_id: &str) -> Result<ShardCounts, StoreError> {
        if let Some(pending) = self.counts.get(run_id) {
            return Ok(pending.clone());
        }
        let found: Option<ShardCounts> = first(&self.sql, "SELECT * FROM counts WHERE sweep_id = ?", vec![run_id.into()])?;
        Ok(found.unwrap_or_else(|| ShardCounts { run_id: run_id.to_owned(), ..ShardCounts::default() }))
    }

    /// Kept until the end of the request ([`SqlJobTable::batch`]); a table used without
    /// `batch` writes nothing of its counters.
    fn put_counts(&mut self, c: &ShardCounts) -> Result<(), StoreError> {
        self.counts.insert(c.run_id.clone(), c.clone());
        Ok(())
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

    fn put_head(&mut self, row: &HeadRow) -> Result<(), StoreError> {
        let body = serde_json::to_string(row).map_err(|e| StoreError(format!("cannot encode the head row of {}: {e}", row.task)))?;
        exec(&self.sql, "INSERT OR REPLACE INTO heads (task, body) VALUES (?, ?)", vec![row.task.as_str().into(), body.into()])
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

    fn put_rollup(&mut self, r: &DailyRollup) -> Result<(), StoreError> {
        let body =
            serde_json::to_string(r).map_err(|e| StoreError(format!("cannot encode the rollup of {} on {}: {e}", r.customer_id, r.day)))?;
        exec(
            &self.sql,
            "INSERT OR REPLACE INTO rollups (customer_id, day, body, dirty) VALUES (?, ?, ?, 1)",
            vec![r.customer_id.as_str().into(), r.day.as_str().into(), body.into()],
        )
    }
}

/// A `rollups.body` as the rollup it encodes.
pub(crate) fn decode_rollup(customer_id: &str, day: &str, body: &str) -> Result<DailyRollup, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError(format!("the rollup of {customer_id} on {day} is undecodable: {e}")))
}

/// The coordinator's table (`sweeps`).
pub(crate) struct SqlRunTable {
    sql: SqlStorage,
}

impl SqlRunTable {
    pub(crate) fn new(sql: SqlStorage) -> Self {
        Self { sql }
    }
}

impl RunTable for SqlRunTable {
    fn run(&self, run_id: &str) -> Result<Option<RunRow>, StoreError> {
        first::<RunRecord>(&self.sql, "SELECT * FROM sweeps WHERE sweep_id = ?", vec![run_id.into()])?.map(RunRow::try_from).transpose()
    }

    fn put_run(&mut self, r: &RunRow) -> Result<(), StoreError> {
        exec(
            &self.sql,
            "INSERT OR REPLACE INTO sweeps
                (sweep_id, task, scheduled_ms, phase, cursor, expected, enqueued, opened_ms,
                 producer_lease_until_ms, fanout_done_ms, finished_ms, firings, producer_owner, finalize_requested_ms, origin)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                r.run_id.as_str().into(),
                r.task.as_str().into(),
                int(r.scheduled_ms)?,
                r.phase.as_str().into(),
                r.cursor.as_deref().into(),
                uint(r.expected)?,
                uint(r.enqueued)?,
                int(r.opened_ms)?,
                int(r.producer_lease_until_ms)?,
                opt_int(r.fanout_done_ms)?,
                opt_int(r.finished_ms)?,
                int(i64::from(r.firings))?,
                r.producer_owner.as_deref().into(),
                opt_int(r.finalize_requested_ms)?,
                r.origin.as_deref().into(),
            ],
        )
    }

    fn recent(&self, limit: u32) -> Result<Vec<RunRow>, StoreError> {
        // Same order as the in-memory twin: newest scheduled first, ties by id descending.
        rows::<RunRecord>(
            &self.sql,
            "SELECT * FROM sweeps ORDER BY scheduled_ms DESC, sweep_id DESC LIMIT ?",
            vec![int(i64::from(limit))?],
        )?
        .into_iter()
        .map(RunRow::try_from)
        .collect()
    }
}
