//! The D1 copy of the customers' daily rollups (`daily_rollups`, schema and column meanings in
//! `migrations/0004_daily_rollups.sql`): the ledger's job shards write it from their alarm
//! ([`upsert_rollups`]), the monthly analytics and the admin API read one customer's month
//! ([`month_rollups`]), the end-of-month report every customer's, in pages ([`month_rollups_page`]).
//!
//! Arrays are JSON text columns. Numbers come back from D1 as JavaScript numbers, so rows are
//! decoded through `f64` and converted; every count and time here is far below 2^53.

use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::D1Database;

use code24_shared::error::JobError;
use code24_shared::limits::usage::Counted;
use code24_shared::reports::analytics::DailyRollup;
use code24_shared::reports::pages::{whole_customers, RollupPage, ROLLUP_PAGE_ROWS};
use code24_shared::reports::period::Month;

use crate::meter::Meter;

/// Upsert of one row with absolute values: sending the same row twice leaves the same row.
const UPSERT: &str = "INSERT INTO daily_rollups
    (customer_id, day, runs, successes, transient_failures, permanent_failures, duration_ms_sum,
     duration_buckets, score_sums, first_scores, first_at_ms, last_scores, last_at_ms, updated_ms, scored)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
    ON CONFLICT (customer_id, day) DO UPDATE SET
        runs = excluded.runs, successes = excluded.successes,
        transient_failures = excluded.transient_failures, permanent_failures = excluded.permanent_failures,
        duration_ms_sum = excluded.duration_ms_sum, duration_buckets = excluded.duration_buckets,
        score_sums = excluded.score_sums, first_scores = excluded.first_scores, first_at_ms = excluded.first_at_ms,
        last_scores = excluded.last_scores, last_at_ms = excluded.last_at_ms, updated_ms = excluded.updated_ms,
        scored = excluded.scored";

const COLUMNS: &str = "customer_id, day, runs, successes, transient_failures, permanent_failures, duration_ms_sum, \
    duration_buckets, score_sums, first_scores, first_at_ms, last_scores, last_at_ms, scored";

/// One bound value of [`UPSERT`], in a form tests can read.
#[derive(Debug, Clone, PartialEq)]
enum Param {
    Text(String),
    Number(f64),
    Null,
}

impl Param {
    fn js(&self) -> JsValue {
        match self {
            Self::Text(s) => JsValue::from_str(s),
            // An i64 would be bound as a BigInt, which D1 refuses.
            Self::Number(n) => JsValue::from_f64(*n),
            Self::Null => JsValue::NULL,
        }
    }
}

/// An array as JSON text. Arrays of integers always serialize.
fn json<T: serde::Serialize>(value: &T) -> Param {
    Param::Text(serde_json::to_string(value).unwrap_or_else(|_| "null".into()))
}

/// The values of [`UPSERT`] for `r`, in order.
fn params(r: &DailyRollup, updated_ms: i64) -> Vec<Param> {
    let scores = |s: Option<[u8; 3]>| s.map_or(Param::Null, |s| json(&s));
    let time = |t: Option<i64>| t.map_or(Param::Null, |t| Param::Number(t as f64));
    vec![
        Param::Text(r.customer_id.clone()),
        Param::Text(r.day.clone()),
        Param::Number(r.runs as f64),
        Param::Number(r.successes as f64),
        Param::Number(r.transient_failures as f64),
        Param::Number(r.permanent_failures as f64),
        Param::Number(r.duration_ms_sum as f64),
        json(&r.duration_buckets),
        json(&r.score_sums),
        scores(r.first_scores),
        time(r.first_at_ms),
        scores(r.last_scores),
        time(r.last_at_ms),
        Param::Number(updated_ms as f64),
        Param::Number(r.scored as f64),
    ]
}

/// Writes `rollups` (at most a D1 batch's worth; the ledger sends 50) in one D1 batch, counted
/// in `meter` (the ledger alarm's).
pub async fn upsert_rollups(db: &D1Database, rollups: &[DailyRollup], updated_ms: i64, meter: &Meter) -> Result<(), JobError> {
    let fail = |what: &str, e: worker::Error| JobError::transient(format!("daily_rollups {what}: {e}"));
    let mut statements = Vec::with_capacity(rollups.len());
    for r in rollups {
        let values: Vec<JsValue> = params(r, updated_ms).iter().map(Param::js).collect();
        statements.push(db.prepare(UPSERT).bind(&values).map_err(|e| fail("bind", e))?);
    }
    let _connection = meter.start(Counted::D1Batch { statements: statements.len() as u64 });
    db.batch(statements).await.map_err(|e| fail("upsert", e))?;
    Ok(())
}

/// Deletes at most `limit` daily rollups of days before `before_day` (`YYYY-MM-DD`), through
/// the index by day, and answers how many went. Counted in `meter` (the ledger alarm's).
pub async fn delete_old_rollups(db: &D1Database, before_day: &str, limit: u32, meter: &Meter) -> Result<u64, JobError> {
    let fail = |e: worker::Error| JobError::transient(format!("daily_rollups delete: {e}"));
    let statement = db
        .prepare("DELETE FROM daily_rollups WHERE rowid IN (SELECT rowid FROM daily_rollups WHERE day < ?1 LIMIT ?2)")
        .bind(&[JsValue::from_str(before_day), JsValue::from_f64(f64::from(limit))])
        .map_err(fail)?;
    let _connection = meter.start(Counted::D1Query);
    let result = statement.run().await.map_err(fail)?;
    Ok(result.meta().map_err(fail)?.and_then(|m| m.changes).unwrap_or(0) as u64)
}

/// A row as D1 returns it.
#[derive(Debug, Deserialize)]
struct Record {
    customer_id: String,
    day: String,
    runs: f64,
    successes: f64,
    transient_failures: f64,
    permanent_failures: f64,
    duration_ms_sum: f64,
    duration_buckets: String,
    score_sums: String,
    first_scores: Option<String>,
    first_at_ms: Option<f64>,
    last_scores: Option<String>,
    last_at_ms: Option<f64>,
    #[serde(default)]
    scored: f64,
}

impl TryFrom<Record> for DailyRollup {
    type Error = JobError;

    fn try_from(r: Record) -> Result<Self, JobError> {
        let id = format!("{} {}", r.customer_id, r.day);
        let bad = |column: &str, e: serde_json::Error| JobError::permanent(format!("daily_rollups {id}: {column} is not valid JSON: {e}"));
        let scores = |column: &str, raw: Option<String>| {
            raw.map(|raw| serde_json::from_str::<[u8; 3]>(&raw).map_err(|e| bad(column, e))).transpose()
        };
        Ok(DailyRollup {
            duration_buckets: serde_json::from_str(&r.duration_buckets).map_err(|e| bad("duration_buckets", e))?,
            score_sums: serde_json::from_str(&r.score_sums).map_err(|e| bad("score_sums", e))?,
            first_scores: scores("first_scores", r.first_scores)?,
            last_scores: scores("last_scores", r.last_scores)?,
            customer_id: r.customer_id,
            day: r.day,
            runs: r.runs as u64,
            successes: r.successes as u64,
            transient_failures: r.transient_failures as u64,
            permanent_failures: r.permanent_failures as u64,
            duration_ms_sum: r.duration_ms_sum as i64,
            first_at_ms: r.first_at_ms.map(|t| t as i64),
            last_at_ms: r.last_at_ms.map(|t| t as i64),
            scored: r.scored as u64,
        })
    }
}

/// The first day of `month` and the first day after it, as `YYYY-MM-DD` bounds of `day`.
fn bounds(month: Month) -> (String, String) {
    (format!("{}-01", month.label()), format!("{}-01", month.next().label()))
}

/// One customer's rollups of `month`, ordered by day.
pub async fn month_rollups(db: &D1Database, customer_id: &str, month: Month) -> Result<Vec<DailyRollup>, JobError> {
    let (from, to) = bounds(month);
    let query = format!("SELECT {COLUMNS} FROM daily_rollups WHERE customer_id = ?1 AND day >= ?2 AND day < ?3 ORDER BY day");
    read(db, query, vec![JsValue::from_str(customer_id), JsValue::from_str(&from), JsValue::from_str(&to)]).await
}

/// One page of every customer's rollups of `month` after customer `after`, in whole customers
/// (keyset paging on the table's (customer_id, day) key, [`ROLLUP_PAGE_ROWS`] rows a read).
pub async fn month_rollups_page(db: &D1Database, month: Month, after: Option<&str>) -> Result<RollupPage, JobError> {
    let (from, to) = bounds(month);
    let query =
        format!("SELECT {COLUMNS} FROM daily_rollups WHERE customer_id > ?1 AND day >= ?2 AND day < ?3 ORDER BY customer_id, day LIMIT ?4");
    let values = vec![
        JsValue::from_str(after.unwrap_or_default()),
        JsValue::from_str(&from),
        JsValue::from_str(&to),
        JsValue::from_f64(ROLLUP_PAGE_ROWS as f64),
    ];
    Ok(whole_customers(read(db, query, values).await?, ROLLUP_PAGE_ROWS))
}

async fn read(db: &D1Database, query: String, values: Vec<JsValue>) -> Result<Vec<DailyRollup>, JobError> {
    let fail = |what: &str, e: worker::Error| JobError::transient(format!("daily_rollups {what}: {e}"));
    let records = db
        .prepare(query)
        .bind(&values)
        .map_err(|e| fail("bind", e))?
        .all()
        .await
        .map_err(|e| fail("read", e))?
        .results::<Record>()
        .map_err(|e| fail("decode", e))?;
    records.into_iter().map(DailyRollup::try_from).collect()
}

#[cfg(test)]
mod tests {
    use code24_shared::ledger::rollups::{add, empty, Ended};
    use code24_shared::ledger::JobMetrics;

    use super::*;

    fn sample() -> DailyRollup {
        let mut r = empty("acme", "2026-11-29");
        add(&mut r, Ended::Succeeded, 1_795_914_900_000, Some(&JobMetrics { duration_ms: 700, scores: Some([60, 70, 80]) }));
        r
    }

    /// What D1 would hand back for the values bound for `r`.
    fn stored(r: &DailyRollup) -> Record {
        let p = params(r, 5);
        let text = |i: usize| match &p[i] {
            Param::Text(s) => Some(s.clone()),
            _ => None,
        };
        let number = |i: usize| match &p[i] {
            Param::Number(n) => Some(*n),
            _ => None,
        };
        Record {
            customer_id: text(0).unwrap(),
            day: text(1).unwrap(),
            runs: number(2).unwrap(),
            successes: number(3).unwrap(),
            transient_failures: number(4).unwrap(),
            permanent_failures: number(5).unwrap(),
            duration_ms_sum: number(6).unwrap(),
            duration_buckets: text(7).unwrap(),
            score_sums: text(8).unwrap(),
            first_scores: text(9),
            first_at_ms: number(10),
            last_scores: text(11),
            last_at_ms: number(12),
            scored: number(14).unwrap_or(0.0),
        }
    }

    #[test]
    fn a_rollup_round_trips_through_its_columns() {
        let r = sample();
        let p = params(&r, 5);
        assert_eq!(p.len(), UPSERT.matches('?').count(), "one value per placeholder");
        assert_eq!(p[8], Param::Text("[60,70,80]".into()));
        assert_eq!(p[13], Param::Number(5.0));
        assert_eq!(DailyRollup::try_from(stored(&r)).unwrap(), r);
        let mut unscored = empty("acme", "2026-11-29");
        add(&mut unscored, Ended::Succeeded, 0, None);
        assert_eq!((params(&unscored, 5)[9].clone(), params(&unscored, 5)[10].clone()), (Param::Null, Param::Null));
        assert_eq!(DailyRollup::try_from(stored(&unscored)).unwrap(), unscored);
    }

    #[test]
    fn bad_json_names_the_row_and_column() {
        let mut record = stored(&sample());
        record.score_sums = "[1,2".into();
        let err = DailyRollup::try_from(record).unwrap_err();
        assert!(err.message.starts_with("daily_rollups acme 2026-11-29: score_sums is not valid JSON"), "{}", err.message);
    }

    #[test]
    fn a_month_is_its_days() {
        assert_eq!(bounds(Month::new(2026, 12).unwrap()), ("2026-12-01".into(), "2027-01-01".into()));
    }
}
