//! Retention: what the hourly alarm deletes, in bounded chunks. Sweeps (coordinator), job rows
//! and counters (shards) older than `SWEEP_RETENTION_HOURS` go, and so do rollups a day older
//! than that once D1 has them (`rollups::SHARD_KEEPS_DAYS_BEYOND_RETENTION`). `sites` rows (the
//! lanes, with their succeeded minutes) stay: they are what keeps an older sweep's late
//! redelivery from overwriting a newer one's work, and their minutes are trimmed to the
//! retention whenever they are written.
//!
//! Each chunk deletes at most [`CHUNK_ROWS`] rows in its own transaction, and one alarm runs at
//! most [`CHUNKS_PER_ALARM`] chunks: a shard is never blocked for long by its pruning (at
//! 100,000 sites a shard's rows of an hour are about 250,000 rows before `ledger::compact`; now
//! a few hundred), and a backlog is worked off by alarms [`AGAIN_MS`] apart.

use serde::Deserialize;
use worker::{console_error, console_log, Env, SqlStorage, SqlStorageValue, Storage};

use code24_runtime::meter::Meter;
use code24_shared::config::{ConfigError, LedgerConfig};
use code24_shared::ledger::rollups::{day_of, D1_KEEPS_DAYS, D1_PRUNE_ROWS, SHARD_KEEPS_DAYS_BEYOND_RETENTION};
use code24_shared::ledger::stats::Rows;
use code24_shared::ledger::StoreError;

use crate::sql_tables::{int, rows};
use crate::transaction::atomically;
use crate::usage::measured;

/// Prunes what is older than the retention in `config`, each kind in chunks, each chunk its own
/// transaction, within one alarm's allowance; answers when to prune next (`None`: nothing is
/// left to prune, until a write plans it again) and the rows it read and wrote.
pub(crate) fn run(storage: &Storage, config: Result<LedgerConfig, ConfigError>, now: i64) -> (Result<Option<i64>, StoreError>, Rows) {
    let mut charged = Rows::default();
    let next = match config {
        Ok(config) => chunks(storage, cutoff_ms(now, config.retention_hours), now, &mut charged),
        Err(e) => {
            // Pruning nothing is the safe reading of a bad retention: data is kept, and the
            // next pruning, in an hour, logs this again.
            console_error!("ledger: not pruning: {e}");
            Ok(Some(now + PRUNE_INTERVAL_MS))
        }
    };
    (next, charged)
}

/// [`run`]'s chunks, charging the rows each reads and writes to `charged`.
fn chunks(storage: &Storage, cutoff: i64, now: i64, charged: &mut Rows) -> Result<Option<i64>, StoreError> {
    let (mut chunks, mut backlog, mut log) = (0, false, Vec::new());
    for (name, query) in CHUNKS {
        let mut deleted = 0;
        loop {
            if chunks == CHUNKS_PER_ALARM {
                backlog = true;
                break;
            }
            chunks += 1;
            let sql = storage.sql();
            let (gone, rows) = measured(|| atomically(storage, move || chunk(&sql, name, query, cutoff)));
            charged.add(rows);
            let gone = gone?;
            deleted += gone;
            if gone < CHUNK_ROWS as u64 {
                break;
            }
        }
        log.push(format!("{deleted} {name}"));
    }
    console_log!("ledger: pruned {} (before {cutoff}){}", log.join(", "), if backlog { "; more next alarm" } else { "" });
    if backlog {
        return Ok(Some(now + AGAIN_MS));
    }
    let (left, rows) = measured(|| anything_left(&storage.sql()));
    charged.add(rows);
    Ok(left?.then_some(now + PRUNE_INTERVAL_MS))
}

/// How often the alarm prunes while there is anything to prune.
pub(crate) const PRUNE_INTERVAL_MS: i64 = 60 * 60 * 1000;
/// How soon the next alarm prunes again when this one left a backlog.
pub(crate) const AGAIN_MS: i64 = 1_000;
/// Rows one chunk deletes at most (one transaction).
pub(crate) const CHUNK_ROWS: i64 = 500;
/// Chunks one alarm runs at most.
pub(crate) const CHUNKS_PER_ALARM: usize = 20;

const HOUR_MS: i64 = 60 * 60 * 1000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// What one chunk deletes: a name for the log, and a `DELETE` of at most `?` (the second
/// parameter) rows older than the first parameter.
pub(crate) const CHUNKS: &[(&str, &str)] = &[
    ("sweeps", "DELETE FROM sweeps WHERE sweep_id IN (SELECT sweep_id FROM sweeps WHERE scheduled_ms < ? LIMIT ?)"),
    ("jobs", "DELETE FROM job_rows WHERE job_id IN (SELECT job_id FROM job_rows WHERE scheduled_ms < ? LIMIT ?)"),
    ("older jobs", "DELETE FROM jobs WHERE job_id IN (SELECT job_id FROM jobs WHERE scheduled_ms < ? LIMIT ?)"),
    ("counters", "DELETE FROM counts WHERE sweep_id IN (SELECT sweep_id FROM counts WHERE touched_ms < ? LIMIT ?)"),
    ("rollups", "DELETE FROM rollups WHERE rowid IN (SELECT rowid FROM rollups WHERE dirty = 0 AND day < ? LIMIT ?)"),
];

/// Rows scheduled before this instant are older than the retention.
pub(crate) fn cutoff_ms(now_ms: i64, retention_hours: u32) -> i64 {
    now_ms.saturating_sub(i64::from(retention_hours) * HOUR_MS)
}

/// The first parameter of chunk `name`: the time cutoff, or for rollups the first day kept.
pub(crate) fn chunk_cutoff(name: &str, cutoff_ms: i64) -> Result<SqlStorageValue, StoreError> {
    if name == "rollups" {
        let day = day_of(cutoff_ms.saturating_sub(SHARD_KEEPS_DAYS_BEYOND_RETENTION as i64 * DAY_MS)).unwrap_or_default();
        return Ok(day.into());
    }
    int(cutoff_ms)
}

/// Runs one chunk of `query` and answers how many rows it deleted (workerd counts one row
/// written per row deleted).
pub(crate) fn chunk(sql: &SqlStorage, name: &str, query: &str, cutoff_ms: i64) -> Result<u64, StoreError> {
    let context = |e: worker::Error| StoreError(format!("{e} (pruning {name})"));
    let cursor = sql.exec(query, vec![chunk_cutoff(name, cutoff_ms)?, int(CHUNK_ROWS)?]).map_err(context)?;
    let _: Vec<serde::de::IgnoredAny> = cursor.to_array().map_err(context)?;
    crate::usage::record(&cursor);
    Ok(cursor.rows_written() as u64)
}

/// Whether a later pass could have anything to delete, i.e. whether the pruning should be
/// planned again. `sites` rows are never pruned and so do not count.
pub(crate) fn anything_left(sql: &SqlStorage) -> Result<bool, StoreError> {
    #[derive(Deserialize)]
    struct Left {
        #[allow(dead_code)]
        found: i64,
    }
    let left: Vec<Left> = rows(
        sql,
        "SELECT 1 AS found WHERE EXISTS (SELECT 1 FROM sweeps) OR EXISTS (SELECT 1 FROM job_rows) OR EXISTS (SELECT 1 FROM jobs)
            OR EXISTS (SELECT 1 FROM counts) OR EXISTS (SELECT 1 FROM rollups)",
        Vec::new(),
    )?;
    Ok(!left.is_empty())
}

/// Deletes a bounded chunk of D1's daily rollups older than `D1_KEEPS_DAYS` (every instance
/// does, hourly: a row deleted twice is simply gone). A failure is logged; the next pruning
/// tries again.
pub(crate) async fn prune_d1(env: &Env, now: i64, meter: &Meter) {
    let before = day_of(now - D1_KEEPS_DAYS as i64 * 86_400_000).unwrap_or_default();
    let deleted = match env.d1(code24_shared::names::binding::DB) {
        Ok(db) => code24_runtime::rollups::delete_old_rollups(&db, &before, D1_PRUNE_ROWS, meter).await,
        Err(e) => Err(code24_shared::error::JobError::transient(e.to_string())),
    };
    match deleted {
        Ok(0) => {}
        Ok(n) => console_log!("ledger: deleted {n} D1 rollups of days before {before}"),
        Err(e) => console_error!("ledger: cannot delete old D1 rollups: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff_is_retention_hours_before_now() {
        assert_eq!(cutoff_ms(10 * HOUR_MS, 3), 7 * HOUR_MS);
        assert_eq!(cutoff_ms(1_795_914_900_000, 72), 1_795_914_900_000 - 72 * 3_600_000);
        // Far in the past does not overflow.
        assert_eq!(cutoff_ms(i64::MIN + 5, 1), i64::MIN);
    }

    #[test]
    fn every_chunk_is_bounded_and_rollups_go_a_day_after_the_jobs() {
        for (name, query) in CHUNKS {
            assert!(query.contains("LIMIT ?") && query.matches('?').count() == 2, "{name}: {query}");
        }
        // 2026-12-02T00:30Z: jobs before it go, rollups of days before 2026-12-01.
        let cutoff = 1_796_171_400_000;
        assert_eq!(day_of(cutoff).as_deref(), Some("2026-12-02"));
        assert!(matches!(chunk_cutoff("rollups", cutoff), Ok(SqlStorageValue::String(d)) if d == "2026-12-01"));
    }
}
