//! `cargo xtask`: everything a developer or CI does beyond `cargo build` / `cargo test`.
//!
//! Map of the modules:
//! - [`setup`]: installs the wasm toolchain pieces and npm packages into `.tools/` and
//!   `node_modules/`, and the headless browser of the dashboard test, idempotently.
//! - [`workers`]: the table of Worker crates and their builds with worker-build.
//! - [`stack`]: one `wrangler dev` session running every Worker on local workerd; shared by
//!   `dev` and `test`.
//! - [`dev`]: the local run with its cron clock.
//! - [`dev_vars`]: the local `.dev.vars` and its (strong, public) admin token.
//! - [`tiers`]: `test`, the host, config, build, dry-run and end-to-end tiers with a timing
//!   summary.
//! - [`bench`]: `bench [--quick] [--only PARTS]`, the benchmarks and BENCHMARKS.md.
//! - [`check_config`]: `check-config`, the configuration check of `code24-config-check`.
//! - [`deploy`]: `deploy --env X [--dry-run]`: per-environment provisioning and deploys.
//! - [`canary`]: `canary --env X`: the smoke check of a running environment that ends every
//!   live deploy.
//! - [`cmd`]: running child commands, timing, formatting.
//! - [`interrupt`]: Ctrl-C and SIGTERM as a flag, so a running stack is always stopped.
//! - [`restart`]: restarts of the local stack on request of an end-to-end test.
//! - [`soak`]: `soak [--minutes N]`, new seeds of the fault matrix for as long as given.

mod bench;
mod canary;
mod check_config;
mod cmd;
mod deploy;
mod dev;
mod dev_vars;
mod interrupt;
mod restart;
mod setup;
mod soak;
mod stack;
mod tiers;
mod workers;

use std::path::PathBuf;
use std::process::ExitCode;

use code24_shared::schedule::SCHEDULES;

/// Every failure of a task is reported as one readable message; the tasks print their own
/// progress, so no error type needs more structure than this.
pub(crate) type Result<T, E = String> = std::result::Result<T, E>;

const HELP: &str = "\
cargo xtask: developer and CI tasks of the Code24 Workers.

USAGE:
    cargo xtask <COMMAND> [OPTIONS]
    cargo xtask help

COMMANDS:
    setup
        Install what this machine lacks, into the git-ignored project folders only:
        the wasm32-unknown-unknown target (rustup), worker-build (same version as the
        `worker` crate in Cargo.lock) and wasm-bindgen-cli (exactly the wasm-bindgen
        version in Cargo.lock) into .tools/cargo, and `npm ci` when node_modules is
        missing or older than package-lock.json; and Debian's `chromium` and
        `chromium-driver` (for the dashboard's browser test) with apt-get, as root or
        through sudo, when /usr/bin/chromium or /usr/bin/chromedriver is missing. Each
        step is skipped when already satisfied; the step times are printed.

    build [--worker NAME]
        Build every Worker bundle (or only NAME) with `worker-build --release --no-opt`,
        using .tools/cargo/bin/wasm-bindgen and node_modules/.bin/esbuild. Prints time and
        output sizes per Worker. Needs `setup` first.
        Workers: {WORKERS}

    dev [--port N] [--no-build]
        Run the whole pipeline locally: setup, build, apply the D1 migrations to .state/,
        load seed/demo.sql when present, write .dev.vars (ADMIN_TOKEN=local-Dev-Token-...) where
        absent, then start one `wrangler dev` with every Worker on 127.0.0.1:N (default
        8787), persisting to .state/. Fires the most recent slot of every schedule at once
        (a sweep, a health check, last month's analytics and end-of-month reports), then
        runs a local cron clock: at every minute boundary each schedule whose cron matches
        fires through /cdn-cgi/handler/scheduled with that minute as its time, and each
        run's progress is printed until it completes. Ctrl-C stops everything.
        Schedules: {SCHEDULES}

    test [--host-only | --e2e-only] [-- TEST_ARGS...]
        CI entry point, in tiers: setup; config (`check-config`); host tier (`cargo fmt
        --all -- --check`; `cargo clippy --workspace --all-targets -- -D warnings`, then the
        same clippy for wasm32-unknown-unknown over every Worker crate and code24-runtime;
        then `cargo test --workspace`: unit, simulation and configuration tests); build of
        every Worker;
        dry-run (`deploy --dry-run` of dev, staging and production from those bundles,
        offline); end-to-end tier: a fresh stack with an empty state dir
        (target/e2e-state-<pid>) on a free port, migrations without demo data, the SQL
        fixtures of tests/fixtures/ (bulk data some e2e tests need), then
        `cargo test -p code24-tests -- --ignored --test-threads=1 TEST_ARGS` with
        CODE24_E2E_URL and CODE24_E2E_TOKEN set (and CODE24_E2E_CONTROL: a test may ask
        for the stack to be killed and restarted on the same state; see
        xtask/src/restart.rs); then the canary (see `canary`) against the same stack,
        its figures read from the stack's log. The stack is always stopped; on failure
        the tail of wrangler's log is printed. Exits non-zero on any failure and prints a
        summary with per-tier timings.
        --host-only skips the build, dry-run and end-to-end tiers; --e2e-only skips the
        config and host tiers.

    check-config
        The configuration check, offline: every Worker's wrangler.toml in every environment
        (local top level, [env.dev], [env.staging], [env.production]) against the binding
        table (config-check/src/workers.rs), shared/src/names.rs and the schedule table:
        bindings present and naming that environment's resources, queue producers and
        consumers agreeing, dead-letter queues, explicit consumer settings, MAX_ATTEMPTS <
        max_retries, crons, Durable Object script_names, vars, no secret in vars, the
        stand-in absent from deployed environments; and the table against the Workers'
        code. Each problem names the Worker, the environment and the binding.

    deploy --env <dev|staging|production> [--dry-run] [--url URL] [--skip-canary]
        Runs the configuration check and builds every deployed Worker, in deploy order:
        {DEPLOYED}.
        --dry-run: `wrangler deploy --dry-run --env ENV --outdir
        target/deploy-dry-run/ENV/WORKER` for each, offline, and prints each bundle's size
        (raw and gzipped) against Cloudflare's limits (3 MiB gzipped on the Workers Free
        plan, 10 MiB on Paid).
        Without --dry-run: needs `npx wrangler login` (or CLOUDFLARE_API_TOKEN); checks the
        real elite workers exist; creates missing queues, R2 bucket and D1 database
        (writing the new database_id into the tomls: commit it) and applies the D1
        migrations remotely; sets every queue's message retention to the
        QUEUE_RETENTION_SECONDS its consumer declares (`wrangler queues create/update
        --message-retention-period-secs`); applies the results bucket's lifecycle rule
        (`optimizations/` expires after the optimizer's OPTIMIZATIONS_RETENTION_DAYS,
        `wrangler r2 bucket lifecycle`); deploys in that order; lists secrets still to
        set (`npx wrangler secret put ADMIN_TOKEN --env ENV`); then runs the canary (below)
        against the dispatcher at --url (or CODE24_API_URL) with CODE24_API_TOKEN, unless
        --skip-canary. See docs/DEPLOY.md.

    canary --env <local|dev|staging|production> [--url URL] [--log FILE]
        The smoke check of a running environment through its admin API: /health; registers
        the canary sites (canary-1..3, inactive: no sweep, report or health check sees
        them); POST /api/canary starts one optimization run over them alone; follows it
        (GET /api/sweeps/ID, up to 180 s) and reads each result back (GET /api/results);
        prints the invocations' per-invocation figures (subrequests, service-binding calls)
        from the logs where available (--log FILE, e.g. the local stack's wrangler log;
        `wrangler tail` of the optimizer when deployed; a logged limit overrun fails
        it); then a verdict, PASS or FAILED with what failed (exit status non-zero). URL: --url, else CODE24_API_URL, else
        (local) http://127.0.0.1:8787. Token: CODE24_API_TOKEN, else (local) .dev.vars.
        The e2e tier of `test` runs it against its local stack.

    bench [--quick] [--only PARTS]
        The benchmarks of BENCHMARKS.md, on this machine; one JSON line per figure, then
        BENCHMARKS.md (machine, date, command, each figure against its target; the notes
        after its table are kept). Builds every Worker and the bench's bare Workers
        (bench/, never deployed), then: bundle sizes (raw and gzipped wasm + JS); a native
        sweep of 100,000 and 1,000,000 sites through the core's in-memory twins
        (bench/native), whose counts give the ledger requests per batch and per site, the
        operations per site per sweep and the monthly cost at 1k/10k/100k sites
        (docs/PRICES.md); the capacity table (part `capacity`, computed, not timed, also in
        --quick): each invocation kind (producer firing, optimizer batch, reports batch,
        finalize, end-of-month, ledger alarm) at 1k/10k/100k/1M sites, every counted figure
        against its Cloudflare limit, one JSON line each; on local workerd, one fresh stack at a
        time on a free port: the ledger's rows written per site-sweep as workerd counts them,
        the stores' sizes and the monthly cost against the R2 + Queues floor (parts `rows`,
        `storage`, `cost`, also in --quick: sweeps of 2,000 sites, 200 in --quick); the
        dispatcher's fan-out (pacing off; the time each side logs for its sends) of 1,000,
        10,000 and 20,000 sites against the bare producer, and the paced rate achieved; a
        10,000-site sweep (firing to the ledger's `complete`) against the bare consumer (both
        taking batches of 8), each side alternately in the same session, median and spread of
        the paired ratios. About 20 minutes; the state dirs (target/bench-state-*) are removed
        unless a stack failed.
        --quick: small sizes and single runs (CI); writes target/bench-quick.md instead of
        BENCHMARKS.md.
        --only PARTS: a comma-separated subset of bundles,native,storage,cost,capacity,fanout,sweep (while
        profiling); also writes target/bench-quick.md, never BENCHMARKS.md. Environment:
        CODE24_BENCH_KEEP_STATE=1 keeps each stack's state and wrangler log;
        CODE24_BENCH_SWEEP_SITES=N sizes the sweep comparison.

    soak [--minutes N] [--batch N]
        Explore new seeds of the fault matrix (shared/tests/fault_matrix.rs) for N minutes
        (default 10): CI runs seeds 1..=10,000 on every run; the soak starts at a random seed
        above them and runs batches of N consecutive seeds (default 5,000) through the
        matrix's own test. Each failing seed is printed with the command that replays it
        (`SIM_SEED=S cargo test -p code24-shared --test fault_matrix`); exits non-zero if any
        failed. Ctrl-C ends it after the running batch.

    help, --help, -h
        This text.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("\nxtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let Some((command, rest)) = args.split_first() else {
        print_help();
        return Err("no command given".into());
    };
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        print_help();
        return Ok(());
    }
    let root = workspace_root();
    match command.as_str() {
        "help" | "--help" | "-h" => {
            print_help();
            Ok(())
        }
        "setup" => {
            no_more_args(rest)?;
            setup::run(&root)
        }
        "build" => {
            let mut flags = Flags::new(rest);
            let only = flags.value("--worker")?;
            flags.finish()?;
            workers::build(&root, only.as_deref())
        }
        "dev" => {
            let mut flags = Flags::new(rest);
            let port = match flags.value("--port")? {
                Some(raw) => raw.parse().map_err(|_| format!("--port: not a port number: {raw}"))?,
                None => dev::DEFAULT_PORT,
            };
            let build = !flags.switch("--no-build");
            flags.finish()?;
            dev::run(&root, dev::Options { port, build })
        }
        "test" => {
            let (own, passthrough) = match rest.iter().position(|a| a == "--") {
                Some(i) => (&rest[..i], rest[i + 1..].to_vec()),
                None => (rest, Vec::new()),
            };
            let mut flags = Flags::new(own);
            let host_only = flags.switch("--host-only");
            let e2e_only = flags.switch("--e2e-only");
            flags.finish()?;
            if host_only && e2e_only {
                return Err("--host-only and --e2e-only exclude each other".into());
            }
            tiers::run(&root, tiers::Options { host: !e2e_only, build_and_e2e: !host_only, e2e_args: passthrough })
        }
        "bench" => {
            let mut flags = Flags::new(rest);
            let quick = flags.switch("--quick");
            let only = flags.value("--only")?.map(|v| v.split(',').map(str::to_owned).collect()).unwrap_or_default();
            flags.finish()?;
            bench::run(&root, &bench::Options { quick, only })
        }
        "soak" => {
            let mut flags = Flags::new(rest);
            let number = |raw: Option<String>, name: &str, default: u64| -> Result<u64> {
                raw.map_or(Ok(default), |r| r.parse().ok().filter(|n| *n > 0).ok_or_else(|| format!("{name}: not a positive number: {r}")))
            };
            let minutes = number(flags.value("--minutes")?, "--minutes", soak::Options::DEFAULT_MINUTES)?;
            let batch = number(flags.value("--batch")?, "--batch", soak::Options::DEFAULT_BATCH)?;
            flags.finish()?;
            soak::run(&root, &soak::Options { minutes, batch })
        }
        "check-config" => {
            no_more_args(rest)?;
            check_config::run(&root)
        }
        "deploy" => {
            let mut flags = Flags::new(rest);
            let env = flags.value("--env")?.ok_or("deploy needs --env <dev|staging|production>")?;
            let dry_run = flags.switch("--dry-run");
            let url = flags.value("--url")?;
            let canary = !flags.switch("--skip-canary");
            flags.finish()?;
            deploy::run(&root, deploy::Options { env: deploy::parse_env(&env)?, dry_run, url, canary })
        }
        "canary" => {
            let mut flags = Flags::new(rest);
            let raw = flags.value("--env")?.ok_or("canary needs --env <local|dev|staging|production>")?;
            let url = flags.value("--url")?;
            let log = flags.value("--log")?.map(PathBuf::from);
            flags.finish()?;
            let env = code24_shared::names::Environment::parse(&raw).ok_or_else(|| format!("--env {raw}: not an environment"))?;
            canary::run(&root, &canary::target(&root, env, url, log)?)
        }
        other => {
            print_help();
            Err(format!("unknown command `{other}`"))
        }
    }
}

fn print_help() {
    let workers: Vec<&str> = workers::WORKERS.iter().map(|w| w.name).collect();
    let schedules: Vec<String> = SCHEDULES.iter().map(|s| format!("`{}` ({})", s.cron, s.task)).collect();
    let deployed: Vec<&str> = code24_config_check::workers::deployed().map(|w| w.name).collect();
    print!(
        "{}",
        HELP.replace("{WORKERS}", &workers.join(", "))
            .replace("{SCHEDULES}", &schedules.join(", "))
            .replace("{DEPLOYED}", &deployed.join(", "))
    );
}

/// The workspace root: xtask lives one level below it, and every path the tasks use is
/// relative to it, whatever directory `cargo xtask` was started from.
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map(PathBuf::from).unwrap_or(manifest_dir)
}

fn no_more_args(rest: &[String]) -> Result<()> {
    Flags::new(rest).finish()
}

/// A hand-rolled flag parser: the few options here do not justify a dependency.
struct Flags {
    /// Arguments not consumed yet; whatever remains at `finish` is an error.
    rest: Vec<String>,
}

impl Flags {
    fn new(args: &[String]) -> Self {
        Self { rest: args.to_vec() }
    }

    /// `--name VALUE` or `--name=VALUE`.
    fn value(&mut self, name: &str) -> Result<Option<String>> {
        let prefix = format!("{name}=");
        if let Some(i) = self.rest.iter().position(|a| a.starts_with(&prefix)) {
            let arg = self.rest.remove(i);
            return Ok(Some(arg[prefix.len()..].to_string()));
        }
        let Some(i) = self.rest.iter().position(|a| a == name) else {
            return Ok(None);
        };
        if i + 1 >= self.rest.len() {
            return Err(format!("{name} needs a value"));
        }
        let value = self.rest.remove(i + 1);
        self.rest.remove(i);
        Ok(Some(value))
    }

    fn switch(&mut self, name: &str) -> bool {
        let before = self.rest.len();
        self.rest.retain(|a| a != name);
        self.rest.len() != before
    }

    fn finish(self) -> Result<()> {
        match self.rest.first() {
            None => Ok(()),
            Some(arg) => Err(format!("unexpected argument `{arg}` (see `cargo xtask --help`)")),
        }
    }
}
