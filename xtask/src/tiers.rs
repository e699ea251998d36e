//! `cargo xtask test`: the test tiers, in order, with a timing summary.
//!
//! 1. setup: whatever the machine lacks.
//! 2. config: `check-config`, every toml in every environment (fast, and first, because a
//!    config problem explains many later failures).
//! 3. host: `cargo fmt --all -- --check` (formatting is kept by the machine, against
//!    `rustfmt.toml`); clippy with `-D warnings`, over the host workspace (all targets) and over
//!    the wasm32 build of the Worker crates and the runtime; then `cargo test --workspace` (unit
//!    tests of the core, the deterministic simulation, tidy checks, the configuration tests;
//!    the Worker crates compile natively too, so their unit tests run here).
//! 4. build: every Worker bundle.
//! 5. dry-run: `deploy --dry-run` of every deployed environment from those bundles, offline:
//!    wrangler validates each environment's config and the bundle sizes are checked.
//! 6. e2e: a fresh local stack (empty state, free port, migrations but no demo data) and
//!    `cargo test -p code24-tests -- --ignored --test-threads=1` against it. A test may ask
//!    for the stack to be killed and started again on the same state ([`restart`]). Then the
//!    post-deploy canary ([`canary`]) against the same stack, its figures read from the
//!    stack's log.
//!
//! The first failing tier ends the run; the summary is printed either way.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use code24_shared::names::{Environment, DEPLOYED_ENVIRONMENTS};

use crate::bench;
use crate::canary;
use crate::interrupt;
use crate::restart;
use crate::setup::{self, Tools};
use crate::stack::{self, Stack};
use crate::workers;
use crate::{check_config, cmd, deploy, Result};

/// The crate holding the end-to-end tests (as `#[ignore]`d tests, so the host tier skips them).
const E2E_PACKAGE: &str = "code24-tests";

/// The Workers-runtime adapters: a library, not a Worker, linted for wasm32 with the Workers.
const RUNTIME_PACKAGE: &str = "code24-runtime";

#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) host: bool,
    pub(crate) build_and_e2e: bool,
    /// Extra arguments for the end-to-end test binary (e.g. a test name filter).
    pub(crate) e2e_args: Vec<String>,
}

/// One finished (or failed) tier for the summary.
struct Row {
    tier: &'static str,
    took: Duration,
    ok: bool,
}

pub(crate) fn run(root: &Path, options: Options) -> Result<()> {
    let mut rows: Vec<Row> = Vec::new();
    let mut tier = |name: &'static str, work: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        println!("\n==== test tier: {name} ====");
        let (outcome, took) = cmd::timed(work);
        rows.push(Row { tier: name, took, ok: outcome.is_ok() });
        outcome.map_err(|e| format!("tier `{name}` failed: {e}"))
    };

    let outcome = (|| {
        tier("setup", &mut || setup::run(root))?;
        if options.host {
            tier("config", &mut || check_config::run(root))?;
            tier("host", &mut || host(root))?;
        }
        if options.build_and_e2e {
            tier("build", &mut || workers::build(root, None))?;
            tier("dry-run", &mut || DEPLOYED_ENVIRONMENTS.iter().try_for_each(|env| deploy::dry_run(root, &Tools::at(root), *env)))?;
            tier("e2e", &mut || e2e(root, &options.e2e_args))?;
        }
        Ok(())
    })();

    println!("\n==== test summary ====");
    for row in &rows {
        let mark = if row.ok { "ok  " } else { "FAIL" };
        println!("  {mark} {:<7} {:>8}", row.tier, cmd::duration(row.took));
    }
    let total: Duration = rows.iter().map(|r| r.took).sum();
    println!("  total        {:>8}", cmd::duration(total));
    outcome
}

/// The host tier. Formatting is checked first: it takes a second and fails with the one
/// command that fixes it, before minutes of compiling. `worker` 0.8.7 compiles for the host
/// (its JS imports become stubs that panic when called), so the Worker crates need no
/// exclusion: their pure unit tests run here. The `#[ignore]`d end-to-end tests are skipped.
fn host(root: &Path) -> Result<()> {
    let mut fmt = Command::new("cargo");
    fmt.current_dir(root).args(["fmt", "--all", "--", "--check"]);
    cmd::run(&mut fmt, "cargo fmt --check")
        .map_err(|e| format!("{e}: the diff above is what rustfmt would change; run cargo fmt --all and commit the result"))?;
    lint(root)?;
    let mut command = Command::new("cargo");
    command.current_dir(root).args(["test", "--workspace"]);
    cmd::run(&mut command, "cargo test (host tier)")
}

/// Clippy with every warning an error, twice: over the host workspace with all targets (tests
/// and benches included), and over the wasm32 build of every Worker crate (deployed and bench)
/// and the runtime, whose `cfg(target_arch = "wasm32")` code the host build never compiles.
/// Both only check, so they cost far less than the test build that follows.
fn lint(root: &Path) -> Result<()> {
    let advice = "fix the warnings above; an #[allow(clippy::...)] only where the lint is wrong for that spot, with a comment saying why";
    let mut host = Command::new("cargo");
    host.current_dir(root).args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]);
    cmd::run(&mut host, "cargo clippy (host workspace)").map_err(|e| format!("{e}: {advice}"))?;
    let mut wasm = Command::new("cargo");
    wasm.current_dir(root).args(["clippy", "--target", "wasm32-unknown-unknown", "-p", RUNTIME_PACKAGE]);
    for worker in workers::WORKERS.iter().chain(bench::BENCH_WORKERS) {
        wasm.args(["-p", &package_name(root, worker.crate_dir)?]);
    }
    wasm.args(["--", "-D", "warnings"]);
    cmd::run(&mut wasm, "cargo clippy (wasm32 Workers)").map_err(|e| format!("{e}: {advice}"))
}

/// The package name of the crate in `crate_dir`: the first `name = "..."` line of its
/// manifest, which in this workspace is always the `[package]` table's. Read from the
/// manifest so the Worker tables stay the only list of Worker crates.
fn package_name(root: &Path, crate_dir: &str) -> Result<String> {
    let manifest = root.join(crate_dir).join("Cargo.toml");
    let text = fs::read_to_string(&manifest).map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    text.lines()
        .find_map(|line| Some(line.trim().strip_prefix("name")?.trim_start().strip_prefix('=')?.trim().trim_matches('"').to_owned()))
        .ok_or_else(|| format!("{}: no package name", manifest.display()))
}

/// The SQL fixtures of the end-to-end tier (`tests/fixtures/*.sql`, in name order): data a
/// test needs in bulk that no API would load in reasonable time (say, the 10,000 sections of a
/// report larger than an R2 part), loaded into the fresh local D1 before the stack starts.
fn fixtures(root: &Path) -> Result<Vec<std::path::PathBuf>> {
    let dir = root.join("tests/fixtures");
    let entries = fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<std::path::PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "sql")).collect();
    files.sort();
    Ok(files)
}

/// The end-to-end tier on a fresh stack; the stack is stopped whatever happens.
fn e2e(root: &Path, extra_args: &[String]) -> Result<()> {
    let tools = Tools::at(root);
    let state_dir = root.join(format!("target/e2e-state-{}", std::process::id()));
    if state_dir.exists() {
        fs::remove_dir_all(&state_dir).map_err(|e| format!("cannot clear {}: {e}", state_dir.display()))?;
    }
    stack::apply_migrations(root, &tools, &state_dir)?;
    for fixture in fixtures(root)? {
        stack::execute_sql(root, &tools, &state_dir, &fixture)?;
    }
    let token = crate::dev_vars::ensure(root)?;
    let interrupt = interrupt::install()?;
    let port = stack::free_port()?;
    // Launch 0 is the tier's own; later ones are restarts a test asked for (same port, same
    // persisted state, a log of their own).
    let launch = |n: u32| {
        let log = if n == 0 { "wrangler.log".to_owned() } else { format!("wrangler-restart-{n}.log") };
        Stack::start(
            root,
            &tools,
            &stack::Options {
                log_path: state_dir.join(log),
                persist_dir: state_dir.clone(),
                port,
                inspector_port: Some(stack::free_port()?),
                echo: false,
            },
        )
    };
    let mut stack = launch(0)?;

    let outcome = (|| {
        let ready_in = stack.wait_ready(&interrupt)?;
        println!("e2e: stack answers on {} after {}", stack.base_url(), cmd::duration(ready_in));
        let mut command = Command::new("cargo");
        command
            .current_dir(root)
            .args(["test", "-p", E2E_PACKAGE, "--", "--ignored", "--test-threads=1"])
            .args(extra_args)
            .env("CODE24_E2E_URL", stack.base_url())
            .env("CODE24_E2E_TOKEN", &token)
            .env("CODE24_E2E_LOG_DIR", &state_dir);
        let control = state_dir.join("control");
        restart::run_serving_restarts(&mut command, "cargo test (end-to-end tier)", &mut stack, &control, &interrupt, &launch)?;
        if interrupt.requested() {
            return Err("interrupted".to_string());
        }
        // The post-deploy canary, exactly as a deploy runs it, against this stack.
        let target = canary::Target {
            env: Environment::Local,
            url: stack.base_url().to_owned(),
            token: token.clone(),
            logs: canary::Logs::File(stack.log_path.clone()),
        };
        canary::run(root, &target)
    })();

    stack.stop();
    match outcome {
        Ok(()) => {
            let _ = fs::remove_dir_all(&state_dir);
            Ok(())
        }
        Err(e) => {
            println!("\n--- wrangler log (tail; full log and state kept in {}) ---", cmd::rel(root, &state_dir));
            println!("{}\n--- end of wrangler log ---", stack.log_tail(60));
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wasm32 lint names each Worker crate by the package name in its manifest.
    #[test]
    fn every_worker_crate_has_a_package_name() {
        let root = crate::workspace_root();
        assert_eq!(package_name(&root, "consumers/optimizer").unwrap(), "code24-optimizer");
        for worker in workers::WORKERS.iter().chain(bench::BENCH_WORKERS) {
            let name = package_name(&root, worker.crate_dir).unwrap();
            assert!(name.starts_with("code24-"), "{}: {name}", worker.crate_dir);
        }
    }
}
