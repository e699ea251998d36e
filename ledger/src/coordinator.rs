//! The coordinator's progress reads: a sweep row alone says how far the fan-out went, but how
//! its jobs ended lives in the job shards. A read asks every shard for its counters of the
//! requested sweeps at once (one `COUNTS` call per shard, concurrently), combines them with
//! `runs::progress`, and records a sweep's finish time the first time it is seen complete.
//! A fan-in request (`FINALIZE`) gathers one run's counters the same way ([`run_counts`]).

use std::collections::HashMap;

use futures::future::join_all;
use worker::{console_error, Env, SqlStorage, Storage};

use code24_runtime::env::{now_ms, vars};
use code24_runtime::ledger_client::DurableLedger;
use code24_shared::config::LedgerConfig;
use code24_shared::error::JobError;
use code24_shared::ledger::runs::{self, RunTable};
use code24_shared::ledger::shard_map::{ShardMap, MAPS};
use code24_shared::ledger::{CountsRequest, RunProgress, RunRow, ShardCounts, StoreError};

use crate::sql_tables::SqlRunTable;
use crate::transaction::atomically;

/// The progress of each of `rows`, in order.
pub(crate) async fn progress_of(env: &Env, storage: &Storage, rows: Vec<RunRow>) -> Result<Vec<RunProgress>, JobError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let counts = shard_counts(env, rows.iter().map(|r| r.run_id.clone()).collect()).await?;
    let mut progresses = Vec::with_capacity(rows.len());
    for row in &rows {
        let (progress, update) = runs::progress(row, counts.get(&row.run_id).map_or(&[], Vec::as_slice));
        if let Some(update) = update {
            let sql = storage.sql();
            // A failed write only delays the record: the next read computes it again.
            if let Err(e) = atomically(storage, move || record_finish(sql, update)) {
                console_error!("ledger: cannot record the finish time of {}: {e}", row.run_id);
            }
        }
        progresses.push(progress);
    }
    Ok(progresses)
}

/// Every shard's counters of one run.
pub(crate) async fn run_counts(env: &Env, run_id: &str) -> Result<Vec<ShardCounts>, JobError> {
    Ok(shard_counts(env, vec![run_id.to_owned()]).await?.remove(run_id).unwrap_or_default())
}

/// Every live shard's counters of `run_ids`, grouped by run: the shards of every map that may
/// still hold a job ([`ShardMap::live_slots`]; with the build's one map, its 8 shards).
async fn shard_counts(env: &Env, run_ids: Vec<String>) -> Result<HashMap<String, Vec<ShardCounts>>, JobError> {
    let ledger = DurableLedger::from_env(env).map_err(|e| JobError::transient(format!("ledger binding: {e}")))?;
    let request = CountsRequest { run_ids };
    let retention_hours = LedgerConfig::from_vars(&vars(env)).map_or(LedgerConfig::MIN_RETENTION_HOURS, |c| c.retention_hours);
    let live = ShardMap::live_slots(MAPS, now_ms(), i64::from(retention_hours) * 3_600_000);
    let answers = join_all(live.into_iter().map(|shard| ledger.counts(shard, &request))).await;
    let mut by_run: HashMap<String, Vec<ShardCounts>> = HashMap::new();
    for answer in answers {
        for counts in answer? {
            by_run.entry(counts.run_id.clone()).or_default().push(counts);
        }
    }
    Ok(by_run)
}

/// Stores a newly seen finish time. The shards were read with no lock held, so the stored row
/// may have changed meanwhile (another cron firing counted, say): only `finished_ms` is taken
/// from `update`, applied to the row as stored now.
fn record_finish(sql: SqlStorage, update: RunRow) -> Result<(), StoreError> {
    let mut table = SqlRunTable::new(sql);
    match table.run(&update.run_id)? {
        Some(mut stored) if stored.finished_ms.is_none() => {
            stored.finished_ms = update.finished_ms;
            table.put_run(&stored)
        }
        // Pruned meanwhile, or another read recorded it first.
        _ => Ok(()),
    }
}
