//! The dead-letters consumer Worker (`code24-dead-letters`): for every message of the optimize
//! and reports dead-letter queues, the core (`code24_shared::dead_letters::consumer`) decides
//! whether to store it, drop it (its job ended after all) or ask again later, settling a job
//! the queue dead-lettered on its own in the ledger first. This Worker builds the ports from its
//! bindings, logs what the core reports, and carries out one ack or delayed retry per message
//! (`code24_runtime::inbox`), always returning `Ok(())`.

use code24_runtime::dead_letters::D1DeadLetters;
use code24_runtime::env::{now_ms, vars};
use code24_runtime::inbox::Inbox;
use code24_runtime::ledger_client::DurableLedger;
use code24_runtime::meter::Meter;
use code24_runtime::results::R2Results;
use code24_shared::dead_letters::consumer::{self, DeadLetterConsumer, IntakeEvent, Processed};
use code24_shared::names::binding;
use code24_shared::pipeline::consumer::Delivery;
use wasm_bindgen::JsValue;
use worker::{console_error, console_log, event, Context, Env, MessageBatch};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(queue)]
async fn queue(batch: MessageBatch<JsValue>, env: Env, _ctx: Context) -> worker::Result<()> {
    let inbox = Inbox::new(&batch);
    // Its ledger and R2 calls are counted; the store's D1 writes are not (yet).
    let meter = Meter::new("dead-letters", "queue");
    let processed = process(&inbox.queue, &inbox.deliveries, &env, &meter).await;
    meter.log_figures();
    log(&processed.events);
    inbox.settle(Ok(processed.actions));
    Ok(())
}

async fn process(dlq: &str, deliveries: &[Delivery], env: &Env, meter: &Meter) -> Processed {
    let ports = (env.d1(binding::DB), DurableLedger::from_env(env), env.bucket(binding::RESULTS));
    let (Ok(db), Ok(ledger), Ok(bucket)) = ports else {
        return consumer::unbound(deliveries, "DB, LEDGER or RESULTS binding missing".into());
    };
    let (store, results, ledger) = (D1DeadLetters::new(db), R2Results::new(bucket).metered(meter), ledger.metered(meter));
    let consumer = DeadLetterConsumer { ledger: &ledger, results: &results, store: &store, dlq };
    consumer.process_batch(deliveries, &vars(env), &now_ms).await
}

/// One JSON line per event; the ones an operator should look at as errors.
fn log(events: &[IntakeEvent]) {
    for event in events {
        // The events are strings and numbers, so serializing cannot fail; if it ever did, the
        // error takes the event's line (no `Debug` fallback: it would cost the bundle 2 KiB).
        let line = serde_json::to_string(event).unwrap_or_else(|e| e.to_string());
        if event.is_alarm() {
            console_error!("{line}");
        } else {
            console_log!("{line}");
        }
    }
}
