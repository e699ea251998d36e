//! Copies a job shard's dirty daily rollups to D1 (`daily_rollups`, see
//! `migrations/0004_daily_rollups.sql`), from the alarm. Each upsert writes a row's absolute
//! values, so a repeated flush, or one cut off half-way, is harmless; the shard's `rollups`
//! table stays the truth, and a failed flush is simply retried by the next alarm.
//!
//! A row is marked clean only if its body is still the one that was sent: a request that
//! changed it while the upsert was on its way (the alarm awaits D1, and the object serves
//! requests meanwhile) leaves it dirty for the next flush.
//!
//! How fresh D1 is ([`code24_shared::ledger::freshness`]): the shard keeps, in `timers`, when
//! its last complete flush started (`flushed`, a row written once per flush) and since when its
//! flushes fail (`flush_failing`, written at the first failure); [`state`] reads them, with the
//! count of dirty rows, for the stats route.

use serde::Deserialize;
use worker::{console_error, Env, SqlStorage, Storage};

use code24_runtime::meter::Meter;
use code24_runtime::rollups::upsert_rollups;
use code24_shared::ledger::freshness::FlushState;
use code24_shared::ledger::journal::Shard;
use code24_shared::ledger::rollups::{FLUSH_BATCH_ROWS, FLUSH_MAX_ROWS};
use code24_shared::ledger::stats::Rows;
use code24_shared::ledger::StoreError;
use code24_shared::names::binding;
use code24_shared::reports::analytics::DailyRollup;

use crate::shard_rows::decode_rollup;
use crate::sql_tables::{exec, int, rows};
use crate::transaction::atomically;
use crate::usage::measured;

/// What one flush did.
#[derive(Debug, Default)]
pub(crate) struct Flushed {
    /// Rows copied to D1 (and marked clean, unless they changed meanwhile).
    pub(crate) rows: usize,
    /// More dirty rows than one flush takes were waiting.
    pub(crate) capped: bool,
    /// Why the flush stopped early; the rows it did not copy stay dirty.
    pub(crate) failed: Option<String>,
    /// What its statements read and wrote in the shard's SQLite.
    pub(crate) cost: Rows,
}

/// A dirty row, with the body that will be compared when marking it clean.
#[derive(Deserialize)]
struct DirtyRow {
    customer_id: String,
    day: String,
    body: String,
}

/// Whether any rollup waits for a flush.
pub(crate) fn any_dirty(sql: &SqlStorage) -> Result<bool, StoreError> {
    #[derive(Deserialize)]
    struct Found {
        #[allow(dead_code)]
        found: i64,
    }
    let found: Vec<Found> = rows(sql, "SELECT 1 AS found FROM rollups WHERE dirty = 1 LIMIT 1", Vec::new())?;
    Ok(!found.is_empty())
}

/// The `timers` row of the start of the last complete flush.
const FLUSHED: &str = "flushed";
/// The `timers` row of the first failed flush since the last complete one.
const FAILING: &str = "flush_failing";

/// Copies up to [`FLUSH_MAX_ROWS`] dirty rows to D1, [`FLUSH_BATCH_ROWS`] per D1 batch, and
/// marks each batch clean once D1 took it. Stops at the first failure. Its D1 batches are
/// counted in `meter` (the alarm's). Then records how it went: a flush that copied every dirty
/// row is complete (`now_ms` becomes `flushed`, and the flushes no longer fail); a failed one
/// starts `flush_failing` unless it is already running.
pub(crate) async fn flush(env: &Env, storage: &Storage, now_ms: i64, meter: &Meter) -> Flushed {
    let mut out = copy(env, storage, now_ms, meter).await;
    let sql = storage.sql();
    let (recorded, cost) = measured(|| match (&out.failed, out.rows, out.capped) {
        (Some(_), _, _) => exec(&sql, "INSERT OR IGNORE INTO timers (name, at_ms) VALUES (?, ?)", vec![FAILING.into(), int(now_ms)?]),
        // Nothing was dirty: nothing to record (D1 is as fresh as the shard).
        (None, 0, _) => exec(&sql, "DELETE FROM timers WHERE name = ?", vec![FAILING.into()]),
        (None, _, true) => Ok(()),
        (None, _, false) => {
            exec(&sql, "INSERT OR REPLACE INTO timers (name, at_ms) VALUES (?, ?)", vec![FLUSHED.into(), int(now_ms)?])?;
            exec(&sql, "DELETE FROM timers WHERE name = ?", vec![FAILING.into()])
        }
    });
    out.cost.add(cost);
    if let Err(e) = recorded {
        console_error!("ledger: cannot record the rollup flush: {e}");
    }
    out
}

/// The shard's write-behind as its stats report it, with its flush interval `interval_s`. Its
/// dirty rollups include those `shard` changed in memory since its last fold: not in the
/// table, so not marked for the flush, and not in D1 either.
pub(crate) fn state(sql: &SqlStorage, interval_s: u32, shard: &Shard) -> Result<FlushState, StoreError> {
    #[derive(Deserialize)]
    struct Timer {
        name: String,
        at_ms: i64,
    }
    #[derive(Deserialize)]
    struct Count {
        dirty: i64,
    }
    let in_state = |e: StoreError| StoreError(format!("flush state: {e}"));
    let timers: Vec<Timer> =
        rows(sql, "SELECT name, at_ms FROM timers WHERE name IN (?, ?)", vec![FLUSHED.into(), FAILING.into()]).map_err(in_state)?;
    let at = |name: &str| timers.iter().find(|t| t.name == name).map(|t| t.at_ms);
    // Scans the rollups (there is no index of dirty rows): read by an operator, not by requests.
    let counted: Vec<Count> = rows(sql, "SELECT COUNT(*) AS dirty FROM rollups WHERE dirty = 1", Vec::new()).map_err(in_state)?;
    let dirty = counted.first().map_or(0, |c| c.dirty.max(0) as u64);
    Ok(FlushState { interval_s, flushed_ms: at(FLUSHED), failing_since_ms: at(FAILING), dirty: dirty + shard.pending_rollups() as u64 })
}

async fn copy(env: &Env, storage: &Storage, now_ms: i64, meter: &Meter) -> Flushed {
    let mut out = Flushed::default();
    let sql = storage.sql();
    let limit = match int(FLUSH_MAX_ROWS as i64 + 1) {
        Ok(limit) => limit,
        Err(e) => return Flushed { failed: Some(e.to_string()), ..out },
    };
    let (dirty, cost) = measured(|| {
        rows(&sql, "SELECT customer_id, day, body FROM rollups WHERE dirty = 1 ORDER BY customer_id, day LIMIT ?", vec![limit])
    });
    out.cost.add(cost);
    let dirty: Vec<DirtyRow> = match dirty {
        Ok(dirty) => dirty,
        Err(e) => return Flushed { failed: Some(e.to_string()), ..out },
    };
    if dirty.is_empty() {
        return out;
    }
    out.capped = dirty.len() > FLUSH_MAX_ROWS;
    let mut sendable: Vec<(DirtyRow, DailyRollup)> = Vec::with_capacity(dirty.len().min(FLUSH_MAX_ROWS));
    for row in dirty.into_iter().take(FLUSH_MAX_ROWS) {
        match decode_rollup(&row.customer_id, &row.day, &row.body) {
            Ok(rollup) => sendable.push((row, rollup)),
            // Left dirty and logged on every flush: a bug to fix, not a reason to stop the rest.
            Err(e) => console_error!("ledger: not flushing a rollup: {e}"),
        }
    }
    let db = match env.d1(binding::DB) {
        Ok(db) => db,
        Err(e) => return Flushed { failed: Some(format!("the {} binding: {e}", binding::DB)), ..out },
    };
    for batch in sendable.chunks(FLUSH_BATCH_ROWS) {
        let rollups: Vec<DailyRollup> = batch.iter().map(|(_, r)| r.clone()).collect();
        if let Err(e) = upsert_rollups(&db, &rollups, now_ms, meter).await {
            out.failed = Some(e.to_string());
            break;
        }
        let sent: Vec<(String, String, String)> =
            batch.iter().map(|(row, _)| (row.customer_id.clone(), row.day.clone(), row.body.clone())).collect();
        let (marked, cost) = {
            let sql = sql.clone();
            measured(|| atomically(storage, move || mark_clean(&sql, &sent)))
        };
        out.cost.add(cost);
        if let Err(e) = marked {
            // D1 has the rows; they stay dirty here and are sent again, which is harmless.
            out.failed = Some(e.to_string());
            break;
        }
        out.rows += batch.len();
    }
    out
}

/// Clears `dirty` of each (customer, day) whose body is still the one sent.
fn mark_clean(sql: &SqlStorage, sent: &[(String, String, String)]) -> Result<(), StoreError> {
    for (customer_id, day, body) in sent {
        exec(
            sql,
            "UPDATE rollups SET dirty = 0 WHERE customer_id = ? AND day = ? AND body = ?",
            vec![customer_id.as_str().into(), day.as_str().into(), body.as_str().into()],
        )?;
    }
    Ok(())
}
