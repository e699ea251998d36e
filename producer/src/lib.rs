//! The platform dispatcher Worker (`code24-platform-dispatcher`): the cron producer.
//!
//! On a cron firing it maps the cron to a task through the core's schedule table and runs
//! the core's fan-out: open the run in the ledger, page through active sites, send one
//! message per site (or the one job of a single-job report run). On every tick of the sweep or
//! the health check it also catches up missed monthly report runs ([`runs`]), and after a
//! sweep, where the environment turns it on, replays the dead letters a healed elite outage
//! caused ([`auto_replay`]). Every tick also evaluates the alerts ([`alerts`]: incidents opened
//! and resolved, messages to the environment's webhook). It does nothing
//! else: no elite calls, no report work, no result writes. Its fetch handler serves the
//! authenticated admin API ([`api`]) that operators and tests use, and the operator dashboard
//! ([`dashboard`]) on every other path; callers are identified by the bearer token or, where
//! the environment names one, a Cloudflare Access token ([`access`]). It hosts the [`Gate`]
//! Durable Object ([`gate`]: login limits and dashboard sessions), and refuses to serve at all (503 and a log line) while `ADMIN_TOKEN` or
//! `SESSION_SECRET` is set to a weak value (`code24_shared::secrets`).

mod access;
mod alerts;
mod api;
mod auto_replay;
mod dashboard;
mod gate;
mod runs;

pub use gate::Gate;

use code24_runtime::env::{token, vars, WorkerClock};
use code24_runtime::ledger_client::DurableLedger;
use code24_runtime::meter::Meter;
use code24_runtime::queue::TextQueue;
use code24_runtime::registry::D1Registry;
use code24_shared::config::{self, ProducerConfig};
use code24_shared::ids::from_epoch_ms;
use code24_shared::limits::usage::Counted;
use code24_shared::names::{binding, var, Environment, OPTIMIZE_QUEUE};
use code24_shared::pipeline::producer::{FanoutReport, Firing, Producer};
use code24_shared::reports::runs::run_for_slot;
use code24_shared::schedule::{task_for_cron, Task};
use code24_shared::secrets;
use code24_shared::standin::{SendFaults, SEND_FAULTS_TAKE_PATH};
use serde_json::json;
use worker::{console_error, console_log, event, Context, Env, Request, Response, ScheduleContext, ScheduledEvent};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let cron = event.cron();
    let scheduled_ms = event.schedule() as i64;
    let meter = Meter::with_subrequests("dispatcher", "scheduled", code24_shared::config::DISPATCHER_SUBREQUESTS);
    // A returned error would be dropped silently by the runtime: every outcome is logged here.
    let outcome = run(&cron, scheduled_ms, &env, &meter).await;
    meter.log_figures();
    match outcome {
        Ok(Some(report)) => console_log!("{}", json!({"event": "fanout", "cron": cron, "report": report})),
        Ok(None) => {}
        Err(message) => {
            console_error!("{}", json!({"event": "fanout_failed", "cron": cron, "scheduled_ms": scheduled_ms, "error": message}))
        }
    }
}

/// One firing. `Ok(None)` when the cron is unknown (already logged as an error).
async fn run(cron: &str, scheduled_ms: i64, env: &Env, meter: &Meter) -> Result<Option<FanoutReport>, String> {
    let Some(task) = task_for_cron(cron) else {
        console_error!(
            "{}",
            json!({"event": "unknown_cron", "cron": cron, "error": "this cron is not in the schedule table; nothing enqueued"})
        );
        return Ok(None);
    };
    let environment = config::environment(&vars(env)).map_err(|e| e.to_string())?;
    let scheduled = from_epoch_ms(scheduled_ms).ok_or_else(|| format!("scheduled time {scheduled_ms} is out of range"))?;
    let firing = Firing { environment: environment.as_str().to_owned(), task, scheduled, owner: token() };
    let work = async {
        match task {
            Task::Optimize => {
                let config = ProducerConfig::from_vars(&vars(env)).map_err(|e| e.to_string())?;
                let registry = D1Registry::from_env(env).map_err(|e| e.to_string())?.metered(meter);
                let faults = if environment == Environment::Local { take_send_faults(env, meter).await } else { None };
                let queue = TextQueue::new(env.queue(binding::OPTIMIZE_QUEUE).map_err(|e| e.to_string())?, OPTIMIZE_QUEUE)
                    .metered(meter)
                    .with_faults(faults);
                let ledger = DurableLedger::from_env(env).map_err(|e| e.to_string())?.metered(meter);
                let producer = Producer { registry: &registry, queue: &queue, ledger: &ledger, clock: &WorkerClock, config: &config };
                let report = producer.fan_out(&firing).await.map_err(|e| format!("sweep {}: {e}", firing.sweep_id()));
                if config.auto_replay {
                    auto_replay::after_outages(env, meter).await;
                }
                report
            }
            Task::MonthlyAnalytics | Task::EndOfMonth | Task::HealthCheck => {
                let run = run_for_slot(environment.as_str(), task, scheduled).ok_or("not a report task")?;
                runs::enqueue(env, &run, meter).await.map_err(|e| format!("run {}: {e}", run.run_id))
            }
            // No cron maps to it (it has no schedule row); the admin API starts it.
            Task::Canary => Err("the canary is started by POST /api/canary, never by a cron".to_owned()),
        }
    };
    // The ticks that fire often enough to notice a missed monthly run. The catch-up is
    // independent of this firing's own work, so it runs alongside it (it would otherwise add
    // its ledger round trips to every sweep's fan-out).
    let catch_up = async {
        if matches!(task, Task::Optimize | Task::HealthCheck) {
            runs::catch_up_missed(env, environment, scheduled, meter).await;
        }
    };
    let (report, ()) = futures::join!(work, catch_up);
    // Then the alerts (`alerts`): after the fan-out, so they never delay a message nor add to
    // its connections (the fan-out and the catch-up hold up to six at once); they never fail
    // the tick, and every call they make is bounded.
    alerts::tick(env, environment, scheduled, meter).await;
    report.map(Some)
}

/// The first secret that is set but weak, with what is wrong with it.
fn weak_secret(env: &Env) -> Option<(&'static str, String)> {
    [var::ADMIN_TOKEN, var::SESSION_SECRET].into_iter().find_map(|name| {
        let value = api::secret(env, name);
        let weakness = if value.is_empty() { None } else { secrets::check(&value).err() };
        weakness.map(|w| (name, w.message()))
    })
}

/// Local only: the send failures the stand-in's fault switch holds for the next fan-out (and
/// hands out once). `None` when none is armed or the stand-in is not bound.
async fn take_send_faults(env: &Env, meter: &Meter) -> Option<SendFaults> {
    let standin = env.service(binding::ELITE_STANDIN).ok()?;
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post);
    let _connection = meter.start(Counted::ServiceBinding);
    let mut answer = standin.fetch(format!("https://standin{SEND_FAULTS_TAKE_PATH}"), Some(init)).await.ok()?;
    let faults: SendFaults = answer.json().await.ok()?;
    if faults.every > 0 {
        console_log!("{}", json!({"event": "send_faults_armed", "every": faults.every, "times": faults.times}));
    }
    Some(faults).filter(|f| f.every > 0)
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    if let Some((name, problem)) = weak_secret(&env) {
        console_error!("{}", json!({"event": "weak_secret", "secret": name, "problem": problem, "rule": secrets::RULE}));
        let message = format!(
            "the dispatcher refuses to serve: the secret {name} is weak ({problem}); it needs {}. \
             Set a strong one (`cargo xtask deploy` generates one) with `npx wrangler secret put {name}`.",
            secrets::RULE
        );
        return code24_runtime::http::error(503, message);
    }
    let path = req.path();
    if path == "/health" || path.starts_with("/api/") {
        api::handle(req, &env).await
    } else {
        dashboard::handle(req, &env).await
    }
}
