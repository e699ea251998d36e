//! The dead-letters consumer Worker (`code24-dead-letters`): stores every message of the
//! optimize dead-letter queue in the D1 dead-letter store, then acks it. The record is
//! decided by the core ([`code24_shared::dead_letters::record_for`]); a message whose row
//! cannot be written is retried with a delay, never acked unstored.

use code24_runtime::env::now_ms;
use code24_shared::dead_letters::{record_for, DeadLetterRecord};
use code24_shared::names::{binding, OPTIMIZE_DLQ, OPTIMIZE_QUEUE};
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{console_error, console_log, event, Context, D1Database, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// Inserts a record, or updates the row of a job that died before (a re-sent dead letter).
const UPSERT: &str = "INSERT INTO dead_letters (id, origin_queue, job_id, sweep_id, customer_id, body, error_class, \
     error_message, attempts, first_failed_ms, last_failed_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) \
     ON CONFLICT (id) DO UPDATE SET error_class = excluded.error_class, error_message = excluded.error_message, \
     attempts = max(attempts, excluded.attempts), last_failed_ms = max(last_failed_ms, excluded.last_failed_ms), \
     status = 'dead'";

#[event(queue)]
async fn queue(batch: MessageBatch<JsValue>, env: Env, _ctx: Context) -> worker::Result<()> {
    let dlq = batch.queue();
    let db = match env.d1(binding::DB) {
        Ok(db) => db,
        Err(e) => {
            console_error!("{}", json!({"event": "dead_letter_store_unbound", "error": e.to_string()}));
            batch.retry_all_with_options(&QueueRetryOptionsBuilder::new().with_delay_seconds(60).build());
            return Ok(());
        }
    };
    let origin = if dlq == OPTIMIZE_DLQ { OPTIMIZE_QUEUE } else { "unknown" };
    for message in batch.raw_iter() {
        let body = message.body();
        let text = body.as_string().unwrap_or_else(|| js_sys::JSON::stringify(&body).ok().and_then(|s| s.as_string()).unwrap_or_default());
        let record = record_for(&text, &message.id(), &dlq, origin, now_ms());
        match store(&db, &record).await {
            Ok(()) => {
                console_log!("{}", json!({"event": "dead_letter_stored", "id": record.id, "class": record.error.class.as_str(), "error": record.error.message}));
                message.ack();
            }
            Err(e) => {
                console_error!("{}", json!({"event": "dead_letter_store_failed", "id": record.id, "error": e.to_string()}));
                message.retry_with_options(&QueueRetryOptionsBuilder::new().with_delay_seconds(30).build());
            }
        }
    }
    Ok(())
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
