//! `cargo xtask setup`: installs what a fresh machine lacks, and nothing else.
//!
//! Everything lands in git-ignored project folders (`.tools/cargo`, `node_modules`), never in
//! the user's global cargo or npm state, so several checkouts can pin different versions. Every
//! step first checks whether it is already satisfied, which keeps a repeated `setup` (as run
//! by `dev` and `test`) under a second.
//!
//! Why these installs: worker-build only looks for its helpers in env vars, its cache, or a
//! download, and the wasm-bindgen and wasm-opt downloads come from GitHub, which these
//! machines cannot reach (see /work/shared/notes/platform.md). So wasm-bindgen-cli is built
//! with `cargo install` at exactly the version in Cargo.lock (a mismatch is refused with a
//! schema error), esbuild comes from npm, and builds skip wasm-opt.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use crate::cmd;
use crate::Result;

/// Where the wasm toolchain pieces live, relative to the workspace root.
pub(crate) const TOOLS_CARGO_ROOT: &str = ".tools/cargo";
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Paths of the installed tools, all absolute: worker-build resolves its `*_BIN` variables
/// from the crate directory it builds in, not from where xtask runs.
#[derive(Debug, Clone)]
pub(crate) struct Tools {
    pub(crate) worker_build: PathBuf,
    pub(crate) wasm_bindgen: PathBuf,
    pub(crate) esbuild: PathBuf,
    pub(crate) wrangler: PathBuf,
}

impl Tools {
    pub(crate) fn at(root: &Path) -> Self {
        let bin = root.join(TOOLS_CARGO_ROOT).join("bin");
        let node_bin = root.join("node_modules/.bin");
        Self {
            worker_build: bin.join("worker-build"),
            wasm_bindgen: bin.join("wasm-bindgen"),
            esbuild: node_bin.join("esbuild"),
            wrangler: node_bin.join("wrangler"),
        }
    }

    /// Fails with a hint to run `setup` when a tool is missing.
    pub(crate) fn check(&self) -> Result<()> {
        for path in [&self.worker_build, &self.wasm_bindgen, &self.esbuild, &self.wrangler] {
            if !path.exists() {
                return Err(format!("{} is missing: run `cargo xtask setup` first", path.display()));
            }
        }
        Ok(())
    }
}

/// Runs every setup step, printing what each did and how long it took.
pub(crate) fn run(root: &Path) -> Result<()> {
    println!("setup: checking the toolchain in {}", root.display());
    let lock = fs::read_to_string(root.join("Cargo.lock")).map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    // worker-build is released in lockstep with the `worker` crate; building with the
    // matching version keeps its generated JS shim in step with the crate's exports.
    let worker_version = locked_version(&lock, "worker")?;
    let bindgen_version = locked_version(&lock, "wasm-bindgen")?;
    let tools = Tools::at(root);

    step("wasm32 target", || wasm_target(root))?;
    step(&format!("worker-build {worker_version}"), || cargo_install(root, "worker-build", &worker_version, &tools.worker_build))?;
    step(&format!("wasm-bindgen-cli {bindgen_version}"), || {
        cargo_install(root, "wasm-bindgen-cli", &bindgen_version, &tools.wasm_bindgen)
    })?;
    step("npm packages", || npm_packages(root))?;
    step("headless browser (chromium, chromium-driver)", browser)?;
    tools.check()
}

/// Prints one line per step: `name: outcome (time)`.
fn step(name: &str, work: impl FnOnce() -> Result<&'static str>) -> Result<()> {
    println!("setup: {name} ...");
    let (outcome, took) = cmd::timed(work);
    match outcome {
        Ok(what) => {
            println!("setup: {name}: {what} ({})", cmd::duration(took));
            Ok(())
        }
        Err(e) => Err(format!("setup step `{name}` failed after {}: {e}", cmd::duration(took))),
    }
}

fn wasm_target(root: &Path) -> Result<&'static str> {
    // The sysroot probe needs no rustup and is instant; rust-toolchain.toml in `root` selects
    // the pinned toolchain for both it and `rustup target add`.
    let sysroot = cmd::stdout_of(Command::new("rustc").current_dir(root).args(["--print", "sysroot"]))
        .ok_or("`rustc --print sysroot` failed: is Rust installed?")?;
    if Path::new(&sysroot).join("lib/rustlib").join(WASM_TARGET).join("lib").is_dir() {
        return Ok("already installed");
    }
    cmd::run(Command::new("rustup").current_dir(root).args(["target", "add", WASM_TARGET]), "rustup target add")?;
    Ok("installed")
}

/// `cargo install NAME --version VERSION --root .tools/cargo`, unless `bin --version` already
/// reports VERSION. `--locked` is tried first for reproducibility; it has failed here before
/// when the local crates index lacked a transitive version, so a plain install follows.
fn cargo_install(root: &Path, name: &str, version: &str, bin: &Path) -> Result<&'static str> {
    if let Some(reported) = cmd::stdout_of(Command::new(bin).arg("--version")) {
        if reported.split_whitespace().any(|word| word == version) {
            return Ok("already installed");
        }
        println!("  {} reports `{reported}`, want {version}", bin.display());
    }
    let install = |locked: bool| {
        let mut command = Command::new("cargo");
        command.current_dir(root).args(["install", name, "--version", version, "--root"]).arg(root.join(TOOLS_CARGO_ROOT));
        if locked {
            command.arg("--locked");
        }
        cmd::run(&mut command, &format!("cargo install {name}"))
    };
    if let Err(e) = install(true) {
        println!("  {e}; retrying without --locked");
        install(false)?;
    }
    Ok("installed")
}

fn npm_packages(root: &Path) -> Result<&'static str> {
    let lockfile = root.join("package-lock.json");
    // npm writes this hidden lockfile on every install, so its age is the install's age.
    let installed = root.join("node_modules/.package-lock.json");
    let fresh = match (modified(&installed), modified(&lockfile)) {
        (Some(installed), Some(wanted)) => installed >= wanted,
        _ => false,
    };
    if fresh {
        return Ok("node_modules up to date");
    }
    cmd::run(Command::new("npm").current_dir(root).args(["ci", "--no-audit", "--no-fund"]), "npm ci")?;
    Ok("installed with npm ci")
}

/// The browser and WebDriver the dashboard's browser test drives (Debian's packages).
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Installs Debian's `chromium` and `chromium-driver` with apt-get when either binary is
/// missing: unattended (CI runs this on a brand-new machine), through `sudo` only when not
/// root. The package index is refreshed first, since a fresh image may have none.
fn browser() -> Result<&'static str> {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return Ok("already installed");
    }
    let root_user = cmd::stdout_of(Command::new("id").arg("-u")).is_some_and(|uid| uid == "0");
    let apt = |args: &[&str], what: &str| {
        let mut command = if root_user { Command::new("apt-get") } else { Command::new("sudo") };
        if !root_user {
            command.args(["--non-interactive", "--preserve-env=DEBIAN_FRONTEND", "apt-get"]);
        }
        command.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        cmd::run(&mut command, what)
    };
    apt(&["update", "-q"], "apt-get update")?;
    apt(&["install", "-y", "-q", "--no-install-recommends", "chromium", "chromium-driver"], "apt-get install")?;
    for path in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(path).exists() {
            return Err(format!("{path} is still missing after apt-get install"));
        }
    }
    Ok("installed with apt-get")
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The single version of `package` in a Cargo.lock; two versions would leave it ambiguous
/// which one a helper binary must match, so that is an error.
pub(crate) fn locked_version(lock: &str, package: &str) -> Result<String> {
    let name_line = format!("name = \"{package}\"");
    let mut versions: Vec<String> = Vec::new();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() != name_line {
            continue;
        }
        let version = lines.next().and_then(|l| l.trim().strip_prefix("version = \"")).and_then(|l| l.strip_suffix('"'));
        if let Some(v) = version {
            if !versions.iter().any(|known| known == v) {
                versions.push(v.to_string());
            }
        }
    }
    match versions.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!("Cargo.lock has no `{package}` package")),
        many => Err(format!("Cargo.lock has several `{package}` versions: {many:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::locked_version;

    const LOCK: &str = r#"
[[package]]
name = "wasm-bindgen"
version = "0.2.130"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "wasm-bindgen-macro"
version = "0.2.130"

[[package]]
name = "twice"
version = "1.0.0"

[[package]]
name = "twice"
version = "2.0.0"
"#;

    #[test]
    fn reads_the_single_locked_version() {
        assert_eq!(locked_version(LOCK, "wasm-bindgen").as_deref(), Ok("0.2.130"));
        assert!(locked_version(LOCK, "absent").is_err());
        assert!(locked_version(LOCK, "twice").is_err());
    }

    #[test]
    fn the_workspace_lock_pins_the_helpers() {
        let lock = std::fs::read_to_string(crate::workspace_root().join("Cargo.lock")).unwrap();
        locked_version(&lock, "worker").unwrap();
        locked_version(&lock, "wasm-bindgen").unwrap();
    }
}
