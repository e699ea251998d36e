//! The table of Workers: for each, its config, whether it is deployed, and every binding,
//! queue, var and secret its code uses. The check compares each toml, in each environment,
//! with this table; `sources.rs` keeps the table honest against the Workers' code; `cargo
//! xtask deploy` reads the deploy order from it.
//!
//! Adding a binding to a Worker's code means one row here, and the check then names every
//! environment whose toml lacks it.

use code24_shared::config::ConfigError;
use code24_shared::names::{self, binding, var, Environment};
use code24_shared::pipeline::{optimize, reports};

use crate::vars::{consumer_vars, dead_letters_consumer_vars, dispatcher_vars, ledger_vars, optimizer_vars, CONSUMER_VARS, OPTIMIZER_VARS};

/// Looks a var up by name, as a Worker's `Env` does (`None`: not set).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;
/// A Worker's parser of its vars.
pub type ParseVars = fn(Lookup<'_>) -> Result<(), ConfigError>;

/// One Worker of the platform.
#[derive(Debug)]
pub struct WorkerSpec {
    /// The Worker's base name: the toml's top-level `name`; deployed as `<name>-<env>`.
    pub name: &'static str,
    /// Its wrangler config, relative to the repository root.
    pub config: &'static str,
    /// Its crate, relative to the repository root (for the scan of binding uses).
    pub crate_dir: &'static str,
    /// Whether it is deployed at all. The stand-in is not: it has no `[env.*]` sections.
    pub deployed: bool,
    /// Whether it serves HTTP to the outside when deployed. The others must not have a public
    /// `workers.dev` route.
    pub public: bool,
    /// Whether it has a `scheduled` handler: its crons must equal the schedule table; every
    /// other Worker must have none.
    pub scheduled: bool,
    /// Every binding the code uses.
    pub bindings: &'static [Required],
    /// The queues it consumes.
    pub consumes: &'static [Consumes],
    /// Vars that must be set explicitly in every environment (defaults in code are for tests;
    /// a deployed environment states its values).
    pub vars: &'static [&'static str],
    /// The Worker's own parser of its vars, so a value the Worker would refuse at runtime is
    /// refused here first.
    pub parse_vars: ParseVars,
    /// Secrets it reads: set with `wrangler secret put`, never written in `[vars]`.
    pub secrets: &'static [&'static str],
}

/// One binding a Worker's code uses.
#[derive(Debug)]
pub struct Required {
    pub name: &'static str,
    pub resource: Resource,
    /// Whether deployed environments bind it too.
    pub local_only: bool,
}

/// What a binding must be bound to, by kind; per-environment names follow `names::in_env`.
#[derive(Debug)]
pub enum Resource {
    /// D1 database `<base>(-<env>)`, with its migrations in `migrations` (relative to the
    /// repository root).
    D1 { base: &'static str, migrations: &'static str },
    /// A Durable Object class hosted by this Worker itself (no `script_name`), created by a
    /// `new_sqlite_classes` migration.
    OwnClass { class: &'static str },
    /// A Durable Object class hosted by Worker `<script>(-<env>)`.
    Class { class: &'static str, script: &'static str },
    /// Queue producer of `<base>(-<env>)`.
    Queue { base: &'static str },
    /// R2 bucket `<base>(-<env>)`, production excepted: it binds `<base>` exactly
    /// ([`names::bucket_in_env`]).
    R2 { base: &'static str },
    /// Service binding: locally `local`, deployed `<deployed>-<env>`.
    Service { local: &'static str, deployed: &'static str },
    /// Analytics Engine dataset `<base>(_<env>)`.
    Dataset { base: &'static str },
}

impl Resource {
    /// The toml table this kind of binding is written in.
    pub fn table(&self) -> &'static str {
        match self {
            Self::D1 { .. } => "d1_databases",
            Self::OwnClass { .. } | Self::Class { .. } => "durable_objects.bindings",
            Self::Queue { .. } => "queues.producers",
            Self::R2 { .. } => "r2_buckets",
            Self::Service { .. } => "services",
            Self::Dataset { .. } => "analytics_engine_datasets",
        }
    }

    /// The resource's name in `env` (`None` for a class this Worker hosts itself).
    pub fn name_in(&self, env: Environment) -> Option<String> {
        Some(match self {
            Self::D1 { base, .. } | Self::Queue { base } => names::in_env(base, env),
            Self::R2 { base } => names::bucket_in_env(base, env),
            Self::Class { script, .. } => names::in_env(script, env),
            Self::OwnClass { .. } => return None,
            Self::Service { local, .. } if env == Environment::Local => (*local).to_owned(),
            Self::Service { deployed, .. } => names::in_env(deployed, env),
            Self::Dataset { base } => names::dataset_in_env(base, env),
        })
    }
}

/// One queue a Worker consumes.
#[derive(Debug)]
pub struct Consumes {
    /// The queue's base name.
    pub queue: &'static str,
    pub dead_letter_queue: DeadLetterQueue,
    /// A var holding the Worker's own attempt limit, which must stay below the queue's
    /// `max_retries` so the Worker dead-letters with a reason before the queue does without.
    pub attempts_var: Option<&'static str>,
    /// The most service-binding calls one of its jobs makes: `max_batch_size` times this stays
    /// within the invocation's budget (`code24_shared::pipeline::budget`).
    pub service_binding_calls_per_job: u32,
}

#[derive(Debug)]
pub enum DeadLetterQueue {
    /// `dead_letter_queue = <base>(-<env>)`.
    Queue(&'static str),
    /// None, and why not: the documented exception.
    None { why: &'static str },
}

/// The D1 database's binding, shared by the ledger, the dispatcher and the consumers.
const DB: Required =
    Required { name: binding::DB, resource: Resource::D1 { base: names::PLATFORM_DB, migrations: "migrations" }, local_only: false };
const LEDGER: Required = Required {
    name: binding::LEDGER,
    resource: Resource::Class { class: names::LEDGER_CLASS, script: names::LEDGER_WORKER },
    local_only: false,
};
const RESULTS: Required = Required { name: binding::RESULTS, resource: Resource::R2 { base: names::RESULTS_BUCKET }, local_only: false };
const JOB_ANALYTICS: Required =
    Required { name: binding::JOB_ANALYTICS, resource: Resource::Dataset { base: names::JOB_ANALYTICS_DATASET }, local_only: false };
/// The dead-letters consumer stores both dead-letter queues; it has none of its own.
const DEAD_LETTER_STORE_CONSUMES: DeadLetterQueue = DeadLetterQueue::None {
    why: "it is the end of the line: a store failure is retried with delays growing to 12 h, \
          so its retries outlast the queue's retention",
};

const fn elite(name: &'static str, deployed: &'static str) -> Required {
    Required { name, resource: Resource::Service { local: names::ELITE_STANDIN_WORKER, deployed }, local_only: false }
}

/// Every Worker, **in deploy order**: a Worker comes after everything it depends on. The
/// ledger hosts the Durable Object the others bind by `script_name`; the dead-letters
/// consumer is in place before the optimizer or the reports consumer can dead-letter
/// anything; both consume before the dispatcher produces. The stand-in is never deployed.
pub const WORKERS: &[WorkerSpec] = &[
    WorkerSpec {
        name: names::LEDGER_WORKER,
        config: "ledger/wrangler.toml",
        crate_dir: "ledger",
        deployed: true,
        public: false,
        scheduled: false,
        bindings: &[
            Required { name: binding::LEDGER, resource: Resource::OwnClass { class: names::LEDGER_CLASS }, local_only: false },
            // The alarm flushes the daily rollups to D1.
            DB,
        ],
        consumes: &[],
        vars: &[var::ENVIRONMENT, var::SWEEP_RETENTION_HOURS, var::ROLLUP_FLUSH_SECONDS],
        parse_vars: ledger_vars,
        secrets: &[],
    },
    WorkerSpec {
        name: names::DEAD_LETTERS_WORKER,
        config: "consumers/dead-letters/wrangler.toml",
        crate_dir: "consumers/dead-letters",
        deployed: true,
        public: false,
        scheduled: false,
        bindings: &[DB, LEDGER, RESULTS],
        consumes: &[
            Consumes {
                queue: names::OPTIMIZE_DLQ,
                dead_letter_queue: DEAD_LETTER_STORE_CONSUMES,
                attempts_var: None,
                service_binding_calls_per_job: 0,
            },
            Consumes {
                queue: names::REPORTS_DLQ,
                dead_letter_queue: DEAD_LETTER_STORE_CONSUMES,
                attempts_var: None,
                service_binding_calls_per_job: 0,
            },
        ],
        vars: &[var::ENVIRONMENT, var::QUEUE_RETENTION_SECONDS],
        parse_vars: dead_letters_consumer_vars,
        secrets: &[],
    },
    WorkerSpec {
        name: names::OPTIMIZER_WORKER,
        config: "consumers/optimizer/wrangler.toml",
        crate_dir: "consumers/optimizer",
        deployed: true,
        public: false,
        scheduled: false,
        bindings: &[
            LEDGER,
            RESULTS,
            Required { name: binding::DEAD_LETTER_QUEUE, resource: Resource::Queue { base: names::OPTIMIZE_DLQ }, local_only: false },
            elite(binding::ELITE_BRAND, names::ELITE_BRAND_WORKER),
            elite(binding::ELITE_DESIGNER, names::ELITE_DESIGNER_WORKER),
            elite(binding::ELITE_DEVELOPER, names::ELITE_DEVELOPER_WORKER),
            JOB_ANALYTICS,
        ],
        consumes: &[Consumes {
            queue: names::OPTIMIZE_QUEUE,
            dead_letter_queue: DeadLetterQueue::Queue(names::OPTIMIZE_DLQ),
            attempts_var: Some(var::MAX_ATTEMPTS),
            service_binding_calls_per_job: optimize::SERVICE_BINDING_CALLS_PER_JOB,
        }],
        vars: OPTIMIZER_VARS,
        parse_vars: optimizer_vars,
        secrets: &[],
    },
    WorkerSpec {
        name: names::REPORTS_WORKER,
        config: "consumers/reports/wrangler.toml",
        crate_dir: "consumers/reports",
        deployed: true,
        public: false,
        scheduled: false,
        bindings: &[
            DB,
            LEDGER,
            RESULTS,
            // The finalize job of a monthly run is enqueued by the consumer itself (fan-in).
            Required { name: binding::REPORTS_QUEUE, resource: Resource::Queue { base: names::REPORTS_QUEUE }, local_only: false },
            Required { name: binding::DEAD_LETTER_QUEUE, resource: Resource::Queue { base: names::REPORTS_DLQ }, local_only: false },
            // Health probes and the health check's canary run.
            elite(binding::ELITE_BRAND, names::ELITE_BRAND_WORKER),
            elite(binding::ELITE_DESIGNER, names::ELITE_DESIGNER_WORKER),
            elite(binding::ELITE_DEVELOPER, names::ELITE_DEVELOPER_WORKER),
            JOB_ANALYTICS,
        ],
        consumes: &[Consumes {
            queue: names::REPORTS_QUEUE,
            dead_letter_queue: DeadLetterQueue::Queue(names::REPORTS_DLQ),
            attempts_var: Some(var::MAX_ATTEMPTS),
            service_binding_calls_per_job: reports::MAX_SERVICE_BINDING_CALLS_PER_JOB,
        }],
        vars: CONSUMER_VARS,
        parse_vars: consumer_vars,
        secrets: &[],
    },
    WorkerSpec {
        name: names::DISPATCHER_WORKER,
        config: "wrangler.toml",
        crate_dir: "producer",
        deployed: true,
        public: true,
        scheduled: true,
        bindings: &[
            DB,
            LEDGER,
            Required { name: binding::OPTIMIZE_QUEUE, resource: Resource::Queue { base: names::OPTIMIZE_QUEUE }, local_only: false },
            Required { name: binding::REPORTS_QUEUE, resource: Resource::Queue { base: names::REPORTS_QUEUE }, local_only: false },
            RESULTS,
            // Login attempts and dashboard sessions, in the dispatcher's own Durable Object.
            Required { name: binding::GATE, resource: Resource::OwnClass { class: names::GATE_CLASS }, local_only: false },
            Required {
                name: binding::ELITE_STANDIN,
                resource: Resource::Service { local: names::ELITE_STANDIN_WORKER, deployed: names::ELITE_STANDIN_WORKER },
                local_only: true,
            },
        ],
        consumes: &[],
        vars: &[var::ENVIRONMENT],
        parse_vars: dispatcher_vars,
        secrets: &[var::ADMIN_TOKEN, var::SESSION_SECRET, var::ALERT_WEBHOOK_URL],
    },
    WorkerSpec {
        name: names::ELITE_STANDIN_WORKER,
        config: "elite-standin/wrangler.toml",
        crate_dir: "elite-standin",
        deployed: false,
        public: false,
        scheduled: false,
        // The producers of the queue injection hook (local only, like the whole Worker).
        bindings: &[
            Required { name: binding::OPTIMIZE_QUEUE, resource: Resource::Queue { base: names::OPTIMIZE_QUEUE }, local_only: true },
            Required { name: binding::REPORTS_QUEUE, resource: Resource::Queue { base: names::REPORTS_QUEUE }, local_only: true },
        ],
        consumes: &[],
        vars: &[],
        parse_vars: |_| Ok(()),
        secrets: &[],
    },
];

/// Every environment the check covers: local, then the deployed ones in promotion order.
pub const ENVIRONMENTS: [Environment; 4] = [Environment::Local, Environment::Dev, Environment::Staging, Environment::Production];

/// The Workers deployed to `env`-named environments, in deploy order.
pub fn deployed() -> impl Iterator<Item = &'static WorkerSpec> {
    WORKERS.iter().filter(|w| w.deployed)
}

/// The environments a Worker runs in.
pub fn environments_of(worker: &WorkerSpec) -> &'static [Environment] {
    if worker.deployed {
        &ENVIRONMENTS
    } else {
        &ENVIRONMENTS[..1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_deploys_first_and_the_dispatcher_last() {
        let order: Vec<&str> = deployed().map(|w| w.name).collect();
        assert_eq!(
            order,
            [names::LEDGER_WORKER, names::DEAD_LETTERS_WORKER, names::OPTIMIZER_WORKER, names::REPORTS_WORKER, names::DISPATCHER_WORKER]
        );
    }

    #[test]
    fn every_elite_role_is_bound_by_the_optimizer_and_the_reports_consumer() {
        for worker in [names::OPTIMIZER_WORKER, names::REPORTS_WORKER] {
            let spec = WORKERS.iter().find(|w| w.name == worker).unwrap();
            for role in code24_shared::elite::EliteRole::ALL {
                assert!(spec.bindings.iter().any(|b| b.name == role.binding()), "{worker}: {}", role.binding());
            }
        }
    }

    #[test]
    fn resource_names_per_environment() {
        let brand = elite(binding::ELITE_BRAND, names::ELITE_BRAND_WORKER);
        assert_eq!(brand.resource.name_in(Environment::Local).as_deref(), Some(names::ELITE_STANDIN_WORKER));
        assert_eq!(brand.resource.name_in(Environment::Staging).as_deref(), Some("code24-elite-brand-staging"));
        assert_eq!(LEDGER.resource.name_in(Environment::Dev).as_deref(), Some("code24-ledger-dev"));
        let dataset = Resource::Dataset { base: names::JOB_ANALYTICS_DATASET };
        assert_eq!(dataset.name_in(Environment::Production).as_deref(), Some("code24_jobs_production"));
    }
}
