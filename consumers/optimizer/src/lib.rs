//! The optimizer consumer Worker (`code24-optimizer`): one message = one customer site in one
//! sweep. It hands the batch's bodies to the core's consumer (which decodes each itself, so one
//! poison message cannot fail the batch) and carries out one ack or delayed retry per message
//! (`code24_runtime::inbox`), always returning `Ok(())`.

use code24_runtime::elite::ServiceElite;
use code24_runtime::env::{entropy, now_ms, vars};
use code24_runtime::inbox::Inbox;
use code24_runtime::ledger_client::DurableLedger;
use code24_runtime::meter::Meter;
use code24_runtime::metrics::AnalyticsMetrics;
use code24_runtime::queue::TextQueue;
use code24_runtime::results::R2Results;
use code24_shared::backoff::Rng;
use code24_shared::config::{self, ConsumerConfig};
use code24_shared::names::{binding, OPTIMIZE_DLQ};
use code24_shared::pipeline::consumer::{Action, Consumer, Delivery};
use code24_shared::pipeline::optimize::OptimizeJobs;
use code24_shared::ports::Switched;
use wasm_bindgen::JsValue;
use worker::{event, Context, Env, MessageBatch};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(queue)]
async fn queue(batch: MessageBatch<JsValue>, env: Env, _ctx: Context) -> worker::Result<()> {
    let inbox = Inbox::new(&batch);
    let meter = Meter::new("optimizer", "queue");
    let decided = process(&inbox.queue, &inbox.deliveries, &env, &meter).await;
    meter.log_figures();
    inbox.settle(decided);
    Ok(())
}

async fn process(queue_name: &str, deliveries: &[Delivery], env: &Env, meter: &Meter) -> Result<Vec<Action>, String> {
    let config = ConsumerConfig::from_vars(&vars(env)).map_err(|e| e.to_string())?;
    let ledger = DurableLedger::from_env(env).map_err(|e| e.to_string())?.metered(meter);
    let elite = ServiceElite::from_env(env, config.elite_timeout_ms).map_err(|e| e.to_string())?.metered(meter);
    let results = R2Results::new(env.bucket(binding::RESULTS).map_err(|e| e.to_string())?).metered(meter);
    let dead_letters = TextQueue::new(env.queue(binding::DEAD_LETTER_QUEUE).map_err(|e| e.to_string())?, OPTIMIZE_DLQ).metered(meter);
    let metrics = AnalyticsMetrics::from_env(env).metered(meter);
    let breakers = Switched { breakers: &ledger, enabled: config::breakers_enabled(&vars(env)).map_err(|e| e.to_string())? };
    let consumer = Consumer {
        // The ledger's `breakers` instance keeps the elite circuit breakers, behind their switch.
        jobs: OptimizeJobs::with_breakers(&elite, &results, &config, &breakers),
        ledger: &ledger,
        dead_letters: &dead_letters,
        metrics: &metrics,
        config: &config,
        origin_queue: queue_name,
    };
    let mut rng = Rng::new(entropy());
    Ok(consumer.process_batch(deliveries, &now_ms, &mut rng).await)
}
