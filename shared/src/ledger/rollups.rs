//! Each customer's daily rollup of optimization runs ([`DailyRollup`]), kept by the job shard
//! that owns the customer: how a run counts in a day, as pure functions over the rollup. A run
//! is an optimization job that ended succeeded or dead; the rollup of the UTC day of the job's
//! scheduled time counts it when the job *enters* that state, in the same transaction that
//! records the state (the job shard's state machine, `super::jobs`, reads and writes the
//! rollup through its table). A redelivery, a
//! duplicate claim or a stale outcome changes no state and so counts nothing: exactly once by
//! construction, with no bookkeeping of its own.
//!
//! The shard is the truth. Rows it changed are marked dirty and copied, as absolute values, to
//! D1's `daily_rollups` by the Durable Object's alarm (ledger/src/flush.rs) within
//! `ROLLUP_FLUSH_SECONDS` (`config::LedgerConfig::rollup_flush_s`: an hour when deployed, so D1
//! takes one upsert per customer and day an hour, not one per job), which the monthly analytics
//! read.
//!
//! A replay of a dead job takes its death back when it revives the job (runs and the failure
//! class go down by one), so a job counts once, as what it last ended as: the rollups always
//! agree with the ledger's own states. The dead attempt's duration stays in the histogram: it
//! was real work.

use super::JobMetrics;
use crate::error::{ErrorClass, JobError};
use crate::ids::from_epoch_ms;
use crate::reports::analytics::{bucket_of, DailyRollup, DURATION_BUCKETS_MS};

/// Upserts per D1 batch when flushing.
pub const FLUSH_BATCH_ROWS: usize = 50;
/// Rows one alarm flushes at most; more wait for the next alarm, set at once. Each row is one
/// D1 statement, and a D1 query of the invocation: 800 rows (16 batches) keep an alarm within
/// 80 % of its 1,000 queries (`limits::D1_QUERIES_PER_INVOCATION`).
pub const FLUSH_MAX_ROWS: usize =
    (crate::limits::D1_QUERIES_PER_INVOCATION * crate::limits::HEADROOM_PERCENT / 100) as usize / FLUSH_BATCH_ROWS * FLUSH_BATCH_ROWS;

/// A job shard keeps a rollup this many days beyond the job retention, then deletes it once
/// it is in D1 (clean): no job of an older day is left to change it (its rows are pruned, and
/// no message outlives them: `config::min_job_retention_hours`), and D1 holds the copy.
pub const SHARD_KEEPS_DAYS_BEYOND_RETENTION: u64 = 1;

/// D1 keeps a daily rollup this many days, then the ledger's hourly pruning deletes it (at
/// most [`D1_PRUNE_ROWS`] per instance and hour). The reports read the days of the month they
/// report and of the month before (end-of-month), within days of the month's end; after that a
/// month lives on in its monthly sections and its reports. 100 days keep D1 under a fifth of
/// its 10 GB at 100,000 customers (about 174 bytes a row, measured by the bench's part
/// `storage`).
pub const D1_KEEPS_DAYS: u64 = 100;
/// Old D1 rollups one ledger instance deletes per pruning (hourly): the nine instances delete up
/// to about a million a day, a day's rows at 1,000,000 customers.
pub const D1_PRUNE_ROWS: u32 = 5_000;

/// How a job ended, as a rollup counts it.
#[derive(Debug, Clone, Copy)]
pub enum Ended<'a> {
    Succeeded,
    /// Dead with this error; its class decides which failure it counts as.
    Dead(&'a JobError),
}

/// The UTC day (`YYYY-MM-DD`) of an instant; `None` for one chrono cannot represent (no
/// decoded job has such a time).
pub fn day_of(ms: i64) -> Option<String> {
    from_epoch_ms(ms).map(|t| t.format("%Y-%m-%d").to_string())
}

/// A day with no run yet.
pub fn empty(customer_id: &str, day: &str) -> DailyRollup {
    DailyRollup {
        customer_id: customer_id.to_owned(),
        day: day.to_owned(),
        runs: 0,
        successes: 0,
        transient_failures: 0,
        permanent_failures: 0,
        duration_ms_sum: 0,
        duration_buckets: vec![0; DURATION_BUCKETS_MS.len()],
        score_sums: [0; 3],
        scored: 0,
        first_scores: None,
        first_at_ms: None,
        last_scores: None,
        last_at_ms: None,
    }
}

/// Adds one run, scheduled at `scheduled_ms`, to `r`. Durations count when measured; scores
/// when the run wrote its result, and then the day's first and last scores are those of the
/// scored successes with the smallest and largest scheduled time.
pub fn add(r: &mut DailyRollup, ended: Ended<'_>, scheduled_ms: i64, metrics: Option<&JobMetrics>) {
    r.runs += 1;
    match ended {
        Ended::Succeeded => {
            r.successes += 1;
            if let Some(scores) = metrics.and_then(|m| m.scores) {
                r.scored += 1;
                for (sum, score) in r.score_sums.iter_mut().zip(scores) {
                    *sum += u64::from(score);
                }
                if r.first_at_ms.is_none_or(|at| scheduled_ms < at) {
                    r.first_scores = Some(scores);
                    r.first_at_ms = Some(scheduled_ms);
                }
                if r.last_at_ms.is_none_or(|at| scheduled_ms > at) {
                    r.last_scores = Some(scores);
                    r.last_at_ms = Some(scheduled_ms);
                }
            }
        }
        Ended::Dead(error) => match error.class {
            ErrorClass::Transient => r.transient_failures += 1,
            ErrorClass::Permanent => r.permanent_failures += 1,
        },
    }
    if let Some(m) = metrics {
        let duration = m.duration_ms.max(0);
        r.duration_ms_sum += duration;
        // A row written by a build with fewer buckets still takes this one.
        r.duration_buckets.resize(r.duration_buckets.len().max(DURATION_BUCKETS_MS.len()), 0);
        r.duration_buckets[bucket_of(duration)] += 1;
    }
}

/// Takes back a death from `r`: the job is revived by a replay and will end again.
pub fn take_back_death(r: &mut DailyRollup, error: Option<&JobError>) {
    r.runs = r.runs.saturating_sub(1);
    // A death recorded without its reason was counted as permanent (see `jobs::claim`).
    match error.map_or(ErrorClass::Permanent, |e| e.class) {
        ErrorClass::Transient => r.transient_failures = r.transient_failures.saturating_sub(1),
        ErrorClass::Permanent => r.permanent_failures = r.permanent_failures.saturating_sub(1),
    }
}
