//! The reports consumer Worker (`code24-reports`): one message = one unit of report work
//! (`code24_shared::reports::jobs::ReportJob`): a customer's section of the monthly analytics,
//! the monthly finalize job, the end-of-month report, or a dev health check. It builds the
//! ports from its bindings, hands the batch to the core's job consumer with the report job kind
//! (`ReportJobs`), and carries out one ack or delayed retry per message. Every decision, the
//! fan-in included, is the core's.

use code24_runtime::elite::ServiceElite;
use code24_runtime::env::{entropy, now_ms, vars};
use code24_runtime::inbox::Inbox;
use code24_runtime::ledger_client::DurableLedger;
use code24_runtime::meter::Meter;
use code24_runtime::metrics::AnalyticsMetrics;
use code24_runtime::probes::WorkerProbes;
use code24_runtime::queue::TextQueue;
use code24_runtime::registry::D1Registry;
use code24_runtime::reports::D1Reports;
use code24_runtime::results::R2Results;
use code24_shared::backoff::Rng;
use code24_shared::config::ConsumerConfig;
use code24_shared::names::{binding, REPORTS_DLQ, REPORTS_QUEUE};
use code24_shared::pipeline::consumer::{Action, Consumer, Delivery};
use code24_shared::pipeline::reports::ReportJobs;
use wasm_bindgen::JsValue;
use worker::{event, Context, Env, MessageBatch};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(queue)]
async fn queue(batch: MessageBatch<JsValue>, env: Env, _ctx: Context) -> worker::Result<()> {
    let inbox = Inbox::new(&batch);
    let meter = Meter::new("reports", "queue");
    let decided = process(&inbox.queue, &inbox.deliveries, &env, &meter).await;
    meter.log_figures();
    inbox.settle(decided);
    Ok(())
}

async fn process(queue_name: &str, deliveries: &[Delivery], env: &Env, meter: &Meter) -> Result<Vec<Action>, String> {
    let fail = |e: worker::Error| e.to_string();
    let config = ConsumerConfig::from_vars(&vars(env)).map_err(|e| e.to_string())?;
    let ledger = DurableLedger::from_env(env).map_err(fail)?.metered(meter);
    let store = D1Reports::new(env.d1(binding::DB).map_err(fail)?).metered(meter);
    let results = R2Results::new(env.bucket(binding::RESULTS).map_err(fail)?).metered(meter);
    let queue = TextQueue::new(env.queue(binding::REPORTS_QUEUE).map_err(fail)?, REPORTS_QUEUE).metered(meter);
    let probes = WorkerProbes::new(
        ServiceElite::from_env(env, config.elite_timeout_ms).map_err(fail)?.metered(meter),
        D1Registry::from_env(env).map_err(fail)?.metered(meter),
        env.bucket(binding::RESULTS).map_err(fail)?,
    );
    let dead_letters = TextQueue::new(env.queue(binding::DEAD_LETTER_QUEUE).map_err(fail)?, REPORTS_DLQ).metered(meter);
    let metrics = AnalyticsMetrics::from_env(env).metered(meter);
    let consumer = Consumer {
        jobs: ReportJobs { store: &store, results: &results, queue: &queue, probes: &probes, finalizer: &ledger, metrics: &metrics },
        ledger: &ledger,
        dead_letters: &dead_letters,
        metrics: &metrics,
        config: &config,
        origin_queue: queue_name,
    };
    Ok(consumer.process_batch(deliveries, &now_ms, &mut Rng::new(entropy())).await)
}
