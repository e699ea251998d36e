//! The one alarm of a ledger instance serves two timers: the hourly pruning, and the flush of
//! dirty rollups to D1 within `ROLLUP_FLUSH_SECONDS` of the request that dirtied them. The alarm
//! is always set to the earlier of the two, and only ever moved earlier by a request (a busy
//! ledger would otherwise push it forward forever). When the prune is due is kept in SQLite
//! (`timers`), so an alarm that rings for a flush does not prune early.
//!
//! An instance written by an older build has a pending alarm and no prune timer: a missing
//! timer reads as due, so that alarm prunes as it always did.

use serde::Deserialize;
use worker::SqlStorage;

use code24_shared::ledger::StoreError;

use crate::sql_tables::{exec, int, rows};

/// The `timers` row of the pruning.
const PRUNE: &str = "prune";

/// When the next pruning is due, if one is planned.
pub(crate) fn prune_at(sql: &SqlStorage) -> Result<Option<i64>, StoreError> {
    #[derive(Deserialize)]
    struct Timer {
        at_ms: i64,
    }
    let found: Vec<Timer> = rows(sql, "SELECT at_ms FROM timers WHERE name = ?", vec![PRUNE.into()])?;
    Ok(found.first().map(|t| t.at_ms))
}

/// Plans the next pruning at `at_ms`, or none.
pub(crate) fn set_prune_at(sql: &SqlStorage, at_ms: Option<i64>) -> Result<(), StoreError> {
    match at_ms {
        Some(at) => exec(sql, "INSERT OR REPLACE INTO timers (name, at_ms) VALUES (?, ?)", vec![PRUNE.into(), int(at)?]),
        None => exec(sql, "DELETE FROM timers WHERE name = ?", vec![PRUNE.into()]),
    }
}

/// Whether the alarm ringing at `now_ms` must prune.
pub(crate) fn prune_due(prune_at: Option<i64>, now_ms: i64) -> bool {
    prune_at.is_none_or(|at| at <= now_ms)
}

/// When the alarm must ring: the earlier of the planned pruning and, when rollups are dirty,
/// the flush (`flush_at`); `None` when neither is wanted.
pub(crate) fn ring_at(prune_at: Option<i64>, flush_at: Option<i64>) -> Option<i64> {
    match (prune_at, flush_at) {
        (Some(p), Some(f)) => Some(p.min(f)),
        (p, f) => p.or(f),
    }
}

/// Whether an alarm pending at `pending` rings early enough for `wanted`; otherwise it must
/// be moved to `wanted`, which is earlier.
pub(crate) fn early_enough(pending: Option<i64>, wanted: i64) -> bool {
    pending.is_some_and(|p| p <= wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alarm_rings_for_the_earlier_timer_and_moves_only_earlier() {
        assert_eq!(ring_at(Some(3_600_000), Some(30_000)), Some(30_000));
        assert_eq!(ring_at(Some(10), Some(30_000)), Some(10));
        assert_eq!(ring_at(None, Some(30_000)), Some(30_000));
        assert_eq!(ring_at(Some(5), None), Some(5));
        assert_eq!(ring_at(None, None), None);
        assert!(early_enough(Some(10), 30_000), "an earlier pending alarm stays");
        assert!(!early_enough(Some(3_600_000), 30_000), "a later one is moved earlier");
        assert!(!early_enough(None, 30_000));
        // An older build's alarm has no timer row: it prunes.
        assert!(prune_due(None, 0) && prune_due(Some(5), 5) && !prune_due(Some(6), 5));
    }
}
