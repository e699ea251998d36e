//! The checks that keep a configuration inside Cloudflare's per-invocation limits and its
//! retention promises (`code24_shared::limits` is the table they read; no number is repeated
//! here):
//!
//! - every deployed environment of every deployed Worker sets `[limits]` with both
//!   `subrequests` and `cpu_ms`, each within what Cloudflare accepts (an unset figure is the
//!   account's default, which on older accounts is a tenth of today's subrequests); the
//!   dispatcher's `subrequests` is at least what its fan-out is designed for
//!   (`config::DISPATCHER_SUBREQUESTS`);
//! - a consumer's `max_batch_size` times the service-binding calls of its costliest job stays
//!   within the invocation's budget (`code24_shared::pipeline::budget`), in every environment;
//! - the ledger's job retention (`SWEEP_RETENTION_HOURS`) outlives the message retention
//!   (`QUEUE_RETENTION_SECONDS`) every consumer declares for its queues, in every environment.
//!   The consumers declare it because wrangler.toml has no key for it; `cargo xtask deploy`
//!   applies it; a missing declaration is a missing var (`workers.rs`).

use code24_shared::config::{min_job_retention_hours, DISPATCHER_SUBREQUESTS};
use code24_shared::limits;
use code24_shared::names::{self, var, Environment};
use code24_shared::pipeline::budget::{jobs_per_invocation, service_binding_budget};

use crate::workers::WorkerSpec;
use crate::wrangler::{self, Resolved};
use crate::Problem;

/// `[limits]` set and within Cloudflare's bounds in a deployed environment.
pub fn check_limits(spec: &WorkerSpec, r: &Resolved) -> Vec<(String, String)> {
    if r.env == Environment::Local || !spec.deployed {
        return Vec::new();
    }
    let table = format!("[{}limits]", wrangler::key_prefix(r.env));
    let Some(set) = &r.limits else {
        return vec![(
            "limits".into(),
            format!(
                "missing: set {table} with subrequests and cpu_ms; unset, a deployed Worker gets the account's defaults \
                 (older accounts: far fewer subrequests than {})",
                limits::SUBREQUESTS_DEFAULT
            ),
        )];
    };
    let mut out = Vec::new();
    for (key, value, max) in [("subrequests", set.subrequests, limits::SUBREQUESTS_MAX), ("cpu_ms", set.cpu_ms, limits::CPU_MS_MAX)] {
        let subject = format!("limits.{key}");
        match value {
            None => out.push((subject, format!("missing: set it in {table} explicitly"))),
            Some(v) if v < 1 || v as u64 > max => out.push((subject, format!("{key} = {v} is outside Cloudflare's bounds (1..={max})"))),
            Some(v) if key == "subrequests" && spec.name == names::DISPATCHER_WORKER && (v as u64) < DISPATCHER_SUBREQUESTS => out.push((
                subject,
                format!(
                    "{key} = {v} is below the {DISPATCHER_SUBREQUESTS} the fan-out is designed for (a sweep of 1,000,000 sites \
                         makes about 11,000 subrequests)"
                ),
            )),
            Some(_) => {}
        }
    }
    out
}

/// Each consumer's `max_batch_size` within the service-binding budget of one invocation.
pub fn check_batches(spec: &WorkerSpec, r: &Resolved) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for wanted in spec.consumes {
        let queue = names::in_env(wanted.queue, r.env);
        let Some(size) = r.consumers.iter().find(|c| c.queue == queue).and_then(|c| c.max_batch_size) else { continue };
        let most = jobs_per_invocation(wanted.service_binding_calls_per_job);
        if size > i64::from(most) {
            out.push((
                format!("consumer of queue {queue}"),
                format!(
                    "max_batch_size = {size} is too large: a job makes up to {} service-binding calls and one invocation may make \
                     {} ({}% of Cloudflare's {}), so at most {most} jobs a batch",
                    wanted.service_binding_calls_per_job,
                    service_binding_budget(),
                    limits::HEADROOM_PERCENT,
                    limits::SERVICE_BINDING_CALLS
                ),
            ));
        }
    }
    out
}

/// The ledger's job retention against every queue retention declared in `env`.
pub fn check_retention(env: Environment, resolved: &[(&'static WorkerSpec, Resolved)]) -> Vec<Problem> {
    let read = |r: &Resolved, name: &str| r.vars.get(name).and_then(|v| v.as_str()).and_then(|v| v.trim().parse::<u64>().ok());
    let Some((ledger, ledger_env)) = resolved.iter().find(|(spec, _)| spec.name == names::LEDGER_WORKER) else { return Vec::new() };
    // A missing or malformed value is already refused by the Worker's own parser.
    let Some(hours) = read(ledger_env, var::SWEEP_RETENTION_HOURS) else { return Vec::new() };
    let mut out = Vec::new();
    for (spec, r) in resolved.iter().filter(|(spec, _)| !spec.consumes.is_empty()) {
        let Some(retention_s) = read(r, var::QUEUE_RETENTION_SECONDS) else { continue };
        let needed = min_job_retention_hours(retention_s);
        if hours < u64::from(needed) {
            let queues: Vec<String> = spec.consumes.iter().map(|c| names::in_env(c.queue, env)).collect();
            out.push(Problem::new(
                ledger,
                Some(env),
                format!("var {}", var::SWEEP_RETENTION_HOURS),
                format!(
                    "job retention {hours} h is shorter than the queue retention: {} keeps messages {retention_s} s \
                     ({} {} of {}), so job rows must stay at least {needed} h (the retention and a day), or a late \
                     redelivery of a pruned job would run again",
                    queues.join(" and "),
                    var::QUEUE_RETENTION_SECONDS,
                    wrangler::section_label(env),
                    spec.name
                ),
            ));
        }
    }
    out
}
