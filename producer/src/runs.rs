//! Report runs from the dispatcher: the run a report cron firing stands for, the catch-up of
//! missed monthly runs on every tick, the monthly analytics' finalize job when a run is (or
//! already was) complete, and operators' backfills. Every path opens the run in the ledger by
//! its period, so each month's reports are enqueued once however often they are asked for.

use code24_runtime::env::{now_ms, token, vars, WorkerClock};
use code24_runtime::ledger_client::DurableLedger;
use code24_runtime::meter::Meter;
use code24_runtime::queue::TextQueue;
use code24_runtime::registry::D1Registry;
use code24_shared::config::{self, ProducerConfig};
use code24_shared::error::JobError;
use code24_shared::names::{binding, Environment, REPORTS_QUEUE};
use code24_shared::pipeline::producer::{FanoutReport, Producer, Run};
use code24_shared::pipeline::reports::fan_in::{finalize_send, FinalizeSend};
use code24_shared::ports::JobQueue;
use code24_shared::reports::jobs::{ReportJob, ReportWork, RESERVED_SUBJECTS};
use code24_shared::reports::runs::{catch_up, ReportRun};
use code24_shared::schedule::Task;
use serde_json::json;
use worker::{console_error, console_log, Env};

fn fail(e: impl std::fmt::Display) -> JobError {
    JobError::transient(e.to_string())
}

/// Enqueues one report run, then, for monthly analytics, asks for its finalize job. Its calls
/// are counted in `meter` (the invocation's).
pub(crate) async fn enqueue(env: &Env, run: &ReportRun, meter: &Meter) -> Result<FanoutReport, JobError> {
    let ledger = DurableLedger::from_env(env).map_err(fail)?.metered(meter);
    let queue = TextQueue::new(env.queue(binding::REPORTS_QUEUE).map_err(fail)?, REPORTS_QUEUE).metered(meter);
    let registry = D1Registry::from_env(env).map_err(fail)?.metered(meter);
    let config = ProducerConfig::from_vars(&vars(env)).map_err(fail)?;
    let producer = Producer { registry: &registry, queue: &queue, ledger: &ledger, clock: &WorkerClock, config: &config };
    let spec = Run {
        run_id: run.run_id.clone(),
        task: run.task,
        scheduled_ms: run.slot.timestamp_millis(),
        owner: token(),
        work_fronts: Vec::new(),
        unread_shards: 0,
    };
    let report = match &run.single {
        Some(job) => producer.enqueue_single(&spec, job.subject(), job.encode()).await?,
        None => {
            let month = run.month.ok_or_else(|| JobError::permanent("a monthly run without a month"))?;
            let message = |site: code24_shared::site::Site| {
                if RESERVED_SUBJECTS.contains(&site.customer_id.as_str()) {
                    console_error!(
                        "{}",
                        json!({"event": "reserved_customer_id", "customer_id": site.customer_id.as_str(),
                        "error": "this customer id names a report job; it is left out of the monthly analytics"})
                    );
                    return None;
                }
                Some(ReportJob::monthly_customer(&run.run_id, month, spec.scheduled_ms, site.customer_id).encode())
            };
            producer.fan_out_sites(&spec, &message).await?
        }
    };
    if run.task == Task::MonthlyAnalytics {
        finalize_if_complete(env, run, &ledger, &queue).await?;
    }
    Ok(report)
}

/// Sends the finalize job of a complete monthly run the first time it is asked, and again when
/// an earlier request produced no report object in time (the core's `finalize_send` decides).
async fn finalize_if_complete(env: &Env, run: &ReportRun, ledger: &DurableLedger, queue: &TextQueue) -> Result<(), JobError> {
    let now = now_ms();
    let decision = ledger.request_finalize(&run.run_id, now).await?;
    let send = match finalize_send(&decision, now) {
        FinalizeSend::No => false,
        FinalizeSend::Yes => true,
        FinalizeSend::UnlessReportWritten => {
            let key = run.month.map(|m| m.analytics_key()).unwrap_or_default();
            env.bucket(binding::RESULTS).map_err(fail)?.head(key).await.map_err(fail)?.is_none()
        }
    };
    if send {
        let job = ReportJob::single(&run.run_id, run.month, run.slot.timestamp_millis(), ReportWork::MonthlyFinalize);
        queue.send_batch(&[job.encode()]).await?;
        console_log!("{}", json!({"event": "finalize_enqueued", "run_id": run.run_id}));
    }
    Ok(())
}

/// On a tick scheduled at `at`: makes sure the latest slot of every monthly report schedule of
/// this environment ran (within the catch-up window). The tick's scheduled time, not the
/// clock, is "now" here: it is the instant the platform meant, and it makes catch-up testable
/// with a fixed `time`. Failures are logged, never fatal to the tick.
pub(crate) async fn catch_up_missed(env: &Env, environment: Environment, at: chrono::DateTime<chrono::Utc>, meter: &Meter) {
    let window = match config::catch_up_window_hours(&vars(env)) {
        Ok(w) => w,
        Err(e) => {
            console_error!("{}", json!({"event": "catch_up_misconfigured", "error": e.to_string()}));
            return;
        }
    };
    for run in catch_up(environment, at, window) {
        match enqueue(env, &run, meter).await {
            Ok(report) if report.sent > 0 => {
                console_log!("{}", json!({"event": "catch_up", "run_id": run.run_id, "report": report}));
            }
            Ok(_) => {}
            Err(e) => console_error!("{}", json!({"event": "catch_up_failed", "run_id": run.run_id, "error": e.to_string()})),
        }
    }
}
