//! `cargo xtask deploy --env <dev|staging|production> [--dry-run]`.
//!
//! Both paths first run the configuration check (nothing is built or changed while a config
//! is wrong) and build every deployed Worker; the Workers have no `[build]` section, so wrangler
//! never builds them itself. Then:
//! - [`dry_run`]: `wrangler deploy --dry-run` of every deployed Worker, offline, and each
//!   bundle's size against Cloudflare's limits.
//! - [`live`]: login check, pre-flight, provisioning of what is missing (queues with their
//!   declared retention, R2 bucket and its lifecycle rule ([`lifecycle`]), D1 database and its
//!   migrations), the deploys, then which
//!   secrets still need setting; then the canary (`crate::canary`) unless `--skip-canary`.
//!
//! Deploy order is the order of `code24_config_check::workers::WORKERS`: the ledger (it hosts
//! the Durable Object the others bind by `script_name`), the dead-letters consumer, the
//! optimizer, the reports consumer, the dispatcher. The elite stand-in is never deployed.

mod database_id;
mod dry_run;
mod lifecycle;
mod live;
mod queues;
mod secrets;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use code24_config_check::workers::{self as table, WorkerSpec};
use code24_shared::names::{Environment, DEPLOYED_ENVIRONMENTS};

use crate::setup::{self, Tools};
use crate::{check_config, cmd, workers, Result};

pub(crate) use dry_run::run as dry_run;

#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) env: Environment,
    pub(crate) dry_run: bool,
    /// The dispatcher's URL for the canary that ends a live deploy (else `CODE24_API_URL`).
    pub(crate) url: Option<String>,
    /// Whether a live deploy ends with the canary (`--skip-canary` turns it off).
    pub(crate) canary: bool,
}

/// Parses `--env`: a deployed environment only.
pub(crate) fn parse_env(raw: &str) -> Result<Environment> {
    match Environment::parse(raw) {
        Some(Environment::Local) => Err("--env local: the local configuration is not deployed; run it with `cargo xtask dev`".into()),
        Some(env) => Ok(env),
        None => {
            let known: Vec<&str> = DEPLOYED_ENVIRONMENTS.iter().map(|e| e.as_str()).collect();
            Err(format!("--env {raw}: not an environment; one of {}", known.join(", ")))
        }
    }
}

pub(crate) fn run(root: &Path, options: Options) -> Result<()> {
    setup::run(root)?;
    let tools = Tools::at(root);
    println!("deploy: configuration check ...");
    check_config::require(root)?;
    println!("deploy: configuration check: ok, every Worker in every environment");
    let build = || {
        let selected = table::deployed().map(build_target).collect::<Result<Vec<_>>>()?;
        workers::build_selected(root, selected)
    };
    if options.dry_run {
        build()?;
        dry_run::run(root, &tools, options.env)
    } else {
        let wrangler = Wrangler::new(&tools.wrangler, root);
        live::run(root, &wrangler, options.env, &secrets::Given::from_process(), build)?;
        after_deploy(root, &options)
    }
}

/// The smoke check that ends a live deploy (`crate::canary`): the environment is deployed
/// whatever it says, so a failure names the command that runs it again.
fn after_deploy(root: &Path, options: &Options) -> Result<()> {
    let e = options.env.as_str();
    if !options.canary {
        println!("deploy: canary skipped (--skip-canary); run it with `cargo xtask canary --env {e}`");
        return Ok(());
    }
    println!("\ndeploy: canary of {e} ...");
    let target = crate::canary::target(root, options.env, options.url.clone(), None)
        .map_err(|why| format!("{e} is deployed, but the canary could not start: {why}; then run `cargo xtask canary --env {e}`"))?;
    crate::canary::run(root, &target).map_err(|why| format!("{e} is deployed, but {why} (rerun: `cargo xtask canary --env {e}`)"))
}

/// The xtask build row of a deployed Worker (same config file).
pub(crate) fn build_target(spec: &WorkerSpec) -> Result<&'static workers::Worker> {
    workers::WORKERS
        .iter()
        .find(|w| w.config == spec.config)
        .ok_or_else(|| format!("{} ({}) has no build row in xtask/src/workers.rs", spec.name, spec.config))
}

/// The pinned wrangler, run from the repository root (where every `-c` path is relative to).
pub(crate) struct Wrangler {
    program: PathBuf,
    root: PathBuf,
}

impl Wrangler {
    pub(crate) fn new(program: &Path, root: &Path) -> Self {
        Self { program: program.to_path_buf(), root: root.to_path_buf() }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        command.current_dir(&self.root).args(args).env("WRANGLER_SEND_METRICS", "false");
        command
    }

    /// Runs with the terminal attached (wrangler's own output and any confirmation prompt are
    /// the operator's to see); fails naming `what`.
    pub(crate) fn run(&self, args: &[&str], what: &str) -> Result<()> {
        cmd::run(&mut self.command(args), what)
    }

    /// Runs with `input` on stdin (a secret's value: never on the command line) and the output
    /// attached; fails naming `what`. A program that exits without reading its input is judged
    /// by its exit status alone.
    pub(crate) fn run_with_input(&self, args: &[&str], input: &str, what: &str) -> Result<()> {
        use std::io::Write;
        let mut command = self.command(args);
        println!("$ {}", cmd::display(&command));
        let mut child =
            command.stdin(Stdio::piped()).spawn().map_err(|e| format!("{what}: cannot start {}: {e}", self.program.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input.as_bytes());
        }
        let status = child.wait().map_err(|e| format!("{what}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{what} failed ({status})"))
        }
    }

    /// Runs with the output captured, for probes and JSON answers; only a failure to start is
    /// an error (the caller reads the exit status).
    pub(crate) fn output(&self, args: &[&str]) -> Result<Output> {
        self.command(args).stdin(Stdio::null()).output().map_err(|e| format!("cannot start {}: {e}", self.program.display()))
    }
}

/// The last `lines` lines of a command's stdout and stderr, for error messages.
pub(crate) fn output_tail(output: &Output, lines: usize) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_deployed_environments_are_accepted() {
        assert_eq!(parse_env("staging"), Ok(Environment::Staging));
        assert!(parse_env("local").unwrap_err().contains("cargo xtask dev"));
        assert!(parse_env("prod").unwrap_err().contains("dev, staging, production"));
    }

    /// Architecture invariant: the check's table and the build table name the same Workers, so
    /// everything the check covers is built and deployed, and nothing else.
    #[test]
    fn the_check_and_the_build_tables_agree() {
        for spec in table::WORKERS {
            build_target(spec).unwrap();
        }
        for worker in workers::WORKERS {
            assert!(table::WORKERS.iter().any(|s| s.config == worker.config), "{} is not in the check's table", worker.config);
        }
    }
}
