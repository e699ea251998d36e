//! Security checks on the source, as ordinary tests (tidy checks): no log line or error formats
//! a secret, no code outside the admin API's token check reads a secret, and the ledger's debug
//! passage is decided by its tested gate.
//!
//! The admin API's own properties are tested as behaviour, not as source text: its router is
//! the core's route table (`code24_shared::api::route`, unit-tested there: every route resolves
//! to its own endpoint, near misses do not), the token is decided before any route
//! (`code24_shared::api::admit`, unit-tested there: the refusal does not depend on the route),
//! and `tests/tests/bad_input_e2e.rs` sends every route of the table, and unknown paths, without
//! a token and with wrong ones to the running dispatcher and expects the same 401.

use std::fs;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lives in the repository").to_path_buf()
}

fn read(path: &str) -> String {
    fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every Rust source file of the Workers, the runtime, the CLI and the tools.
fn sources() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> =
        ["producer", "consumers", "ledger", "runtime", "elite-standin", "ops", "xtask", "shared/src", "dashboard/src"]
            .iter()
            .map(|d| repo().join(d))
            .collect();
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && !["target", "build", "node_modules"].iter().any(|n| path.ends_with(n)) {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn no_log_line_or_error_formats_a_secret() {
    // A formatted value named like a secret, in any log macro or error message. The local
    // dev stack's printed curl lines (`xtask/src/dev.rs`) show the public local token on purpose.
    let suspicious = ["{token}", "{token:", "{secret}", "{secret:", "{admin_token}", "{admin_token:", "{password", "{expected}"];
    let allowed = ["xtask/src/dev.rs", "xtask/src/deploy/live.rs"];
    let mut found = Vec::new();
    for path in sources() {
        let rel = path.strip_prefix(repo()).expect("in the repository").to_string_lossy().into_owned();
        if allowed.contains(&rel.as_str()) {
            continue;
        }
        let text = fs::read_to_string(&path).expect("readable");
        for (n, line) in text.lines().enumerate() {
            if suspicious.iter().any(|s| line.contains(s)) && !line.contains("format!(\"Bearer {") {
                found.push(format!("{rel}:{}: {}", n + 1, line.trim()));
            }
            if line.contains("env.secret(") && !rel.ends_with("producer/src/api/mod.rs") {
                found.push(format!("{rel}:{}: reads a secret outside the admin API's token check", n + 1));
            }
        }
    }
    assert!(found.is_empty(), "secrets must never be formatted into logs or answers:\n{}", found.join("\n"));
}

#[test]
fn the_ledger_debug_passage_goes_through_its_gate() {
    let source = read("ledger/src/lib.rs");
    assert!(source.contains("routes::debug_passage("), "the ledger's fetch uses the tested gate");
    assert!(!source.contains("routes::debug_target("), "no path around the gate");
}
