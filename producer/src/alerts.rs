//! Alerts on every cron tick: observe, decide, record, deliver (the core's `alerts` decides;
//! this module reads the sources and carries the decisions out).
//!
//! Each tick reads the latest health-check report (R2), the breakers (the ledger's `breakers`
//! instance), the recent runs and the monthly runs past their deadline (the ledger), and the
//! dead-letter store's size (D1). A source that fails to read is left out: it decides nothing.
//! The incidents opened and resolved are written with their messages in one D1 batch; then the
//! pending messages the outbox's plan allows are posted to the webhook (the stand-in locally,
//! `ALERT_WEBHOOK_URL` when deployed), each within its timeout. The tick runs after the
//! fan-out and never fails it: every error is logged.

use code24_runtime::alerts::{breakers, D1Alerts, Webhook};
use code24_runtime::dead_letters::D1DeadLetters;
use code24_runtime::env::{now_ms, vars};
use code24_runtime::ledger_client::DurableLedger;
use code24_runtime::meter::Meter;
use code24_shared::alerts::conditions::{evaluate, health_report_keys, report_runs_due, Observations, ReportObservation, Thresholds};
use code24_shared::alerts::incidents::decide;
use code24_shared::alerts::outbox::{after_failure, plan, Status, Step};
use code24_shared::config;
use code24_shared::limits::usage::Counted;
use code24_shared::names::{binding, var, Environment};
use code24_shared::ports::DeadLetterStore;
use code24_shared::reports::health::HealthReport;
use code24_shared::secrets;
use serde_json::json;
use worker::{console_error, console_log, Env};

/// How long a tick holds a message it is sending.
const SEND_LEASE_MS: i64 = 30_000;
/// Recent runs read for the sweep rule: more than the sweeps of the lag threshold.
const RECENT_RUNS: u32 = 30;

/// One tick of the alerts, at the tick's scheduled time `at`.
pub(crate) async fn tick(env: &Env, environment: Environment, at: chrono::DateTime<chrono::Utc>, meter: &Meter) {
    let db = match env.d1(binding::DB) {
        Ok(db) => db,
        Err(e) => return console_error!("{}", json!({"event": "alerts_failed", "error": format!("no D1 binding: {e}")})),
    };
    let store = D1Alerts::new(db, meter);
    let now = now_ms();
    // A malformed `DEAD_LETTER_WARN_ROWS` is never defaulted: the store's size is then not
    // observed (and the variable's error is logged), as the list route refuses it too.
    let dead_letter_rows = config::dead_letter_warn_rows(&vars(env)).map_err(|e| log_unread("dead letters", &e.to_string())).ok();
    let thresholds = Thresholds::new(dead_letter_rows.unwrap_or(config::DEFAULT_DEAD_LETTER_WARN_ROWS));
    let mut seen = observe(env, environment, at, &thresholds, meter).await;
    if dead_letter_rows.is_none() {
        seen.dead_letters = None;
    }
    let (conditions, observed) = evaluate(&seen, at.timestamp_millis(), &thresholds);
    let decided = match store.open_incidents().await {
        Ok(open) => decide(&open, &conditions, &observed, now),
        Err(e) => return console_error!("{}", json!({"event": "alerts_failed", "error": e.to_string()})),
    };
    if !decided.is_empty() {
        match store.apply(environment.as_str(), &decided, now).await {
            Ok(()) => {
                for i in &decided.open {
                    console_log!("{}", json!({"event": "incident_opened", "id": i.id, "summary": i.summary}));
                }
                for i in &decided.resolve {
                    console_log!("{}", json!({"event": "incident_resolved", "id": i.id}));
                }
            }
            Err(e) => console_error!("{}", json!({"event": "alerts_failed", "error": e.to_string()})),
        }
    }
    if let Err(e) = deliver(env, environment, &store, meter).await {
        console_error!("{}", json!({"event": "alerts_delivery_failed", "error": e}));
    }
}

/// Every source, each read on its own; a failed read is `None`.
async fn observe(
    env: &Env,
    environment: Environment,
    at: chrono::DateTime<chrono::Utc>,
    thresholds: &Thresholds,
    meter: &Meter,
) -> Observations {
    let ledger = DurableLedger::from_env(env).ok().map(|l| l.metered(meter));
    let recent_runs = match &ledger {
        Some(ledger) => ledger.recent(RECENT_RUNS).await.map_err(|e| log_unread("recent runs", &e.to_string())).ok(),
        None => None,
    };
    let mut reports = Some(Vec::new());
    for run in report_runs_due(environment, at, thresholds.report_deadline_ms) {
        let progress = match &ledger {
            Some(ledger) => ledger.progress(&run.run_id).await.map_err(|e| log_unread("report run", &e.to_string())).ok(),
            None => None,
        };
        match (progress, reports.as_mut()) {
            (Some(progress), Some(list)) => {
                list.push(ReportObservation { task: run.task, run_id: run.run_id, slot_ms: run.slot.timestamp_millis(), progress })
            }
            _ => reports = None,
        }
    }
    let dead_letters = match env.d1(binding::DB) {
        Ok(db) => {
            let _query = meter.start(Counted::D1Query);
            D1DeadLetters::new(db).count().await.map_err(|e| log_unread("dead letters", &e.to_string())).ok()
        }
        Err(_) => None,
    };
    Observations {
        health: latest_health(env, environment, at, meter).await,
        breakers: breakers(env, meter).await,
        recent_runs,
        dead_letters,
        reports,
    }
}

fn log_unread(source: &str, error: &str) {
    console_error!("{}", json!({"event": "alerts_source_unread", "source": source, "error": error}));
}

/// The newest health-check report of the last two slots, if any is written.
pub(crate) async fn latest_health(
    env: &Env,
    environment: Environment,
    at: chrono::DateTime<chrono::Utc>,
    meter: &Meter,
) -> Option<HealthReport> {
    let bucket = env.bucket(binding::RESULTS).ok()?;
    for key in health_report_keys(environment, at) {
        let _connection = meter.start(Counted::Subrequest);
        let object = match bucket.get(&key).execute().await {
            Ok(Some(object)) => object,
            Ok(None) => continue,
            Err(e) => {
                log_unread("health check", &e.to_string());
                return None;
            }
        };
        let text = object.body()?.text().await.ok()?;
        return serde_json::from_str(&text).map_err(|e| log_unread("health check", &format!("{key}: {e}"))).ok();
    }
    None
}

/// Where this environment's alerts go: the stand-in locally; `ALERT_WEBHOOK_URL` when it is set
/// and well-formed; otherwise nowhere (the messages wait, and the health page shows them).
pub(crate) fn webhook(env: &Env, environment: Environment) -> Result<Option<Webhook>, String> {
    if environment == Environment::Local {
        return env.service(binding::ELITE_STANDIN).map(|s| Some(Webhook::Standin(s))).map_err(|e| format!("no stand-in: {e}"));
    }
    let url = crate::api::secret(env, var::ALERT_WEBHOOK_URL);
    if url.is_empty() {
        return Ok(None);
    }
    secrets::check_webhook_url(&url).map_err(|e| format!("{} is refused: {e}", var::ALERT_WEBHOOK_URL))?;
    Ok(Some(Webhook::Url(url)))
}

/// Sends, suppresses or gives up the pending messages as the outbox's plan says.
async fn deliver(env: &Env, environment: Environment, store: &D1Alerts, meter: &Meter) -> Result<(), String> {
    let pending = store.pending().await.map_err(|e| e.to_string())?;
    if pending.is_empty() {
        return Ok(());
    }
    let Some(webhook) = webhook(env, environment)? else { return Ok(()) };
    let now = now_ms();
    let sent = store.openings_sent_since(now - 3_600_000).await.map_err(|e| e.to_string())?;
    // An incident whose message failed in this tick sends nothing more this tick.
    let mut failed_incidents: Vec<&str> = Vec::new();
    for (out, step) in pending.iter().zip(plan(&pending, &sent, now)) {
        let m = &out.message;
        let result = match step {
            Step::Wait => Ok(()),
            Step::Suppress(why) => store.end_unsent(&m.id, Status::Suppressed, &why).await,
            Step::GiveUp(why) => store.end_unsent(&m.id, Status::Failed, &why).await,
            Step::Send if failed_incidents.contains(&m.incident_id.as_str()) => Ok(()),
            Step::Send => {
                if !store.claim(&m.id, now, now + SEND_LEASE_MS).await.map_err(|e| e.to_string())? {
                    continue;
                }
                match webhook.send(&m.body, meter).await {
                    Ok(()) => {
                        console_log!("{}", json!({"event": "alert_sent", "id": m.id}));
                        store.sent(&m.id, now_ms()).await
                    }
                    Err(error) => {
                        failed_incidents.push(&m.incident_id);
                        let attempts = m.attempts + 1;
                        let retry_at = after_failure(attempts, now);
                        console_error!(
                            "{}",
                            json!({"event": "alert_send_failed", "id": m.id, "attempts": attempts, "error": error, "retry_at_ms": retry_at})
                        );
                        store.failed(&m.id, attempts, retry_at, &error).await
                    }
                }
            }
        };
        result.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Where this environment's alerts go, in words (the health page).
pub(crate) fn webhook_state(env: &Env, environment: Environment) -> String {
    match webhook(env, environment) {
        Ok(Some(Webhook::Standin(_))) => "the local stand-in".to_owned(),
        Ok(Some(Webhook::Url(_))) => "webhook (ALERT_WEBHOOK_URL)".to_owned(),
        Ok(None) => "not configured: set ALERT_WEBHOOK_URL; messages wait until it is".to_owned(),
        Err(e) => e,
    }
}
