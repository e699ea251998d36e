//! Security checks on the source, as ordinary tests (tidy checks): the admin API's route
//! table in the core (`code24_shared::api::ROUTES`, which the end-to-end tests enumerate) is
//! the router's, the token is checked before any route is chosen, no log line or error formats
//! a secret, and the ledger's debug passage is decided by its tested gate.

use std::fs;
use std::path::{Path, PathBuf};

use code24_shared::api::ROUTES;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lives in the repository").to_path_buf()
}

fn read(path: &str) -> String {
    fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The router's arms `(Method::X, ["a", b, "c"])` as (method, template) pairs, `{name}` for a
/// bound segment and `{key...}` for a rest pattern.
fn router_arms(source: &str) -> Vec<(String, String)> {
    let mut arms = Vec::new();
    for line in source.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("(Method::") else { continue };
        let Some((method, rest)) = rest.split_once(", [") else { continue };
        let Some((segments, _)) = rest.split_once("])") else { continue };
        let path: Vec<String> = segments
            .split(", ")
            .map(|s| match s {
                ".." => "{key...}".to_owned(),
                quoted if quoted.starts_with('"') => quoted.trim_matches('"').to_owned(),
                name => format!("{{{name}}}"),
            })
            .collect();
        arms.push((method.to_uppercase(), format!("/api/{}", path.join("/"))));
    }
    arms
}

/// Compares templates with any parameter name: `{id}` in the table matches `{sweep}` in code.
fn shape(template: &str) -> String {
    template.split('/').map(|s| if s.starts_with('{') && s != "{key...}" { "{}" } else { s }).collect::<Vec<_>>().join("/")
}

#[test]
fn the_route_table_is_the_routers() {
    let source = read("producer/src/api/mod.rs");
    let arms = router_arms(&source);
    assert!(arms.len() >= 10, "the router's arms were not found: {arms:?}");
    let table: Vec<(String, String)> = ROUTES.iter().filter(|r| !r.local_only).map(|r| (r.method.to_owned(), shape(r.path))).collect();
    for (method, path) in &arms {
        assert!(table.contains(&(method.clone(), shape(path))), "{method} {path} is routed but not in code24_shared::api::ROUTES");
    }
    for (method, path) in &table {
        assert!(arms.iter().any(|(m, p)| m == method && shape(p) == *path), "{method} {path} is in ROUTES but not routed");
    }
    // The stand-in's routes are forwarded by the arms naming their first segment, and the
    // forwarding answers 404 unless the stand-in is bound (never, when deployed).
    for r in ROUTES.iter().filter(|r| r.local_only) {
        let knob = r.path.strip_prefix("/api/standin/").and_then(|p| p.split('/').next()).expect("a stand-in route");
        assert!(source.contains(&format!("\"{knob}\"")), "{} {} is not forwarded", r.method, r.path);
    }
    let forward = &source[source.find("async fn forward_to_standin").expect("the forwarding")..];
    let first = forward.lines().nth(1).unwrap_or_default();
    assert!(first.contains("let Ok(standin) = env.service(binding::ELITE_STANDIN) else"), "the binding is looked up first: {first}");
    assert!(forward.lines().nth(2).unwrap_or_default().contains("error(404"), "and its absence is a 404");
}

#[test]
fn the_token_is_checked_before_any_route_is_chosen() {
    let source = read("producer/src/api/mod.rs");
    let handle = &source[source.find("async fn handle").expect("the API's handle")..];
    let check = handle.find("access(&req").expect("the token check");
    let route = handle.find("match (method").expect("the router");
    assert!(check < route, "the token check must precede the router");
    assert!(handle[..check].find("strip_prefix(\"/api/\")").is_some(), "every /api/ path reaches the check");
    // Nothing between the check and the router returns early except the refusals.
    let between = &handle[check..route];
    assert_eq!(between.matches("return").count(), 2, "only the 503 and the 401 return before routing:\n{between}");
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
