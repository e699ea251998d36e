//! The local stack's wrangler logs, as the end-to-end tier writes them (`cargo xtask test`
//! passes their folder in [`LOG_DIR_VAR`]): every Worker's console lines, a restart's log
//! included. Tests read them for what only the logs say, such as the Workers' own count of
//! their per-invocation limits (`code24_runtime::meter`, `"event":"limit_overrun"`).

use std::fs;
use std::path::PathBuf;

/// Environment variable with the folder of the stack's `wrangler*.log` files.
pub const LOG_DIR_VAR: &str = "CODE24_E2E_LOG_DIR";

/// Every line of the stack's wrangler logs containing each of `needles`, in file order.
///
/// # Panics
/// When [`LOG_DIR_VAR`] is not set or names no readable folder: run the tier with
/// `cargo xtask test --e2e-only`.
#[track_caller]
pub fn log_lines(needles: &[&str]) -> Vec<String> {
    let dir =
        PathBuf::from(std::env::var(LOG_DIR_VAR).unwrap_or_else(|_| panic!("{LOG_DIR_VAR} is not set: run `cargo xtask test --e2e-only`")));
    let mut logs: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("wrangler") && n.ends_with(".log")))
        .collect();
    logs.sort();
    logs.iter()
        .flat_map(|path| fs::read_to_string(path).unwrap_or_default().lines().map(str::to_owned).collect::<Vec<_>>())
        .filter(|line| needles.iter().all(|n| line.contains(n)))
        .collect()
}
