//! The part of a wrangler.toml the check reads, and how wrangler resolves one environment of
//! it.
//!
//! wrangler's rules (verified, see /work/shared/notes/platform.md): an `[env.NAME]` section
//! inherits `main`, `compatibility_*`, `triggers`, `migrations`, `workers_dev` and `limits`
//! from the top level unless it sets them (`limits`: wrangler 4's `normalizeAndValidateLimits`
//! calls `inheritable`); it inherits **no** binding and no `vars`; its Worker is named
//! `<top-level name>-<NAME>` unless it sets `name`. [`resolve`] applies exactly these rules, so
//! the check sees what `wrangler deploy --env NAME` would deploy.

use std::collections::BTreeMap;

use code24_shared::names::{self, Environment};
use serde::Deserialize;

/// The top level of a wrangler.toml, or one `[env.NAME]` section of it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Section {
    pub name: Option<String>,
    pub workers_dev: Option<bool>,
    pub triggers: Option<Triggers>,
    pub vars: Option<BTreeMap<String, toml::Value>>,
    pub d1_databases: Option<Vec<D1>>,
    pub durable_objects: Option<DurableObjects>,
    pub queues: Option<Queues>,
    pub r2_buckets: Option<Vec<R2>>,
    pub services: Option<Vec<Service>>,
    pub analytics_engine_datasets: Option<Vec<Dataset>>,
    pub migrations: Option<Vec<Migration>>,
    /// `[limits]`: per-invocation subrequests and CPU time (inherited into `[env.*]`).
    pub limits: Option<Limits>,
    /// Only meaningful at the top level: the deployed environments.
    #[serde(default)]
    pub env: BTreeMap<String, Section>,
}

/// `[limits]`. The fields are optional here so that a missing one is reported by the check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Limits {
    pub subrequests: Option<i64>,
    pub cpu_ms: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Triggers {
    #[serde(default)]
    pub crons: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct D1 {
    pub binding: String,
    pub database_name: Option<String>,
    pub database_id: Option<String>,
    pub migrations_dir: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DurableObjects {
    #[serde(default)]
    pub bindings: Vec<DurableObject>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DurableObject {
    pub name: String,
    pub class_name: String,
    pub script_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Queues {
    #[serde(default)]
    pub producers: Vec<Producer>,
    #[serde(default)]
    pub consumers: Vec<Consumer>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Producer {
    pub binding: String,
    pub queue: String,
}

/// A queue consumer. The options are optional here so that a missing one is reported by the
/// check (wrangler would silently use its defaults, which differ locally and remotely).
#[derive(Debug, Clone, Deserialize)]
pub struct Consumer {
    pub queue: String,
    pub max_batch_size: Option<i64>,
    pub max_batch_timeout: Option<i64>,
    pub max_retries: Option<i64>,
    pub dead_letter_queue: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct R2 {
    pub binding: String,
    pub bucket_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    pub binding: String,
    pub service: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dataset {
    pub binding: String,
    pub dataset: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Migration {
    pub tag: String,
    #[serde(default)]
    pub new_sqlite_classes: Vec<String>,
}

/// What one binding is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    D1 { database_name: String, database_id: String, migrations_dir: Option<String> },
    DurableObject { class_name: String, script_name: Option<String> },
    Queue { queue: String },
    R2 { bucket_name: String },
    Service { service: String },
    Dataset { dataset: String },
}

impl Target {
    /// Where this kind of binding is written in a toml, e.g. `queues.producers`.
    pub fn table(&self) -> &'static str {
        match self {
            Self::D1 { .. } => "d1_databases",
            Self::DurableObject { .. } => "durable_objects.bindings",
            Self::Queue { .. } => "queues.producers",
            Self::R2 { .. } => "r2_buckets",
            Self::Service { .. } => "services",
            Self::Dataset { .. } => "analytics_engine_datasets",
        }
    }

    /// The resource named by the binding (database, script, queue, bucket, service, dataset).
    pub fn resource(&self) -> Option<&str> {
        match self {
            Self::D1 { database_name, .. } => Some(database_name),
            Self::DurableObject { script_name, .. } => script_name.as_deref(),
            Self::Queue { queue } => Some(queue),
            Self::R2 { bucket_name } => Some(bucket_name),
            Self::Service { service } => Some(service),
            Self::Dataset { dataset } => Some(dataset),
        }
    }
}

/// One binding of a resolved environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub name: String,
    pub target: Target,
}

/// One environment of a config, as `wrangler deploy --env` (or `wrangler dev`, for local)
/// would see it.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub env: Environment,
    /// The Worker's name in this environment.
    pub name: String,
    /// Whether the Worker gets a public `*.workers.dev` route (wrangler's default: yes).
    pub workers_dev: bool,
    pub crons: Vec<String>,
    pub vars: BTreeMap<String, toml::Value>,
    pub bindings: Vec<Binding>,
    pub consumers: Vec<Consumer>,
    /// Classes created with `new_sqlite_classes` by the (inherited) migrations.
    pub sqlite_classes: Vec<String>,
    /// `[limits]`, the section's own or inherited from the top level.
    pub limits: Option<Limits>,
}

/// `[env.NAME]` as a toml section header, or the top level for local.
pub fn section_label(env: Environment) -> String {
    match env {
        Environment::Local => "top level".to_owned(),
        deployed => format!("[env.{}]", deployed.as_str()),
    }
}

/// The dotted prefix of a key in `env`'s section: `""` or `"env.NAME."`.
pub fn key_prefix(env: Environment) -> String {
    match env {
        Environment::Local => String::new(),
        deployed => format!("env.{}.", deployed.as_str()),
    }
}

/// Resolves `env` of a config; `None` when a deployed environment has no section.
pub fn resolve(top: &Section, env: Environment) -> Option<Resolved> {
    let section = match env {
        Environment::Local => top,
        deployed => top.env.get(deployed.as_str())?,
    };
    let top_name = top.name.clone().unwrap_or_default();
    let name = match env {
        Environment::Local => top_name,
        deployed => section.name.clone().unwrap_or_else(|| names::in_env(&top_name, deployed)),
    };
    // Inheritable keys: the section's own value, else the top level's.
    let workers_dev = section.workers_dev.or(top.workers_dev).unwrap_or(true);
    let triggers = section.triggers.as_ref().or(top.triggers.as_ref());
    let migrations = section.migrations.as_ref().or(top.migrations.as_ref());
    Some(Resolved {
        env,
        name,
        workers_dev,
        crons: triggers.map(|t| t.crons.clone()).unwrap_or_default(),
        vars: section.vars.clone().unwrap_or_default(),
        bindings: bindings(section),
        consumers: section.queues.as_ref().map(|q| q.consumers.clone()).unwrap_or_default(),
        sqlite_classes: migrations.into_iter().flatten().flat_map(|m| m.new_sqlite_classes.clone()).collect(),
        limits: section.limits.clone().or_else(|| top.limits.clone()),
    })
}

/// Every binding of one section (never inherited), in a uniform shape.
fn bindings(section: &Section) -> Vec<Binding> {
    let mut out = Vec::new();
    let mut add = |name: &str, target| out.push(Binding { name: name.to_owned(), target });
    for d in section.d1_databases.iter().flatten() {
        add(
            &d.binding,
            Target::D1 {
                database_name: d.database_name.clone().unwrap_or_default(),
                database_id: d.database_id.clone().unwrap_or_default(),
                migrations_dir: d.migrations_dir.clone(),
            },
        );
    }
    for d in section.durable_objects.iter().flat_map(|d| &d.bindings) {
        add(&d.name, Target::DurableObject { class_name: d.class_name.clone(), script_name: d.script_name.clone() });
    }
    for p in section.queues.iter().flat_map(|q| &q.producers) {
        add(&p.binding, Target::Queue { queue: p.queue.clone() });
    }
    for r in section.r2_buckets.iter().flatten() {
        add(&r.binding, Target::R2 { bucket_name: r.bucket_name.clone().unwrap_or_default() });
    }
    for s in section.services.iter().flatten() {
        add(&s.binding, Target::Service { service: s.service.clone() });
    }
    for d in section.analytics_engine_datasets.iter().flatten() {
        add(&d.binding, Target::Dataset { dataset: d.dataset.clone().unwrap_or_default() });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
name = "w"
[triggers]
crons = ["*/3 * * * *"]
[vars]
ENVIRONMENT = "local"
[[r2_buckets]]
binding = "B"
bucket_name = "b"
[[migrations]]
tag = "v1"
new_sqlite_classes = ["C"]
[env.staging]
workers_dev = false
[env.production]
name = "w-prod"
[env.production.triggers]
crons = []
[[env.production.r2_buckets]]
binding = "B"
bucket_name = "b-production"
"#;

    #[test]
    fn environments_resolve_with_wranglers_inheritance_rules() {
        let top: Section = toml::from_str(CONFIG).unwrap();
        let local = resolve(&top, Environment::Local).unwrap();
        assert_eq!((local.name.as_str(), local.workers_dev, local.crons.len()), ("w", true, 1));
        assert_eq!(local.bindings[0].target, Target::R2 { bucket_name: "b".into() });

        // Not set: the name defaults to `<name>-<env>`; triggers and migrations are inherited,
        // vars and bindings are not.
        let staging = resolve(&top, Environment::Staging).unwrap();
        assert_eq!(staging.name, "w-staging");
        assert!(!staging.workers_dev);
        assert_eq!(staging.crons, ["*/3 * * * *"]);
        assert_eq!(staging.sqlite_classes, ["C"]);
        assert!(staging.vars.is_empty() && staging.bindings.is_empty());

        let production = resolve(&top, Environment::Production).unwrap();
        assert_eq!(production.name, "w-prod");
        assert!(production.crons.is_empty());
        assert_eq!(production.bindings[0].target, Target::R2 { bucket_name: "b-production".into() });

        assert!(resolve(&top, Environment::Dev).is_none());
    }
}
