//! Running child commands, timing steps and formatting numbers for the progress output.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::Result;

/// Runs `command` with inherited stdio and fails, naming `what`, unless it exits successfully.
pub(crate) fn run(command: &mut Command, what: &str) -> Result<()> {
    println!("  $ {}", display(command));
    let status = command.status().map_err(|e| format!("{what}: cannot start `{}`: {e}", program(command)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// The trimmed stdout of `command`, or `None` when it cannot start or exits unsuccessfully.
/// Used for probes such as `X --version`, where any failure just means "not there".
pub(crate) fn stdout_of(command: &mut Command) -> Option<String> {
    let output = command.stderr(std::process::Stdio::null()).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Runs `step` and returns its result with how long it took.
pub(crate) fn timed<T>(step: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let value = step();
    (value, started.elapsed())
}

/// `0.4s`, `12.3s`, `3m07s`.
pub(crate) fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = d.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

/// `512 B`, `38.2 KiB`, `1.4 MiB`.
pub(crate) fn bytes(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let n_f = n as f64;
    if n_f < KIB {
        format!("{n} B")
    } else if n_f < KIB * KIB {
        format!("{:.1} KiB", n_f / KIB)
    } else {
        format!("{:.1} MiB", n_f / KIB / KIB)
    }
}

/// A path relative to the workspace root when it is inside it, for shorter messages.
pub(crate) fn rel<'a>(root: &Path, path: &'a Path) -> std::borrow::Cow<'a, str> {
    match path.strip_prefix(root) {
        Ok(inner) => inner.to_string_lossy(),
        Err(_) => path.to_string_lossy(),
    }
}

fn program(command: &Command) -> String {
    command.get_program().to_string_lossy().into_owned()
}

/// The command line as a shell would show it (without quoting subtleties; for humans only).
pub(crate) fn display(command: &Command) -> String {
    let mut line = program(command);
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}
