//! `cargo xtask`: everything a developer or CI does beyond `cargo build` / `cargo test`.
//!
//! Map of the modules:
//! - [`setup`]: installs the wasm toolchain pieces and npm packages into `.tools/` and
//!   `node_modules/`, idempotently.
//! - [`workers`]: the table of Worker crates and their builds with worker-build.
//! - [`stack`]: one `wrangler dev` session running every Worker on local workerd; shared by
//!   `dev` and `test`.
//! - [`dev`]: the local run with its cron clock.
//! - [`tiers`]: `test`, the host, build and end-to-end tiers with a timing summary.
//! - [`cmd`]: running child commands, timing, formatting.
//! - [`interrupt`]: Ctrl-C and SIGTERM as a flag, so a running stack is always stopped.

mod cmd;
mod dev;
mod interrupt;
mod setup;
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
        missing or older than package-lock.json. Each step is skipped when already
        satisfied; the step times are printed.

    build [--worker NAME]
        Build every Worker bundle (or only NAME) with `worker-build --release --no-opt`,
        using .tools/cargo/bin/wasm-bindgen and node_modules/.bin/esbuild. Prints time and
        output sizes per Worker. Needs `setup` first.
        Workers: {WORKERS}

    dev [--port N] [--no-build]
        Run the whole pipeline locally: setup, build, apply the D1 migrations to .state/,
        load seed/demo.sql when present, write .dev.vars (ADMIN_TOKEN=dev-token) where
        absent, then start one `wrangler dev` with every Worker on 127.0.0.1:N (default
        8787), persisting to .state/. Fires one optimize sweep at once, then runs a local
        cron clock: at every minute boundary each schedule whose cron matches fires through
        /cdn-cgi/handler/scheduled with that minute as its time. Ctrl-C stops everything.
        Schedules: {SCHEDULES}

    test [--host-only | --e2e-only] [-- TEST_ARGS...]
        CI entry point, in tiers: setup; host tier (`cargo test --workspace`, unit and
        simulation tests); build of every Worker; end-to-end tier: a fresh stack with an
        empty state dir (target/e2e-state-<pid>) on a free port, migrations without demo
        data, then `cargo test -p code24-tests -- --ignored --test-threads=1 TEST_ARGS`
        with CODE24_E2E_URL and CODE24_E2E_TOKEN set. The stack is always stopped; on
        failure the tail of wrangler's log is printed. Exits non-zero on any failure and
        prints a summary with per-tier timings.
        --host-only skips the build and end-to-end tiers; --e2e-only skips the host tier.

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
                Some(raw) => raw
                    .parse()
                    .map_err(|_| format!("--port: not a port number: {raw}"))?,
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
            tiers::run(
                &root,
                tiers::Options {
                    host: !e2e_only,
                    build_and_e2e: !host_only,
                    e2e_args: passthrough,
                },
            )
        }
        other => {
            print_help();
            Err(format!("unknown command `{other}`"))
        }
    }
}

fn print_help() {
    let workers: Vec<&str> = workers::WORKERS.iter().map(|w| w.name).collect();
    let schedules: Vec<String> = SCHEDULES
        .iter()
        .map(|s| format!("`{}` ({})", s.cron, s.task))
        .collect();
    print!(
        "{}",
        HELP.replace("{WORKERS}", &workers.join(", "))
            .replace("{SCHEDULES}", &schedules.join(", "))
    );
}

/// The workspace root: xtask lives one level below it, and every path the tasks use is
/// relative to it, whatever directory `cargo xtask` was started from.
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
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
        Self {
            rest: args.to_vec(),
        }
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
            Some(arg) => Err(format!(
                "unexpected argument `{arg}` (see `cargo xtask --help`)"
            )),
        }
    }
}
