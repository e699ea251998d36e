//! The configuration check: every Worker's wrangler.toml, in every environment (the local top
//! level and `[env.dev]`, `[env.staging]`, `[env.production]`), against one table of what the
//! code needs. wrangler inherits no binding and no var into an `[env.*]` section, so a config
//! kept by hand drifts, and a missing binding would only show up at runtime in production;
//! this check makes such drift fail `cargo xtask check-config` and an ordinary test instead.
//!
//! Map of the crate:
//! - [`workers`]: the table: each Worker's config, bindings, consumed queues, vars, secrets,
//!   in deploy order.
//! - [`wrangler`]: a serde model of the tomls and wrangler's environment inheritance rules.
//! - [`rules`]: the checks of one Worker in one environment against the table.
//! - [`limits`]: `[limits]` in every deployed environment, consumer batches within the
//!   service-binding budget, the ledger's job retention against the queues' retention.
//! - [`across`]: the checks across the Workers of one environment (queue producers and
//!   consumers, dead-letter queues, shared D1 ids, Durable Object `script_name`s).
//! - [`sources`]: a scan of the Workers' code for the bindings it uses, so the table cannot
//!   forget one; and the repository's tomls against the table's.
//! - [`resources`]: what an environment needs provisioned, read from its configs, for
//!   `cargo xtask deploy`.
//! - [`vars`]: the vars each Worker sets explicitly, and its own parser of them.
//!
//! Every problem names the Worker, the environment and the binding (or var, or key) at fault,
//! and usually says how to fix it.

pub mod across;
pub mod limits;
pub mod resources;
pub mod rules;
pub mod sources;
pub mod vars;
pub mod workers;
pub mod wrangler;

use std::fmt;
use std::path::{Path, PathBuf};

use code24_shared::names::Environment;

use crate::workers::{WorkerSpec, WORKERS};
use crate::wrangler::{Resolved, Section};

/// The `database_id` every deployed D1 binding starts with, until `cargo xtask deploy` writes
/// the real one. It is a well-formed id, so offline dry runs validate.
pub const PLACEHOLDER_DATABASE_ID: &str = "00000000-0000-0000-0000-000000000000";

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The Worker's base name, e.g. `code24-optimizer`.
    pub worker: String,
    /// Its config, relative to the repository root.
    pub config: String,
    /// The environment at fault; `None` for a whole file (unreadable, or a section that must
    /// not exist) or for the code scan.
    pub env: Option<Environment>,
    /// What is at fault: `binding JOB_ANALYTICS`, `var MAX_ATTEMPTS`, `triggers.crons`, ...
    pub subject: String,
    pub message: String,
}

impl Problem {
    pub fn new(spec: &WorkerSpec, env: Option<Environment>, subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self { worker: spec.name.to_owned(), config: spec.config.to_owned(), env, subject: subject.into(), message: message.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.env {
            Some(env) => write!(f, "{}, env {} ({} {})", self.worker, env.as_str(), self.config, wrangler::section_label(env))?,
            None => write!(f, "{} ({})", self.worker, self.config)?,
        }
        write!(f, ": {}: {}", self.subject, self.message)
    }
}

/// One Worker's parsed config.
#[derive(Debug)]
pub struct Config {
    pub spec: &'static WorkerSpec,
    pub top: Section,
}

/// Every Worker's config, read from one repository root.
#[derive(Debug)]
pub struct Configs {
    pub root: PathBuf,
    pub configs: Vec<Config>,
}

impl Configs {
    /// Reads and parses every config of the table; a missing or unparsable file is a problem.
    pub fn load(root: &Path) -> Result<Self, Vec<Problem>> {
        let mut configs = Vec::new();
        let mut problems = Vec::new();
        for spec in WORKERS {
            let path = root.join(spec.config);
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
                .and_then(|text| toml::from_str::<Section>(&text).map_err(|e| format!("not a valid wrangler config: {e}")));
            match parsed {
                Ok(top) => configs.push(Config { spec, top }),
                Err(e) => problems.push(Problem::new(spec, None, "file", e)),
            }
        }
        if problems.is_empty() {
            Ok(Self { root: root.to_path_buf(), configs })
        } else {
            Err(problems)
        }
    }

    /// The Workers that run in `env`, each with its resolved configuration. A deployed Worker
    /// without a section for `env` is left out (the rules report it).
    pub fn resolved(&self, env: Environment) -> Vec<(&'static WorkerSpec, Resolved)> {
        self.configs
            .iter()
            .filter(|c| workers::environments_of(c.spec).contains(&env))
            .filter_map(|c| Some((c.spec, wrangler::resolve(&c.top, env)?)))
            .collect()
    }
}

/// Checks every config under `root` in every environment; empty means all is well.
pub fn check_configs(root: &Path) -> Vec<Problem> {
    let configs = match Configs::load(root) {
        Ok(configs) => configs,
        Err(problems) => return problems,
    };
    let mut problems = Vec::new();
    for config in &configs.configs {
        problems.extend(rules::check_worker(&configs.root, config));
    }
    for env in workers::ENVIRONMENTS {
        let resolved = configs.resolved(env);
        problems.extend(across::check_environment(env, &resolved));
        problems.extend(limits::check_retention(env, &resolved));
    }
    problems
}

/// The configuration check and the scan of the code, as `cargo xtask check-config` runs them.
pub fn check_all(root: &Path) -> Vec<Problem> {
    let mut problems = check_configs(root);
    problems.extend(sources::check_sources(root));
    problems
}
