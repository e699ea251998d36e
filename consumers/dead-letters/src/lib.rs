//! The dead-letters consumer Worker (`code24-dead-letters`): for every message of the
//! optimize and reports dead-letter queues, the core decides ([`decide`]) whether to store it, drop it (its
//! job ended after all) or ask again later; a job the queue dead-lettered on its own is first
//! settled in the ledger. A record is acked only once written; a message whose row cannot be
//! written is retried with a delay growing with its age, never acked unstored.

use code24_runtime::body::body_text;
use code24_runtime::env::now_ms;
use code24_runtime::ledger_client::DurableLedger;
use code24_runtime::results::R2Results;
use code24_shared::backoff::RetryPolicy;
use code24_shared::dead_letters::intake::{decide, DeadLetterAction};
use code24_shared::dead_letters::record::{DeadLetterRecord, StoreStats};
use code24_shared::names::{self, binding, var, OPTIMIZE_DLQ, OPTIMIZE_QUEUE, REPORTS_DLQ, REPORTS_QUEUE};
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{console_error, console_log, event, Context, D1Database, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, RawMessage};

/// Retry delays of this consumer: from 30 s up to the queues' 12-hour maximum, growing with
/// the message's age, so a long store outage spends few of the queue's retries.
const RETRY: RetryPolicy = RetryPolicy { base_s: 30, max_s: RetryPolicy::QUEUE_MAX_DELAY_S };

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// Inserts a record, or updates the row of a job that died before: a replay that died again
/// is `dead` again; a purged entry stays purged (a re-sent letter of the same death, e.g. from
/// a duplicate delivery, must not bring it back).
const UPSERT: &str = "INSERT INTO dead_letters (id, origin_queue, job_id, sweep_id, customer_id, body, error_class, \
     error_message, attempts, first_failed_ms, last_failed_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) \
     ON CONFLICT (id) DO UPDATE SET error_class = excluded.error_class, error_message = excluded.error_message, \
     attempts = max(attempts, excluded.attempts), last_failed_ms = max(last_failed_ms, excluded.last_failed_ms), \
     status = CASE WHEN status = 'purged' THEN 'purged' ELSE 'dead' END";

#[event(queue)]
async fn queue(batch: MessageBatch<JsValue>, env: Env, _ctx: Context) -> worker::Result<()> {
    let dlq = batch.queue();
    // Deployed queues carry their environment's suffix: `code24-optimize-dlq-staging` is the
    // dead-letter queue of `code24-optimize-staging`.
    let origin = match names::split_env(&dlq) {
        (OPTIMIZE_DLQ, env) => names::in_env(OPTIMIZE_QUEUE, env),
        (REPORTS_DLQ, env) => names::in_env(REPORTS_QUEUE, env),
        _ => "unknown".to_owned(),
    };
    let ports = (env.d1(binding::DB), DurableLedger::from_env(&env), env.bucket(binding::RESULTS));
    let (Ok(db), Ok(ledger), Ok(bucket)) = ports else {
        console_error!("{}", json!({"event": "dead_letters_unbound", "error": "DB, LEDGER or RESULTS binding missing"}));
        batch.retry_all_with_options(&QueueRetryOptionsBuilder::new().with_delay_seconds(RETRY.max_s).build());
        return Ok(());
    };
    let results = R2Results::new(bucket);
    for message in batch.raw_iter() {
        let body = body_text(&message.body());
        let now = now_ms();
        match decide(&body, &dlq, &origin, &ledger, &results, now).await {
            DeadLetterAction::Store(record) => match store(&db, &record).await {
                Ok(()) => {
                    console_log!(
                        "{}",
                        json!({"event": "dead_letter_stored", "id": record.id, "class": record.error.class.as_str(), "error": record.error.message})
                    );
                    message.ack();
                }
                Err(e) => retry(&message, now, 0, &format!("store {}: {e}", record.id)),
            },
            DeadLetterAction::Drop { id, reason } => {
                console_log!("{}", json!({"event": "dead_letter_dropped", "id": id, "reason": reason}));
                message.ack();
            }
            DeadLetterAction::Retry { reason, after_ms } => retry(&message, now, after_ms, &reason),
        }
    }
    warn_when_near_capacity(&env, &db).await;
    Ok(())
}

/// The store never drops an entry to make room; when it nears its configured size it says so,
/// once per batch, so an operator purges or raises the limit.
async fn warn_when_near_capacity(env: &Env, db: &D1Database) {
    #[derive(serde::Deserialize)]
    struct Count {
        n: f64,
    }
    let warn_at: u64 = env.var(var::DEAD_LETTER_WARN_ROWS).ok().and_then(|v| v.to_string().parse().ok()).unwrap_or(100_000);
    let rows = match db.prepare("SELECT COUNT(*) AS n FROM dead_letters").all().await.and_then(|r| r.results::<Count>()) {
        Ok(rows) => rows.first().map_or(0, |c| c.n as u64),
        Err(e) => {
            console_error!("{}", json!({"event": "dead_letter_store_count_failed", "error": e.to_string()}));
            return;
        }
    };
    let stats = StoreStats::new(rows, warn_at);
    if stats.near_capacity {
        console_error!(
            "{}",
            json!({"event": "dead_letter_store_near_capacity", "rows": stats.rows, "warn_at": stats.warn_at,
            "advice": "purge handled entries (code24-ops dlq purge) or raise DEAD_LETTER_WARN_ROWS; nothing is dropped"})
        );
    }
}

/// Retries a message no sooner than `after_ms`, and later the older it is.
fn retry(message: &RawMessage, now: i64, after_ms: i64, reason: &str) {
    let age_ms = now - message.timestamp().as_millis() as i64;
    let after_s = u32::try_from((after_ms.max(0) + 999) / 1000).unwrap_or(RETRY.max_s);
    let delay_s = RETRY.delay_for_age_s(age_ms).max(after_s).min(RETRY.max_s);
    console_error!("{}", json!({"event": "dead_letter_retry", "delay_s": delay_s, "reason": reason}));
    message.retry_with_options(&QueueRetryOptionsBuilder::new().with_delay_seconds(delay_s).build());
}

async fn store(db: &D1Database, r: &DeadLetterRecord) -> worker::Result<()> {
    let opt = |v: &Option<String>| v.as_deref().map_or(JsValue::NULL, JsValue::from_str);
    db.prepare(UPSERT)
        .bind(&[
            r.id.as_str().into(),
            r.origin_queue.as_str().into(),
            opt(&r.job_id),
            opt(&r.sweep_id),
            opt(&r.customer_id),
            r.body.as_str().into(),
            r.error.class.as_str().into(),
            r.error.message.as_str().into(),
            JsValue::from_f64(f64::from(r.attempts)),
            JsValue::from_f64(r.failed_ms as f64),
        ])?
        .run()
        .await?;
    Ok(())
}
