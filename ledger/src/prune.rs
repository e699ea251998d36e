//! Retention: what the hourly alarm deletes. Sweeps (coordinator) and jobs with their counters
//! (shards) scheduled longer ago than `SWEEP_RETENTION_HOURS` go; `sites` rows stay, because
//! they are what keeps an older sweep's late redelivery from overwriting a newer one's work, and
//! so do `rollups` (the truth their D1 copy is made from; see ARCHITECTURE.md).

use serde::Deserialize;
use worker::SqlStorage;

use code24_shared::ledger::StoreError;

use crate::sql_tables::{int, rows};

/// How often the alarm prunes while there is anything to prune.
pub(crate) const PRUNE_INTERVAL_MS: i64 = 60 * 60 * 1000;

const HOUR_MS: i64 = 60 * 60 * 1000;

/// Rows scheduled before this instant are older than the retention.
pub(crate) fn cutoff_ms(now_ms: i64, retention_hours: u32) -> i64 {
    now_ms.saturating_sub(i64::from(retention_hours) * HOUR_MS)
}

/// How many rows one pruning pass deleted, for the log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pruned {
    pub(crate) sweeps: usize,
    pub(crate) jobs: usize,
    pub(crate) counts: usize,
}

/// Deletes everything older than `cutoff_ms`, sweeps in every phase: a sweep still enqueuing
/// after the whole retention will never be resumed (its messages, if any, are long expired).
/// Counters go once no job of their sweep is left in this shard
/// (every counter row is created together with a job row, so that is exactly the sweeps whose
/// jobs were pruned).
pub(crate) fn prune(sql: &SqlStorage, cutoff_ms: i64) -> Result<Pruned, StoreError> {
    let sweeps = delete(sql, "DELETE FROM sweeps WHERE scheduled_ms < ?", vec![int(cutoff_ms)?])?;
    let jobs = delete(sql, "DELETE FROM jobs WHERE scheduled_ms < ?", vec![int(cutoff_ms)?])?;
    let counts = delete(sql, "DELETE FROM counts WHERE sweep_id NOT IN (SELECT sweep_id FROM jobs)", Vec::new())?;
    Ok(Pruned { sweeps, jobs, counts })
}

/// Whether a later pass could have anything to delete, i.e. whether the pruning should be
/// planned again. `sites` and `rollups` rows are never pruned and so do not count.
pub(crate) fn anything_left(sql: &SqlStorage) -> Result<bool, StoreError> {
    #[derive(Deserialize)]
    struct Left {
        #[allow(dead_code)]
        found: i64,
    }
    let left: Vec<Left> = rows(
        sql,
        "SELECT 1 AS found WHERE EXISTS (SELECT 1 FROM sweeps) OR EXISTS (SELECT 1 FROM jobs)
            OR EXISTS (SELECT 1 FROM counts)",
        Vec::new(),
    )?;
    Ok(!left.is_empty())
}

/// Runs a `DELETE` and counts the rows it removed, one `RETURNING` row each.
fn delete(sql: &SqlStorage, query: &str, params: Vec<worker::SqlStorageValue>) -> Result<usize, StoreError> {
    #[derive(Deserialize)]
    struct Gone {
        #[allow(dead_code)]
        gone: i64,
    }
    let returning = format!("{query} RETURNING 1 AS gone");
    let gone: Vec<Gone> = rows(sql, &returning, params)?;
    Ok(gone.len())
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
}
