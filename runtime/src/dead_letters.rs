//! The dead-letter store over D1 ([`D1DeadLetters`]): the core's
//! [`DeadLetterStore`] port over the `dead_letters` table of
//! `migrations/0002_dead_letters.sql`. The dead-letters consumer writes through it; the admin
//! API reads the store's size through it.
//!
//! Numbers are bound as `f64` (an `i64` would be a BigInt, which D1 refuses); attempts and
//! epoch milliseconds stay far below 2^53.

use code24_shared::dead_letters::record::DeadLetterRecord;
use code24_shared::error::JobError;
use code24_shared::ports::DeadLetterStore;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::D1Database;

use crate::d1::rows;

/// Inserts a record, or updates the row of a job that died before: a replay that died again
/// is `dead` again; a purged entry stays purged (a re-sent letter of the same death, e.g. from
/// a duplicate delivery, must not bring it back), and so does a replayed entry unless the
/// letter has more attempts than the row: a replay's claim counts one more attempt, so only a
/// death after the replay has more, and a late copy of the death it replayed has not.
const UPSERT: &str = "INSERT INTO dead_letters (id, origin_queue, job_id, sweep_id, customer_id, body, error_class, \
     error_message, attempts, first_failed_ms, last_failed_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) \
     ON CONFLICT (id) DO UPDATE SET error_class = excluded.error_class, error_message = excluded.error_message, \
     attempts = max(attempts, excluded.attempts), last_failed_ms = max(last_failed_ms, excluded.last_failed_ms), \
     status = CASE WHEN status = 'purged' THEN 'purged' \
     WHEN status = 'replayed' AND excluded.attempts <= attempts THEN 'replayed' ELSE 'dead' END";

pub struct D1DeadLetters {
    db: D1Database,
}

impl D1DeadLetters {
    pub fn new(db: D1Database) -> Self {
        Self { db }
    }
}

/// `SELECT COUNT(*)` as D1 returns it: a JavaScript number.
#[derive(Deserialize)]
struct Count {
    n: f64,
}

impl DeadLetterStore for D1DeadLetters {
    async fn upsert(&self, r: &DeadLetterRecord) -> Result<(), JobError> {
        let fail = |e: worker::Error| JobError::transient(format!("dead_letters write: {e}"));
        let opt = |v: &Option<String>| v.as_deref().map_or(JsValue::NULL, JsValue::from_str);
        self.db
            .prepare(UPSERT)
            .bind(&[
                r.id.as_str().into(),
                r.origin_queue.as_str().into(),
                opt(&r.job_id),
                opt(&r.run_id),
                opt(&r.customer_id),
                r.body.as_str().into(),
                r.error.class.as_str().into(),
                r.error.message.as_str().into(),
                JsValue::from_f64(f64::from(r.attempts)),
                JsValue::from_f64(r.failed_ms as f64),
            ])
            .map_err(fail)?
            .run()
            .await
            .map_err(fail)?;
        Ok(())
    }

    async fn count(&self) -> Result<u64, JobError> {
        let counted: Vec<Count> = rows(&self.db, "SELECT COUNT(*) AS n FROM dead_letters", &[], "dead_letters count").await?;
        Ok(counted.first().map_or(0, |c| c.n as u64))
    }
}
