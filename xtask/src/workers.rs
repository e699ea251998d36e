//! The Worker crates, in one table, and their builds with worker-build.
//!
//! Adding a Worker is one row in [`WORKERS`]: `build`, `dev` and the end-to-end tier all read
//! this table. The order matters: the first row's config is the entry Worker of `wrangler dev`,
//! served on the stack's port.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::cmd;
use crate::setup::Tools;
use crate::Result;

/// One Worker crate.
#[derive(Debug)]
pub(crate) struct Worker {
    /// Short name for `--worker` and the progress output.
    pub(crate) name: &'static str,
    /// The crate directory, relative to the workspace root; worker-build writes its bundle to
    /// `build/` here, where the config's `main` points.
    pub(crate) crate_dir: &'static str,
    /// The wrangler config of this Worker, relative to the workspace root.
    pub(crate) config: &'static str,
    /// Whether the Worker reads the admin token from a `.dev.vars` beside its config.
    pub(crate) admin_token: bool,
}

/// Every Worker of the local configuration; the dispatcher comes first (see module docs).
#[rustfmt::skip]
pub(crate) const WORKERS: &[Worker] = &[
    Worker { name: "producer",      crate_dir: "producer",               config: "wrangler.toml",                        admin_token: true },
    Worker { name: "ledger",        crate_dir: "ledger",                 config: "ledger/wrangler.toml",                 admin_token: false },
    Worker { name: "optimizer",     crate_dir: "consumers/optimizer",    config: "consumers/optimizer/wrangler.toml",    admin_token: false },
    Worker { name: "reports",       crate_dir: "consumers/reports",      config: "consumers/reports/wrangler.toml",      admin_token: false },
    Worker { name: "dead-letters",  crate_dir: "consumers/dead-letters", config: "consumers/dead-letters/wrangler.toml", admin_token: false },
    Worker { name: "elite-standin", crate_dir: "elite-standin",          config: "elite-standin/wrangler.toml",          admin_token: false },
];

/// The files worker-build writes into `<crate>/build/` that make up the deployed bundle.
const OUTPUTS: &[&str] = &["index.js", "index_bg.wasm"];

/// Builds every Worker, or only the one named `only`.
pub(crate) fn build(root: &Path, only: Option<&str>) -> Result<()> {
    let selected: Vec<&Worker> = match only {
        None => WORKERS.iter().collect(),
        Some(name) => vec![find(name)?],
    };
    build_selected(root, selected)
}

/// Builds the given Workers, in order.
pub(crate) fn build_selected(root: &Path, selected: Vec<&Worker>) -> Result<()> {
    let tools = Tools::at(root);
    tools.check()?;
    let mut rows = Vec::new();
    for worker in selected {
        println!("build: {} ({}) ...", worker.name, worker.crate_dir);
        let (outcome, took) = cmd::timed(|| build_one(root, &tools, worker));
        let sizes = outcome
            .map_err(|e| format!("build of Worker `{}` ({}) failed after {}: {e}", worker.name, worker.crate_dir, cmd::duration(took)))?;
        let line = format!("{:<14} {:>7}   {sizes}", worker.name, cmd::duration(took));
        println!("build: {line}");
        rows.push(line);
    }
    println!("build: done\n  {}", rows.join("\n  "));
    Ok(())
}

/// Runs worker-build in the crate directory and returns a description of the output sizes.
fn build_one(root: &Path, tools: &Tools, worker: &Worker) -> Result<String> {
    let crate_dir = root.join(worker.crate_dir);
    let mut command = Command::new(&tools.worker_build);
    command
        .current_dir(&crate_dir)
        .args(["--release", "--no-opt"])
        .env("WASM_BINDGEN_BIN", &tools.wasm_bindgen)
        .env("ESBUILD_BIN", &tools.esbuild);
    cmd::run(&mut command, "worker-build")?;
    let mut sizes = Vec::new();
    for file in OUTPUTS {
        let path = crate_dir.join("build").join(file);
        let len = fs::metadata(&path).map_err(|e| format!("worker-build succeeded but {} is missing: {e}", cmd::rel(root, &path)))?.len();
        sizes.push(format!("{file} {}", cmd::bytes(len)));
    }
    Ok(sizes.join(", "))
}

/// Looks a Worker up by short name or crate directory.
pub(crate) fn find(name: &str) -> Result<&'static Worker> {
    let wanted = name.trim_end_matches('/');
    WORKERS.iter().find(|w| w.name == wanted || w.crate_dir == wanted).ok_or_else(|| {
        let known: Vec<&str> = WORKERS.iter().map(|w| w.name).collect();
        format!("unknown Worker `{name}`; known: {}", known.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `main = "..."` of a wrangler config (a line scan: these configs keep it top level).
    fn main_of(config: &str) -> Option<String> {
        config.lines().find_map(|line| {
            let value = line.trim().strip_prefix("main")?.trim_start().strip_prefix('=')?;
            Some(value.trim().trim_matches('"').to_string())
        })
    }

    /// Architecture invariant: every config's `main` is the bundle worker-build writes for the
    /// crate in the same table row, so `build` and `wrangler dev` cannot drift apart.
    #[test]
    fn each_config_serves_its_crates_bundle() {
        let root = crate::workspace_root();
        for worker in WORKERS {
            let config = fs::read_to_string(root.join(worker.config)).unwrap();
            let main = main_of(&config).unwrap_or_else(|| panic!("{}: no main", worker.config));
            let config_dir = Path::new(worker.config).parent().unwrap();
            assert_eq!(config_dir.join(&main), Path::new(worker.crate_dir).join("build/index.js"), "{}", worker.config);
            assert!(root.join(worker.crate_dir).join("Cargo.toml").is_file(), "{}", worker.crate_dir);
        }
    }

    #[test]
    fn workers_are_found_by_name_or_directory() {
        assert_eq!(find("optimizer").unwrap().crate_dir, "consumers/optimizer");
        assert_eq!(find("consumers/optimizer/").unwrap().name, "optimizer");
        assert!(find("nope").unwrap_err().contains("producer"));
    }
}
