//! What each Worker's wasm bundle is built from, as ordinary tests: no Worker's dependency
//! graph, resolved for wasm32 as its bundle is built, enables the core's `testkit` feature
//! (the in-memory twins and the simulation), and only the dispatcher depends on the dashboard
//! crate (its pages, and `hmac`/`sha2` for the session). Cargo resolves features per package
//! built, so one `features = ["testkit"]` in any crate a Worker depends on would otherwise put
//! the test kit into that bundle without a word.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The core's feature that compiles the test kit (`shared/Cargo.toml`).
const TESTKIT: &str = "testkit";
/// The dashboard crate, and the one Worker allowed to depend on it.
const DASHBOARD: &str = "code24-dashboard";
const DISPATCHER: &str = "code24-producer";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lives in the repository").to_path_buf()
}

/// Runs the cargo that runs this test, in the repository, and returns what it printed.
fn cargo(args: &[&str]) -> String {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo).args(args).current_dir(repo()).output().expect("cargo runs");
    assert!(out.status.success(), "cargo {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("cargo prints UTF-8")
}

/// The workspace's packages, as `cargo metadata` describes them (without their dependencies).
fn packages() -> Vec<Value> {
    let metadata: Value =
        serde_json::from_str(&cargo(&["metadata", "--format-version", "1", "--no-deps"])).expect("cargo metadata is JSON");
    metadata["packages"].as_array().expect("a package list").clone()
}

/// Every Worker of the workspace: the packages built as a `cdylib`, the form worker-build
/// turns into a bundle. A new Worker is covered without being listed here.
fn workers(packages: &[Value]) -> Vec<String> {
    let is_cdylib = |target: &Value| target["crate_types"].as_array().is_some_and(|types| types.iter().any(|t| t == "cdylib"));
    packages
        .iter()
        .filter(|p| p["targets"].as_array().is_some_and(|targets| targets.iter().any(is_cdylib)))
        .map(|p| p["name"].as_str().expect("a package name").to_owned())
        .collect()
}

/// One package of a Worker's graph and the features it is built with.
#[derive(Debug)]
struct Resolved {
    name: String,
    features: Vec<String>,
}

/// Reads `cargo tree --prefix none --format "{p}|{f}"`: a line per package, e.g.
/// `code24-shared v0.1.0 (/repo/shared)|testkit` (with ` (*)` after a package seen before).
fn parse_tree(printed: &str) -> Vec<Resolved> {
    printed
        .lines()
        .filter_map(|line| {
            let (package, features) = line.split_once('|')?;
            let features = features.trim_end_matches(" (*)").split(',').filter(|f| !f.is_empty()).map(str::to_owned).collect();
            Some(Resolved { name: package.split_whitespace().next()?.to_owned(), features })
        })
        .collect()
}

/// A Worker's normal dependencies, resolved for wasm32 as its bundle is built (alone, so no
/// other package's features are unified in, unlike `cargo test --workspace` on the host).
fn bundle_graph(worker: &str) -> Vec<Resolved> {
    parse_tree(&cargo(&[
        "tree",
        "-p",
        worker,
        "--target",
        "wasm32-unknown-unknown",
        "-e",
        "normal",
        "--prefix",
        "none",
        "--format",
        "{p}|{f}",
    ]))
}

/// What `worker`'s bundle must not carry.
fn problems(worker: &str, graph: &[Resolved]) -> Vec<String> {
    let mut found = Vec::new();
    for package in graph {
        if package.features.iter().any(|f| f == TESTKIT) {
            found.push(format!("{worker} builds {} with the `{TESTKIT}` feature", package.name));
        }
        if package.name == DASHBOARD && worker != DISPATCHER {
            found.push(format!("{worker} depends on {DASHBOARD}, which only {DISPATCHER} serves"));
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn no_worker_bundle_carries_the_test_kit_or_another_workers_dashboard() {
    let packages = packages();
    let shared = packages.iter().find(|p| p["name"] == "code24-shared").expect("the core is a workspace member");
    assert!(shared["features"].get(TESTKIT).is_some(), "the core's test kit feature is called `{TESTKIT}`: {}", shared["features"]);
    let workers = workers(&packages);
    for expected in [DISPATCHER, "code24-optimizer", "code24-reports", "code24-dead-letters", "code24-ledger", "code24-elite-standin"] {
        assert!(workers.iter().any(|w| w == expected), "{expected} is found as a Worker: {workers:?}");
    }
    let mut found = Vec::new();
    for worker in &workers {
        let graph = bundle_graph(worker);
        assert!(graph.iter().any(|p| p.name == *worker), "{worker}'s graph was read: {graph:?}");
        if worker == DISPATCHER {
            assert!(graph.iter().any(|p| p.name == DASHBOARD), "the dispatcher serves the dashboard: {graph:?}");
        }
        found.extend(problems(worker, &graph));
    }
    assert!(found.is_empty(), "a Worker bundle carries what it does not run:\n  - {}", found.join("\n  - "));
}

#[test]
fn the_check_names_a_test_kit_or_a_dashboard_in_a_bundle() {
    let printed = "code24-optimizer v0.1.0 (/r/consumers/optimizer)|\n\
                   code24-shared v0.1.0 (/r/shared)|testkit\n\
                   code24-dashboard v0.1.0 (/r/dashboard)|\n\
                   code24-shared v0.1.0 (/r/shared)|testkit (*)\n\
                   serde v1.0.0|default,derive,std\n";
    let graph = parse_tree(printed);
    assert_eq!(graph[4].features, ["default", "derive", "std"]);
    assert_eq!(
        problems("code24-optimizer", &graph),
        [
            "code24-optimizer builds code24-shared with the `testkit` feature",
            "code24-optimizer depends on code24-dashboard, which only code24-producer serves"
        ]
    );
    let dispatcher = parse_tree("code24-producer v0.1.0 (/r/producer)|\ncode24-dashboard v0.1.0 (/r/dashboard)|\n");
    assert!(problems(DISPATCHER, &dispatcher).is_empty());
}
