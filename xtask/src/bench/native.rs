//! Figure 6 (and the counts behind figures 3 and 4): `code24-bench-native` (bench/native),
//! one fault-free sweep through the core over its in-memory twins, built with optimisations
//! for the host (the workspace's release profile is tuned for small wasm, so `opt-level`,
//! LTO and the panic strategy are overridden on the command line; the wasm builds are not
//! affected: they never share artifacts with a host build).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::stats::emit;
use super::{Figure, Verdict};
use crate::{cmd, Result};

const PACKAGE: &str = "code24-bench-native";
/// The target for the 1,000,000-site sweep.
pub(crate) const TARGET_1M_MS: u128 = 20_000;

const PROFILE_OVERRIDES: &[&str] = &[
    "--config",
    "profile.release.opt-level=3",
    "--config",
    "profile.release.lto=false",
    "--config",
    "profile.release.codegen-units=16",
    "--config",
    "profile.release.panic=\"unwind\"",
];

/// Builds the binary and runs one sweep per size; returns each run's JSON report.
pub(crate) fn run(root: &Path, sizes: &[usize]) -> Result<Vec<Value>> {
    let args: Vec<String> = sizes.iter().flat_map(|n| ["--sites".to_owned(), n.to_string()]).collect();
    let reports = run_binary(root, &args)?;
    for r in &reports {
        println!("{r}");
    }
    if reports.len() != sizes.len() {
        return Err(format!("{PACKAGE}: {} reports for {} sizes", reports.len(), sizes.len()));
    }
    Ok(reports)
}

/// Builds the binary (host, optimised) and runs it with `args`; returns its JSON lines.
pub(crate) fn run_binary(root: &Path, args: &[String]) -> Result<Vec<Value>> {
    let mut build = Command::new("cargo");
    build.current_dir(root).args(["build", "--quiet", "--release", "-p", PACKAGE]).args(PROFILE_OVERRIDES);
    cmd::run(&mut build, "building the native bench")?;
    let output =
        Command::new(root.join("target/release").join(PACKAGE)).args(args).output().map_err(|e| format!("cannot run {PACKAGE}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("{PACKAGE} failed ({}): {}{}", output.status, stdout, String::from_utf8_lossy(&output.stderr)));
    }
    Ok(stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

/// The throughput figures of the native runs.
pub(crate) fn figures(reports: &[Value]) -> Vec<Figure> {
    reports
        .iter()
        .map(|r| {
            let sites = r["sites"].as_u64().unwrap_or(0);
            let ms = r["sweep_ms"].as_u64().unwrap_or(u64::MAX);
            emit(
                "native_summary",
                serde_json::json!({"sites": sites, "sweep_ms": ms, "sites_per_s": r["sites_per_s"], "target_ms": (sites >= 1_000_000).then_some(TARGET_1M_MS)}),
            );
            Figure {
                figure: format!("6. native simulation, {} sites", thousands(sites)),
                value: format!(
                    "{} ms ({} sites/s; fan-out {} ms, consumers {} ms)",
                    thousands(ms),
                    thousands(r["sites_per_s"].as_u64().unwrap_or(0)),
                    r["fanout_ms"],
                    r["consume_ms"]
                ),
                target: if sites >= 1_000_000 { "< 20 s".into() } else { "(no target)".into() },
                verdict: if sites >= 1_000_000 { Verdict::of(u128::from(ms) < TARGET_1M_MS) } else { Verdict::Info },
            }
        })
        .collect()
}

pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_grouped() {
        assert_eq!(super::thousands(1_000_000), "1,000,000");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(10_000), "10,000");
    }
}
