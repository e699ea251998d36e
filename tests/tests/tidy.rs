//! Tidy checks on the whole workspace, as ordinary tests (rust-analyzer's habit): style that a
//! machine keeps instead of a reviewer.
//!
//! - Every `.rs` file of the workspace opens with a `//!` header saying what it is for. That
//!   includes integration tests (`*/tests/*.rs`): each is a crate of its own.
//! - Every file stays within [`LINE_BUDGET`] lines, but for the few of [`OVER_BUDGET`], each
//!   with its reason; an entry that is no longer needed fails too, so the list cannot rot.
//! - Every crate root (`src/lib.rs`, `src/main.rs`, `src/bin/*.rs`, `tests/*/main.rs`) names each module it
//!   declares in its `//!` map, and its map names no module it does not declare.
//!
//! The doc check of ARCHITECTURE.md's path of one message is in `docs_paths.rs`. Every failure
//! message says what to change: which file to add to or remove from a list, which module to
//! name or drop.

use std::fs;
use std::path::{Path, PathBuf};

/// Lines a file may have: "a module over ~400 lines is usually two modules" (STYLE.md).
const LINE_BUDGET: usize = 400;

/// The files allowed over [`LINE_BUDGET`], as (path from the repository root, why it is one
/// file today). Keep it short: a new entry needs a reason a reviewer would accept.
const OVER_BUDGET: &[(&str, &str)] = &[
    ("shared/src/ledger/mod.rs", "the ledger's wire types of every Durable Object route, one struct per request and answer"),
    ("shared/src/ledger/tests.rs", "every ledger transition's table test, sharing one set of claim and sweep helpers"),
    ("shared/src/testkit/sim.rs", "the simulation's driver loop and its invariant checks over one state"),
];

/// Directories that hold no source of ours (build output, installed tools, local state).
const SKIPPED_DIRS: &[&str] = &["target", "build", "node_modules", ".tools", ".wrangler", ".git"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lives in the repository").to_path_buf()
}

/// Every `.rs` file of the repository, as a path from its root with `/` separators, sorted.
fn rust_files() -> Vec<String> {
    let root = repo();
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !SKIPPED_DIRS.contains(&name.as_str()) {
                    dirs.push(path);
                }
            } else if name.ends_with(".rs") {
                let relative = path.strip_prefix(&root).expect("under the root");
                out.push(relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"));
            }
        }
    }
    out.sort();
    assert!(out.len() > 100, "the walk found only {} Rust files under {}", out.len(), root.display());
    out
}

fn read(relative: &str) -> String {
    fs::read_to_string(repo().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The `//!` lines a file opens with, joined.
fn header(text: &str) -> String {
    text.lines().take_while(|l| l.starts_with("//!")).collect::<Vec<_>>().join("\n")
}

#[test]
fn every_file_opens_with_a_module_header() {
    let missing: Vec<String> = rust_files().into_iter().filter(|f| !read(f).starts_with("//!")).collect();
    assert!(
        missing.is_empty(),
        "these files do not open with a `//!` header saying what the module (or test crate) is for; add one as their first \
         line:\n{}",
        missing.join("\n")
    );
}

#[test]
fn files_stay_within_the_line_budget() {
    let files = rust_files();
    let mut problems = Vec::new();
    for file in &files {
        let lines = read(file).lines().count();
        let allowed = OVER_BUDGET.iter().any(|(path, _)| path == file);
        if lines > LINE_BUDGET && !allowed {
            problems.push(format!(
                "{file} has {lines} lines (budget {LINE_BUDGET}): split it, or add to OVER_BUDGET in tests/tests/tidy.rs: \
                 (\"{file}\", \"<why it is one file>\"),"
            ));
        }
        if lines <= LINE_BUDGET && allowed {
            problems.push(format!(
                "{file} has {lines} lines, within the budget of {LINE_BUDGET}: remove its entry from OVER_BUDGET in \
                 tests/tests/tidy.rs"
            ));
        }
    }
    for (path, _) in OVER_BUDGET {
        if !files.iter().any(|f| f == path) {
            problems.push(format!("{path} no longer exists: remove its entry from OVER_BUDGET in tests/tests/tidy.rs"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Whether `file` is a crate root: a library or binary root (`src/lib.rs`, `src/main.rs`,
/// `src/bin/*.rs`), or the `main.rs` of a multi-file integration test.
fn is_crate_root(file: &str) -> bool {
    let parts: Vec<&str> = file.split('/').collect();
    matches!(parts.as_slice(), [.., "src", "lib.rs" | "main.rs"] | [.., "src", "bin", _] | [.., "tests", _, "main.rs"])
}

/// The modules a file declares with `mod x;` (any visibility) at its top level.
fn declared_modules(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("pub ").or_else(|| line.strip_prefix("pub(").and_then(|r| r.split_once(") ")).map(|(_, r)| r));
            let rest = rest.unwrap_or(line).strip_prefix("mod ")?;
            let name = rest.strip_suffix(';')?;
            name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_').then(|| name.to_owned())
        })
        .collect()
}

/// The modules a map claims: in a bullet `- [`a`], [`b`]: what they hold`, the names before
/// the first `:` when that part is nothing but backticked lower-case names (with or without
/// link brackets, separated by commas or "and"). Bullets that begin with prose ("this file: ...",
/// "the kept corpus in ... ([`corpus`]): ...") claim nothing.
fn claimed_modules(header: &str) -> Vec<String> {
    let mut claimed = Vec::new();
    for line in header.lines() {
        let Some(bullet) = line.strip_prefix("//! - ") else { continue };
        let Some((head, _)) = bullet.split_once(':') else { continue };
        let names: Option<Vec<String>> = head
            .split(", ")
            .flat_map(|part| part.split(" and "))
            .map(|part| {
                let name = part.trim().trim_start_matches('[').trim_end_matches(']').strip_prefix('`')?.strip_suffix('`')?;
                let is_module = !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                is_module.then(|| name.to_owned())
            })
            .collect();
        claimed.extend(names.unwrap_or_default());
    }
    claimed
}

#[test]
fn every_crate_root_maps_its_modules() {
    let mut problems = Vec::new();
    let mut roots = 0;
    for file in rust_files().into_iter().filter(|f| is_crate_root(f)) {
        let text = read(&file);
        let (map, declared) = (header(&text), declared_modules(&text));
        roots += usize::from(!declared.is_empty());
        for module in &declared {
            if !map.contains(&format!("`{module}`")) {
                problems.push(format!("{file} declares `mod {module};`: name it in the `//!` map, e.g. \"//! - [`{module}`]: ...\""));
            }
        }
        for module in claimed_modules(&map) {
            if !declared.contains(&module) {
                problems.push(format!("{file}'s `//!` map names [`{module}`], which it does not declare: remove it from the map"));
            }
        }
    }
    assert!(roots >= 10, "only {roots} crate roots with modules were found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checks_read_what_they_claim() {
    assert!(is_crate_root("shared/src/lib.rs") && is_crate_root("ops/src/main.rs") && is_crate_root("shared/tests/bad_input/main.rs"));
    assert!(!is_crate_root("shared/src/ledger/mod.rs") && !is_crate_root("tests/tests/tidy.rs"));
    let source = "//! Map:\n//! - [`a`], [`b_2`]: two.\n//! - `c` and [`d`]: two more.\n//! - this file: the rest, [`e`].\n\
                  //! - [`Type`]: not a module.\n\npub mod a;\npub(crate) mod b_2;\nmod c;\n    mod nested;\nmod tests {\n";
    assert_eq!(declared_modules(source), ["a", "b_2", "c"]);
    assert_eq!(claimed_modules(&header(source)), ["a", "b_2", "c", "d"]);
}
