//! The ledger's tables over the Durable Object's SQLite storage: the schema, the statement
//! helpers, and [`RunTable`] as keyed reads and whole-row upserts, so the decisions of
//! `code24_shared::ledger` run here exactly as they run over the in-memory twin. A job shard's
//! rows are [`crate::shard_rows`]'.
//!
//! Every instance creates every table: the coordinator's job tables and a shard's sweep table
//! simply stay empty. That keeps an instance ignorant of its own kind (a Durable Object does
//! not reliably know the name it was reached by) and lets one pruning pass serve both kinds.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use worker::{SqlStorage, SqlStorageValue};

use code24_shared::ledger::runs::RunTable;
use code24_shared::ledger::{RunPhase, RunRow, StoreError};

/// The schema, one statement each so a failure names its statement. Idempotent: it runs every
/// time an instance starts.
///
/// Column names keep their first spelling, which predates report runs: every `sweep_id` column
/// (and the table `sweeps`) holds a run id of any task (`RunRow::run_id`), and `sites.customer_id`
/// holds a lane key (`SiteRow::lane`). Renaming a column would need a migration of every live
/// instance; the Rust names say what the columns hold.
const SCHEMA: &[&str] = &[
    // The job rows of builds before `ledger::compact`: read while any is left, never written,
    // drained by the pruning (`crate::prune`). A new instance creates it empty.
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
    // Pruning drains the old table by age. Its index by sweep served a pruning of counters that
    // now goes by time, and cost a row written per job: dropped.
    "CREATE INDEX IF NOT EXISTS jobs_by_scheduled ON jobs (scheduled_ms)",
    "DROP INDEX IF EXISTS jobs_by_sweep",
    // The jobs `ledger::compact` keeps as rows (retrying, dead, superseded, in flight after a
    // failure, report jobs): keyed by job id with no other index (one row written per insert or
    // update); the pruning reads the whole table, which holds few rows.
    "CREATE TABLE IF NOT EXISTS job_rows (
        job_id TEXT PRIMARY KEY,
        sweep_id TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        scheduled_ms INTEGER NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        lease_until_ms INTEGER NOT NULL,
        last_error TEXT,
        updated_ms INTEGER NOT NULL
    ) WITHOUT ROWID",
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
    // The flush reads the dirty rows by scanning the table (rows read cost a thousandth of rows
    // written); an index of dirty rows cost a row written each time a rollup became dirty and
    // each time it was flushed: dropped.
    "DROP INDEX IF EXISTS rollups_dirty",
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
/// `sites.active_attempts` and `sites.done` are a lane's `ledger::compact::LaneRow` (its
/// active job's attempts when that job has no row, its succeeded minutes);
/// `counts.touched_ms` is when a counter row was last written, which the pruning goes by (an
/// older row gains the instance's start time, so it is kept one more retention).
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("sweeps", "producer_owner", "TEXT"),
    ("sweeps", "finalize_requested_ms", "INTEGER"),
    ("sweeps", "origin", "TEXT"),
    ("sweeps", "by_shard", "INTEGER NOT NULL DEFAULT 0"),
    ("sites", "active_attempts", "INTEGER NOT NULL DEFAULT 0"),
    ("sites", "done", "TEXT"),
    ("counts", "touched_ms", "INTEGER"),
];

/// Creates every table and index that does not exist yet, and adds columns newer builds need.
pub(crate) fn create_schema(sql: &SqlStorage, now_ms: i64) -> Result<(), StoreError> {
    for statement in SCHEMA.iter().chain(crate::shard::SCHEMA) {
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
    exec(sql, "UPDATE counts SET touched_ms = ? WHERE touched_ms IS NULL", vec![int(now_ms)?])?;
    Ok(())
}

/// Runs one statement, turning the runtime's error into a [`StoreError`].
pub(crate) fn exec(sql: &SqlStorage, query: &str, params: Vec<SqlStorageValue>) -> Result<(), StoreError> {
    let context = |e: worker::Error| StoreError(format!("{e} (in: {})", first_line(query)));
    let cursor = sql.exec(query, params).map_err(context)?;
    // Run to the end, so the cursor's row counts are final.
    let _: Vec<serde::de::IgnoredAny> = cursor.to_array().map_err(context)?;
    crate::usage::record(&cursor);
    Ok(())
}

/// Runs one query and decodes every row. `SqlCursor::one()` would crash the instance on zero
/// rows (0.8.7), so single-row reads go through here too and take the first element.
pub(crate) fn rows<T: DeserializeOwned>(sql: &SqlStorage, query: &str, params: Vec<SqlStorageValue>) -> Result<Vec<T>, StoreError> {
    let context = |e: worker::Error| StoreError(format!("{e} (in: {})", first_line(query)));
    let cursor = sql.exec(query, params).map_err(context)?;
    let all = cursor.to_array().map_err(context)?;
    crate::usage::record(&cursor);
    Ok(all)
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

pub(crate) fn uint(value: u64) -> Result<SqlStorageValue, StoreError> {
    int(i64::try_from(value).map_err(|_| StoreError(format!("{value} is outside the storable integer range")))?)
}

pub(crate) fn opt_int(value: Option<i64>) -> Result<SqlStorageValue, StoreError> {
    value.map_or(Ok(SqlStorageValue::Null), int)
}

/// Reads the first row, if any.
pub(crate) fn first<T: DeserializeOwned>(sql: &SqlStorage, query: &str, params: Vec<SqlStorageValue>) -> Result<Option<T>, StoreError> {
    Ok(rows(sql, query, params)?.into_iter().next())
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
    #[serde(default)]
    by_shard: i64,
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
            by_shard: r.by_shard != 0,
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
                 producer_lease_until_ms, fanout_done_ms, finished_ms, firings, producer_owner, finalize_requested_ms, origin, by_shard)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                int(i64::from(r.by_shard))?,
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
