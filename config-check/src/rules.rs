//! The checks of one Worker's config in each of its environments against the table in
//! `workers.rs`: its name, every binding (present, of the right kind, naming the right
//! environment's resource; nothing unknown; the stand-in only locally), its vars (set, valid
//! for the Worker's own parser, `ENVIRONMENT` right, no secret among them), its queue
//! consumers (explicit options, the right dead-letter queue, attempts below `max_retries`),
//! its `[limits]` and batch sizes ([`crate::limits`]), its crons (the schedule table's for that environment) and its public route.

use std::path::{Component, Path, PathBuf};

use code24_shared::names::{self, var, Environment};
use code24_shared::schedule;

use crate::limits;
use crate::workers::{self, DeadLetterQueue, Required, Resource, WorkerSpec};
use crate::wrangler::{self, Binding, Resolved, Target};
use crate::{Config, Problem};

/// Cloudflare's bounds of the consumer options (see /work/shared/notes/platform.md).
const MAX_BATCH_SIZE: i64 = 100;
const MAX_BATCH_TIMEOUT_S: i64 = 60;
const MAX_RETRIES: i64 = 100;

/// Problems of one Worker, in every environment it runs in.
pub fn check_worker(root: &Path, config: &Config) -> Vec<Problem> {
    let spec = config.spec;
    let mut out = Vec::new();
    if spec.name != config.top.name.as_deref().unwrap_or_default() {
        out.push(Problem::new(
            spec,
            Some(Environment::Local),
            "name",
            format!("is {:?}, expected {:?} (code24_shared::names)", config.top.name, spec.name),
        ));
    }
    if !spec.deployed {
        for env in config.top.env.keys() {
            out.push(Problem::new(
                spec,
                None,
                format!("[env.{env}]"),
                "this Worker is local only and must have no [env.*] section: no deployed environment may run or bind it",
            ));
        }
    }
    for &env in workers::environments_of(spec) {
        match wrangler::resolve(&config.top, env) {
            Some(resolved) => out.extend(check_env(root, spec, &resolved)),
            None => out.push(Problem::new(
                spec,
                Some(env),
                format!("[env.{}]", env.as_str()),
                "section missing: every deployed Worker configures every environment",
            )),
        }
    }
    out
}

fn check_env(root: &Path, spec: &WorkerSpec, r: &Resolved) -> Vec<Problem> {
    let env = r.env;
    let mut out = Vec::new();
    let mut problem = |subject: String, message: String| out.push(Problem::new(spec, Some(env), subject, message));

    let expected_name = names::in_env(spec.name, env);
    if r.name != expected_name {
        problem(
            "name".into(),
            format!("the Worker would be deployed as {:?}, expected {expected_name:?} (leave `name` unset in [env.*])", r.name),
        );
    }
    for (subject, message) in bindings(root, spec, r) {
        problem(subject, message);
    }
    for (subject, message) in vars(spec, r) {
        problem(subject, message);
    }
    for (subject, message) in consumers(spec, r).into_iter().chain(limits::check_batches(spec, r)).chain(limits::check_limits(spec, r)) {
        problem(subject, message);
    }
    let crons: Vec<&str> = r.crons.iter().map(String::as_str).collect();
    let wanted = if spec.scheduled { schedule::crons_for(env) } else { Vec::new() };
    if sorted(&crons) != sorted(&wanted) {
        let why = if spec.scheduled {
            format!("the schedule table (shared/src/schedule.rs) runs {wanted:?} in {}", env.as_str())
        } else {
            "this Worker has no scheduled handler, so it must have no crons".to_owned()
        };
        problem("triggers.crons".into(), format!("is {crons:?}, but {why}"));
    }
    if env != Environment::Local && !spec.public && r.workers_dev {
        problem("workers_dev".into(), "must be false when deployed: this Worker serves nothing to the outside".into());
    }
    out
}

fn sorted<'a>(items: &[&'a str]) -> Vec<&'a str> {
    let mut items = items.to_vec();
    items.sort_unstable();
    items
}

type Found = Vec<(String, String)>;

/// Every binding of the table present and right; nothing bound that the table does not know.
fn bindings(root: &Path, spec: &WorkerSpec, r: &Resolved) -> Found {
    let env = r.env;
    let prefix = wrangler::key_prefix(env);
    let mut out = Found::new();
    for required in spec.bindings {
        let subject = format!("binding {}", required.name);
        let found: Vec<&Binding> = r.bindings.iter().filter(|b| b.name == required.name).collect();
        if required.local_only && env != Environment::Local {
            if !found.is_empty() {
                out.push((
                    subject,
                    format!(
                        "is local only and must not be bound in a deployed environment: remove it from [[{prefix}{}]]",
                        required.resource.table()
                    ),
                ));
            }
            continue;
        }
        match found.as_slice() {
            [] => out.push((subject, missing(required, env))),
            [binding] => {
                if let Some(message) = compare(root, spec, required, binding, r) {
                    out.push((subject, message));
                }
            }
            many => out.push((subject, format!("is bound {} times", many.len()))),
        }
    }
    for binding in &r.bindings {
        if !spec.bindings.iter().any(|b| b.name == binding.name) {
            out.push((
                format!("binding {}", binding.name),
                format!(
                    "bound in [[{prefix}{}]] but not in this Worker's binding table (config-check/src/workers.rs): a typo, or a binding no code uses",
                    binding.target.table()
                ),
            ));
        }
    }
    // Independent of the table: no deployed environment binds the stand-in, under any name.
    if env != Environment::Local {
        for binding in &r.bindings {
            let subject = format!("binding {}", binding.name);
            if let Target::Service { service } = &binding.target {
                if names::split_env(service).0 == names::ELITE_STANDIN_WORKER && !out.iter().any(|(s, _)| *s == subject) {
                    out.push((subject, format!("binds the local stand-in {service:?}, which is never deployed")));
                }
            }
        }
    }
    out
}

/// How to add a missing binding, spelled as toml.
fn missing(required: &Required, env: Environment) -> String {
    let table = format!("{}{}", wrangler::key_prefix(env), required.resource.table());
    let resource = required.resource.name_in(env).unwrap_or_default();
    let entry = match &required.resource {
        Resource::D1 { .. } => format!("binding = {:?}, database_name = {resource:?}, database_id, migrations_dir", required.name),
        Resource::OwnClass { class } => format!("name = {:?}, class_name = {class:?}", required.name),
        Resource::Class { class, .. } => format!("name = {:?}, class_name = {class:?}, script_name = {resource:?}", required.name),
        Resource::Queue { .. } => format!("binding = {:?}, queue = {resource:?}", required.name),
        Resource::R2 { .. } => format!("binding = {:?}, bucket_name = {resource:?}", required.name),
        Resource::Service { .. } => format!("binding = {:?}, service = {resource:?}", required.name),
        Resource::Dataset { .. } => format!("binding = {:?}, dataset = {resource:?}", required.name),
    };
    let inheritance = if env == Environment::Local { "" } else { " (wrangler does not inherit bindings into [env.*] sections)" };
    format!("missing: the code uses it; add [[{table}]] with {entry}{inheritance}")
}

/// What is wrong with a binding present under the right name, if anything.
fn compare(root: &Path, spec: &WorkerSpec, required: &Required, binding: &Binding, r: &Resolved) -> Option<String> {
    let env = r.env;
    let expected = required.resource.name_in(env);
    let mismatch = |field: &str, actual: &str| {
        let expected = expected.clone().unwrap_or_default();
        let standin = if env != Environment::Local && names::split_env(actual).0 == names::ELITE_STANDIN_WORKER {
            " (the local stand-in is never deployed)"
        } else {
            ""
        };
        Some(format!("{field} = {actual:?}, expected {expected:?}{standin}"))
    };
    match (&required.resource, &binding.target) {
        (Resource::D1 { migrations, .. }, Target::D1 { database_name, database_id, migrations_dir }) => {
            if Some(database_name) != expected.as_ref() {
                return mismatch("database_name", database_name);
            }
            if database_id.trim().is_empty() {
                return Some(format!(
                    "database_id is missing (use {:?} until `cargo xtask deploy` writes the real one)",
                    crate::PLACEHOLDER_DATABASE_ID
                ));
            }
            let config_dir = Path::new(spec.config).parent().unwrap_or(Path::new(""));
            let resolved = migrations_dir.as_deref().map(|dir| normalize(&root.join(config_dir).join(dir)));
            if resolved.as_deref() != Some(normalize(&root.join(migrations)).as_path()) {
                return Some(format!("migrations_dir = {migrations_dir:?} does not lead to the repository's {migrations}/"));
            }
            None
        }
        (Resource::OwnClass { class }, Target::DurableObject { class_name, script_name }) => {
            if class_name != class {
                return Some(format!("class_name = {class_name:?}, expected {class:?}"));
            }
            if script_name.as_ref().is_some_and(|s| *s != r.name) {
                return Some(format!("script_name = {script_name:?}: this Worker hosts {class} itself, so leave script_name unset"));
            }
            if !r.sqlite_classes.iter().any(|c| c == class) {
                return Some(format!("{class} is not created by a [[migrations]] new_sqlite_classes entry"));
            }
            None
        }
        (Resource::Class { class, .. }, Target::DurableObject { class_name, script_name }) => {
            if class_name != class {
                return Some(format!("class_name = {class_name:?}, expected {class:?}"));
            }
            match script_name {
                None => Some(format!(
                    "script_name is missing: it must name this environment's ledger Worker {:?}",
                    expected.unwrap_or_default()
                )),
                Some(s) if Some(s) != expected.as_ref() => mismatch("script_name", s),
                Some(_) => None,
            }
        }
        (Resource::Queue { .. }, Target::Queue { queue }) => (Some(queue) != expected.as_ref()).then(|| mismatch("queue", queue)).flatten(),
        (Resource::R2 { .. }, Target::R2 { bucket_name }) => {
            (Some(bucket_name) != expected.as_ref()).then(|| mismatch("bucket_name", bucket_name)).flatten()
        }
        (Resource::Service { .. }, Target::Service { service }) => {
            (Some(service) != expected.as_ref()).then(|| mismatch("service", service)).flatten()
        }
        (Resource::Dataset { .. }, Target::Dataset { dataset }) => {
            (Some(dataset) != expected.as_ref()).then(|| mismatch("dataset", dataset)).flatten()
        }
        (resource, target) => Some(format!("is bound in [[{}]], but the code uses it as [[{}]]", target.table(), resource.table())),
    }
}

/// `path` with `.` and `..` resolved lexically (the directories need not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Required vars set (as strings) and accepted by the Worker's own parser; `ENVIRONMENT` names
/// this environment; no secret written as a var.
fn vars(spec: &WorkerSpec, r: &Resolved) -> Found {
    let env = r.env;
    let table = format!("[{}vars]", wrangler::key_prefix(env));
    let mut out = Found::new();
    for (name, value) in &r.vars {
        if !value.is_str() {
            out.push((format!("var {name}"), format!("is {value}, not a string: the Workers read every var as text")));
        }
    }
    for name in spec.vars {
        if !r.vars.contains_key(*name) {
            let inheritance = if env == Environment::Local { "" } else { " (vars are not inherited into [env.*] sections)" };
            out.push((format!("var {name}"), format!("missing: set it in {table}{inheritance}")));
        }
    }
    let text = |name: &str| r.vars.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    if let Some(actual) = text(var::ENVIRONMENT) {
        if actual != env.as_str() {
            out.push((format!("var {}", var::ENVIRONMENT), format!("is {actual:?}, expected {:?}", env.as_str())));
        }
    }
    if let Err(e) = (spec.parse_vars)(&text) {
        out.push((format!("var {}", e.variable), format!("the Worker would refuse it: {}", e.problem)));
    }
    for secret in spec.secrets {
        if r.vars.contains_key(*secret) {
            let env_flag = if env == Environment::Local { String::new() } else { format!(" --env {}", env.as_str()) };
            out.push((
                format!("var {secret}"),
                format!(
                    "is a secret and must not be written in {table}: use `wrangler secret put {secret}{env_flag}` (or .dev.vars locally)"
                ),
            ));
        }
    }
    out
}

/// The table's consumers present, with explicit options, the right dead-letter queue, and the
/// Worker's own attempt limit below the queue's `max_retries`; no unknown consumer.
fn consumers(spec: &WorkerSpec, r: &Resolved) -> Found {
    let env = r.env;
    let table = format!("[[{}queues.consumers]]", wrangler::key_prefix(env));
    let mut out = Found::new();
    for wanted in spec.consumes {
        let queue = names::in_env(wanted.queue, env);
        let subject = format!("consumer of queue {queue}");
        let Some(c) = r.consumers.iter().find(|c| c.queue == queue) else {
            out.push((subject, format!("missing: add {table} with queue = {queue:?} and every option set")));
            continue;
        };
        for (option, value, max) in [
            ("max_batch_size", c.max_batch_size, MAX_BATCH_SIZE),
            ("max_batch_timeout", c.max_batch_timeout, MAX_BATCH_TIMEOUT_S),
            ("max_retries", c.max_retries, MAX_RETRIES),
        ] {
            match value {
                None => {
                    out.push((subject.clone(), format!("{option} is not set: set it explicitly (local defaults differ from Cloudflare's)")))
                }
                Some(v) if !(0..=max).contains(&v) || (option == "max_batch_size" && v == 0) => {
                    out.push((subject.clone(), format!("{option} = {v} is outside Cloudflare's bounds (at most {max})")));
                }
                Some(_) => {}
            }
        }
        match (&wanted.dead_letter_queue, &c.dead_letter_queue) {
            (DeadLetterQueue::Queue(base), actual) => {
                let expected = names::in_env(base, env);
                if actual.as_deref() != Some(expected.as_str()) {
                    out.push((subject.clone(), format!("dead_letter_queue = {actual:?}, expected {expected:?}")));
                }
            }
            (DeadLetterQueue::None { why }, Some(actual)) => {
                out.push((subject.clone(), format!("dead_letter_queue = {actual:?}, but this consumer has none by design: {why}")));
            }
            (DeadLetterQueue::None { .. }, None) => {}
        }
        if let (Some(attempts_var), Some(max_retries)) = (wanted.attempts_var, c.max_retries) {
            let attempts = r.vars.get(attempts_var).and_then(|v| v.as_str()).and_then(|v| v.trim().parse::<i64>().ok());
            if let Some(attempts) = attempts.filter(|a| *a >= max_retries) {
                out.push((
                    subject.clone(),
                    format!("{attempts_var} = {attempts} must stay below max_retries = {max_retries}, so the consumer dead-letters with a reason before the queue does without one"),
                ));
            }
        }
    }
    for c in &r.consumers {
        if !spec.consumes.iter().any(|w| names::in_env(w.queue, env) == c.queue) {
            out.push((
                format!("consumer of queue {}", c.queue),
                format!("in {table} but not in this Worker's table (config-check/src/workers.rs)"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalize_lexically() {
        assert_eq!(normalize(Path::new("/r/consumers/dead-letters/../../migrations")), Path::new("/r/migrations"));
        assert_eq!(normalize(Path::new("/r/./migrations")), Path::new("/r/migrations"));
    }
}
