//! Platform names: Worker, binding, queue, bucket and database names, mirroring the wrangler
//! tomls. Code refers to bindings only through these constants, and a test in `tests/` fails
//! when a toml and this module drift apart.

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
/// The R2 bucket every result lands in (the seed's layout).
pub const RESULTS_BUCKET: &str = "code24-elite-workers-data";
/// The D1 database holding the site registry.
pub const PLATFORM_DB: &str = "code24-platform";
/// The Durable Object class of the ledger.
pub const LEDGER_CLASS: &str = "Ledger";

/// Binding names, as written in the tomls' `binding = ...` / `name = ...` keys.
pub mod binding {
    /// D1 site registry (dispatcher).
    pub const DB: &str = "DB";
    /// Ledger Durable Object namespace (dispatcher, optimizer, ledger host).
    pub const LEDGER: &str = "LEDGER";
    /// Producer binding of the optimize queue (dispatcher).
    pub const OPTIMIZE_QUEUE: &str = "OPTIMIZE_QUEUE";
    /// Producer binding of the optimize dead-letter queue (optimizer).
    pub const DEAD_LETTER_QUEUE: &str = "DEAD_LETTER_QUEUE";
    /// R2 results bucket (dispatcher reads, optimizer writes).
    pub const RESULTS: &str = "RESULTS";
    /// Elite Brand worker service binding (optimizer).
    pub const ELITE_BRAND: &str = "ELITE_BRAND";
    /// Elite Designer worker service binding (optimizer).
    pub const ELITE_DESIGNER: &str = "ELITE_DESIGNER";
    /// Elite Developer worker service binding (optimizer).
    pub const ELITE_DEVELOPER: &str = "ELITE_DEVELOPER";
    /// Workers Analytics Engine dataset: one data point per finished job (optimizer).
    pub const JOB_ANALYTICS: &str = "JOB_ANALYTICS";
    /// Local only: the dispatcher's route to the stand-in's fault knobs.
    pub const ELITE_STANDIN: &str = "ELITE_STANDIN";
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
    /// How long the ledger keeps finished sweeps before its alarm prunes them.
    pub const SWEEP_RETENTION_HOURS: &str = "SWEEP_RETENTION_HOURS";
    /// Secret bearer token of the admin API.
    pub const ADMIN_TOKEN: &str = "ADMIN_TOKEN";
}
