//! Platform names: Worker, binding, queue, bucket and database names, mirroring the wrangler
//! tomls. Code refers to bindings only through these constants, and the configuration check
//! (`config-check/`, run by `cargo xtask check-config` and a test in `tests/`) fails when a
//! toml and this module drift apart.
//!
//! The constants are the *base* names, which the local (top-level) configuration uses as they
//! are. Each deployed environment suffixes every resource of its own with the environment's
//! name ([`in_env`]): `code24-ledger-staging`, `code24-optimize-dlq-production`, and so on.
//! That is wrangler's own default for a Worker's name in an `[env.NAME]` section, applied to
//! queues, buckets and databases too, so no two environments ever share a resource. One
//! exception: production binds the results bucket by the seed's own name, unsuffixed
//! ([`bucket_in_env`]). The
//! environments themselves are [`Environment`]; this module depends on no other.

/// The dispatcher (cron producer) Worker, configured by the top-level `wrangler.toml`.
pub const DISPATCHER_WORKER: &str = "code24-platform-dispatcher";
/// The Worker that hosts the `Ledger` Durable Object class.
pub const LEDGER_WORKER: &str = "code24-ledger";
/// The optimizer consumer Worker.
pub const OPTIMIZER_WORKER: &str = "code24-optimizer";
/// The dead-letters consumer Worker.
pub const DEAD_LETTERS_WORKER: &str = "code24-dead-letters";
/// The local, simulated stand-in for the three elite workers. Never deployed.
pub const ELITE_STANDIN_WORKER: &str = "code24-elite-standin";

/// Queue of optimization jobs: one message per (sweep, customer site).
pub const OPTIMIZE_QUEUE: &str = "code24-optimize";
/// Dead-letter queue of the optimize queue.
pub const OPTIMIZE_DLQ: &str = "code24-optimize-dlq";
/// Queue of report jobs (monthly analytics, end-of-month, health checks).
pub const REPORTS_QUEUE: &str = "code24-reports";
/// Dead-letter queue of the reports queue.
pub const REPORTS_DLQ: &str = "code24-reports-dlq";
/// The reports consumer Worker.
pub const REPORTS_WORKER: &str = "code24-reports";
/// The R2 bucket every result lands in (the seed's layout).
pub const RESULTS_BUCKET: &str = "code24-elite-workers-data";
/// The D1 database holding the site registry.
pub const PLATFORM_DB: &str = "code24-platform";
/// The Durable Object class of the ledger.
pub const LEDGER_CLASS: &str = "Ledger";
/// The dispatcher's own Durable Object class: login limits and dashboard sessions.
pub const GATE_CLASS: &str = "Gate";
/// The Workers Analytics Engine dataset of finished jobs. Dataset names take `_`, not `-`,
/// so its per-environment name is [`dataset_in_env`]'s.
pub const JOB_ANALYTICS_DATASET: &str = "code24_jobs";

/// The real elite workers, bound in deployed environments as `<name>-<env>` (the local
/// configuration binds the stand-in instead). These names are an assumption about how the
/// elite workers are deployed; docs/DEPLOY.md says where to change them.
pub const ELITE_BRAND_WORKER: &str = "code24-elite-brand";
/// See [`ELITE_BRAND_WORKER`].
pub const ELITE_DESIGNER_WORKER: &str = "code24-elite-designer";
/// See [`ELITE_BRAND_WORKER`].
pub const ELITE_DEVELOPER_WORKER: &str = "code24-elite-developer";

/// The deployment environment: the top-level section of every toml ([`Environment::Local`])
/// or one of its `[env.NAME]` sections. Part of every resource name ([`in_env`]) and of every
/// sweep id, so environments never share a resource or a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Local,
    Dev,
    Staging,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Dev => "dev",
            Self::Staging => "staging",
            Self::Production => "production",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Local, Self::Dev, Self::Staging, Self::Production].into_iter().find(|e| e.as_str() == raw)
    }
}

/// The environments deployed to Cloudflare, in promotion order. [`Environment::Local`] is the
/// top-level section of every toml and is never deployed.
pub const DEPLOYED_ENVIRONMENTS: [Environment; 3] = [Environment::Dev, Environment::Staging, Environment::Production];

/// The name of a per-environment resource (Worker, queue, bucket, database): `base` in the
/// local configuration, `<base>-<env>` in a deployed one.
pub fn in_env(base: &str, env: Environment) -> String {
    match env {
        Environment::Local => base.to_owned(),
        deployed => format!("{base}-{}", deployed.as_str()),
    }
}

/// The name of the R2 results bucket in `env`: production binds the seed's own name,
/// `code24-elite-workers-data`, exactly (the seed names that bucket, and whatever reads the
/// platform's results outside this code, such as the stakeholders' report links, expects it);
/// every other deployed environment keeps its suffix ([`in_env`]), so dev and staging can
/// never write into production's bucket. Locally the name is the base too, but the local
/// bucket is Miniflare's, on disk, and never meets the deployed one.
pub fn bucket_in_env(base: &str, env: Environment) -> String {
    match env {
        Environment::Production => base.to_owned(),
        other => in_env(base, other),
    }
}

/// The name of a per-environment Analytics Engine dataset: `base`, or `<base>_<env>`.
pub fn dataset_in_env(base: &str, env: Environment) -> String {
    match env {
        Environment::Local => base.to_owned(),
        deployed => format!("{base}_{}", deployed.as_str()),
    }
}

/// The base name and environment of a name made by [`in_env`]: the inverse, for code that
/// is told a resource's full name (a queue consumer learns its queue's name from the batch).
/// A name without an environment suffix is local.
pub fn split_env(name: &str) -> (&str, Environment) {
    DEPLOYED_ENVIRONMENTS
        .iter()
        .find_map(|env| {
            let base = name.strip_suffix(env.as_str())?.strip_suffix('-')?;
            (!base.is_empty()).then_some((base, *env))
        })
        .unwrap_or((name, Environment::Local))
}

/// Binding names, as written in the tomls' `binding = ...` / `name = ...` keys.
pub mod binding {
    /// D1 platform database: site registry (dispatcher), dead-letter store (dead-letters),
    /// rollups, sections and billing events (reports).
    pub const DB: &str = "DB";
    /// Ledger Durable Object namespace (dispatcher, optimizer, reports, ledger host).
    pub const LEDGER: &str = "LEDGER";
    /// Producer binding of the optimize queue (dispatcher).
    pub const OPTIMIZE_QUEUE: &str = "OPTIMIZE_QUEUE";
    /// Producer binding of the reports queue (dispatcher; reports consumer for finalize jobs).
    pub const REPORTS_QUEUE: &str = "REPORTS_QUEUE";
    /// Producer binding of a consumer's own dead-letter queue (optimizer: the optimize DLQ;
    /// reports: the reports DLQ).
    pub const DEAD_LETTER_QUEUE: &str = "DEAD_LETTER_QUEUE";
    /// R2 results bucket (dispatcher reads, optimizer and reports write).
    pub const RESULTS: &str = "RESULTS";
    /// Elite Brand worker service binding (optimizer; reports for health checks and the canary).
    pub const ELITE_BRAND: &str = "ELITE_BRAND";
    /// Elite Designer worker service binding (as [`ELITE_BRAND`]).
    pub const ELITE_DESIGNER: &str = "ELITE_DESIGNER";
    /// Elite Developer worker service binding (as [`ELITE_BRAND`]).
    pub const ELITE_DEVELOPER: &str = "ELITE_DEVELOPER";
    /// Workers Analytics Engine dataset: one data point per finished job (optimizer, reports).
    pub const JOB_ANALYTICS: &str = "JOB_ANALYTICS";
    /// Local only: the dispatcher's route to the stand-in's fault knobs.
    pub const ELITE_STANDIN: &str = "ELITE_STANDIN";
    /// The dispatcher's own gate Durable Object: login attempts and dashboard sessions.
    pub const GATE: &str = "GATE";
}

/// Plain-text variables and secrets, as written in `[vars]` and `.dev.vars`.
pub mod var {
    /// `local`, `dev`, `staging` or `production`; part of every sweep id.
    pub const ENVIRONMENT: &str = "ENVIRONMENT";
    /// Per-call timeout of an elite worker, in milliseconds.
    pub const ELITE_TIMEOUT_MS: &str = "ELITE_TIMEOUT_MS";
    /// Attempts before a transiently failing job is dead-lettered.
    pub const MAX_ATTEMPTS: &str = "MAX_ATTEMPTS";
    /// First retry delay, in seconds; doubles per attempt.
    pub const RETRY_BASE_SECONDS: &str = "RETRY_BASE_SECONDS";
    /// Upper bound of a retry delay, in seconds.
    pub const RETRY_MAX_SECONDS: &str = "RETRY_MAX_SECONDS";
    /// Most elite calls one consumer invocation keeps in flight at once (at most the platform's
    /// simultaneous connections, so no call's timeout runs while it waits for one).
    pub const ELITE_CALLS_IN_FLIGHT: &str = "ELITE_CALLS_IN_FLIGHT";
    /// Message retention of every queue the Worker consumes, in seconds. wrangler.toml has no
    /// key for it: `cargo xtask deploy` applies it with `wrangler queues create/update
    /// --message-retention-period-secs`, and the ledger's job retention must outlast it.
    pub const QUEUE_RETENTION_SECONDS: &str = "QUEUE_RETENTION_SECONDS";
    pub const OPTIMIZATIONS_RETENTION_DAYS: &str = "OPTIMIZATIONS_RETENTION_DAYS";
    /// How long the ledger keeps finished sweeps before its alarm prunes them.
    pub const SWEEP_RETENTION_HOURS: &str = "SWEEP_RETENTION_HOURS";
    /// How long a job shard lets changed daily rollups wait before its alarm copies them to D1
    /// (write-behind: one D1 upsert per customer and day per flush, not per job).
    pub const ROLLUP_FLUSH_SECONDS: &str = "ROLLUP_FLUSH_SECONDS";
    /// Rows of the dead-letter store at which the store reports itself near capacity (it
    /// never drops entries; it says so in the log and in the admin API).
    pub const DEAD_LETTER_WARN_ROWS: &str = "DEAD_LETTER_WARN_ROWS";
    /// Hours after a monthly report's slot during which the dispatcher catches up a missed run.
    pub const CATCH_UP_WINDOW_HOURS: &str = "CATCH_UP_WINDOW_HOURS";
    /// Messages per second the dispatcher sends to a queue (default 4,000, under the queue's
    /// 5,000; 0 = unpaced, local only).
    pub const QUEUE_SEND_RATE_PER_S: &str = "QUEUE_SEND_RATE_PER_S";
    /// `on`: the dispatcher replays the dead letters a healed elite outage caused once its
    /// circuit breaker closes (rate-capped; `breaker::replay`). Off when unset.
    pub const BREAKER_AUTO_REPLAY: &str = "BREAKER_AUTO_REPLAY";
    /// `off`: the elite circuit breakers' off switch (the optimizer neither asks nor tells
    /// them; every job is worked). On when unset (`config::breakers_enabled`).
    pub const BREAKERS_ENABLED: &str = "BREAKERS_ENABLED";
    /// Local only: the dispatcher's queue sends fail on demand (`code24_shared::testkit`-free
    /// fault switch for the end-to-end tests; ignored unless `ENVIRONMENT` is `local`).
    pub const QUEUE_SEND_FAULTS: &str = "QUEUE_SEND_FAULTS";
    /// Secret bearer token of the admin API.
    pub const ADMIN_TOKEN: &str = "ADMIN_TOKEN";
    /// Optional secret that signs the dashboard's sessions; `ADMIN_TOKEN` signs them when unset.
    pub const SESSION_SECRET: &str = "SESSION_SECRET";
    /// Optional secret: the environment's alert webhook (Slack's incoming webhook, or any
    /// receiver of JSON); `code24_shared::secrets::check_webhook_url` decides what is accepted.
    /// Locally the stand-in receives alerts instead.
    pub const ALERT_WEBHOOK_URL: &str = "ALERT_WEBHOOK_URL";
    /// The Cloudflare Access team domain (`<team>.cloudflareaccess.com`) in front of the
    /// dispatcher; with [`ACCESS_AUD`], turns on Access tokens (both set, or neither).
    pub const ACCESS_TEAM_DOMAIN: &str = "ACCESS_TEAM_DOMAIN";
    /// The Access application's audience (AUD) tag.
    pub const ACCESS_AUD: &str = "ACCESS_AUD";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_environment_names() {
        assert_eq!(in_env(LEDGER_WORKER, Environment::Local), "code24-ledger");
        assert_eq!(in_env(LEDGER_WORKER, Environment::Staging), "code24-ledger-staging");
        assert_eq!(in_env(OPTIMIZE_DLQ, Environment::Production), "code24-optimize-dlq-production");
        assert_eq!(dataset_in_env(JOB_ANALYTICS_DATASET, Environment::Local), "code24_jobs");
        assert_eq!(bucket_in_env(RESULTS_BUCKET, Environment::Production), "code24-elite-workers-data");
        assert_eq!(bucket_in_env(RESULTS_BUCKET, Environment::Staging), "code24-elite-workers-data-staging");
        assert_eq!(bucket_in_env(RESULTS_BUCKET, Environment::Dev), "code24-elite-workers-data-dev");
        assert_eq!(bucket_in_env(RESULTS_BUCKET, Environment::Local), "code24-elite-workers-data");
        assert_eq!(dataset_in_env(JOB_ANALYTICS_DATASET, Environment::Dev), "code24_jobs_dev");
    }

    #[test]
    fn split_env_inverts_in_env() {
        for env in [Environment::Local, Environment::Dev, Environment::Staging, Environment::Production] {
            for base in [OPTIMIZE_QUEUE, OPTIMIZE_DLQ, REPORTS_QUEUE, REPORTS_DLQ, DISPATCHER_WORKER] {
                assert_eq!(split_env(&in_env(base, env)), (base, env));
            }
        }
        assert_eq!(split_env("-dev"), ("-dev", Environment::Local));
        assert_eq!(split_env("code24-optimize-devx"), ("code24-optimize-devx", Environment::Local));
    }
}
