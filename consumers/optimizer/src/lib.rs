//! The optimizer consumer Worker (`code24-optimizer`): one message = one customer site in one
//! sweep. It decodes each body itself (one poison message must not fail the batch), hands
//! the batch to the core's consumer, and carries out one ack or delayed retry per message.
//! It always returns `Ok(())`: an `Err` would make the runtime redeliver the whole batch,
//! acked messages included.

use code24_runtime::body::body_text;
use code24_runtime::elite::ServiceElite;
use code24_runtime::env::{entropy, now_ms, vars};
use code24_runtime::ledger_client::DurableLedger;
use code24_runtime::metrics::AnalyticsMetrics;
use code24_runtime::queue::TextQueue;
use code24_runtime::results::R2Results;
use code24_shared::backoff::Rng;
use code24_shared::config::ConsumerConfig;
use code24_shared::names::{binding, OPTIMIZE_DLQ};
use code24_shared::pipeline::consumer::{Action, Consumer, Delivery};
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{
    console_error, console_log, event, Context, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, RawMessage,
};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(queue)]
async fn queue(batch: MessageBatch<JsValue>, env: Env, _ctx: Context) -> worker::Result<()> {
    let messages: Vec<RawMessage> = batch.raw_iter().collect();
    let queue_name = batch.queue();
    let deliveries: Vec<Delivery> = messages
        .iter()
        .map(|m| Delivery { body: body_text(&m.body()), sent_ms: m.timestamp().as_millis() as i64 })
        .collect();
    match process(&queue_name, &deliveries, &env).await {
        Ok(actions) => {
            let (mut acked, mut retried) = (0, 0);
            for (message, action) in messages.iter().zip(actions) {
                match action {
                    Action::Ack => {
                        message.ack();
                        acked += 1;
                    }
                    Action::Retry { delay_s } => {
                        message.retry_with_options(&QueueRetryOptionsBuilder::new().with_delay_seconds(delay_s).build());
                        retried += 1;
                    }
                }
            }
            console_log!("{}", json!({"event": "batch", "queue": queue_name, "messages": deliveries.len(), "acked": acked, "retried": retried}));
        }
        Err(message) => {
            // Nothing could be decided (e.g. bad configuration): keep every message for later.
            console_error!("{}", json!({"event": "batch_failed", "queue": queue_name, "error": message}));
            for m in &messages {
                m.retry_with_options(&QueueRetryOptionsBuilder::new().with_delay_seconds(BATCH_FAILED_DELAY_S).build());
            }
        }
    }
    Ok(())
}

/// Retry delay when nothing could be decided (bad configuration, missing binding): long
/// enough for an operator to fix it without spending the queue's retries quickly.
const BATCH_FAILED_DELAY_S: u32 = 300;

async fn process(queue_name: &str, deliveries: &[Delivery], env: &Env) -> Result<Vec<Action>, String> {
    let config = ConsumerConfig::from_vars(&vars(env)).map_err(|e| e.to_string())?;
    let ledger = DurableLedger::from_env(env).map_err(|e| e.to_string())?;
    let elite = ServiceElite::from_env(env, config.elite_timeout_ms).map_err(|e| e.to_string())?;
    let results = R2Results::new(env.bucket(binding::RESULTS).map_err(|e| e.to_string())?);
    let dead_letters = TextQueue::new(env.queue(binding::DEAD_LETTER_QUEUE).map_err(|e| e.to_string())?, OPTIMIZE_DLQ);
    let metrics = AnalyticsMetrics::from_env(env);
    let consumer = Consumer {
        ledger: &ledger,
        elite: &elite,
        results: &results,
        dead_letters: &dead_letters,
        metrics: &metrics,
        config: &config,
        origin_queue: queue_name,
    };
    let mut rng = Rng::new(entropy());
    Ok(consumer.process_batch(deliveries, &now_ms, &mut rng).await)
}
