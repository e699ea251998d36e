//! Keeps the binding table honest: scans each Worker crate's code for the bindings it uses
//! (`binding::NAME`, or a runtime adapter built `from_env`, which reads fixed bindings) and
//! compares them with the Worker's row in `workers.rs`, both ways. Also checks that every
//! wrangler config in the repository is a row of the table, so no Worker escapes the check.
//!
//! Architecture invariant (ARCHITECTURE.md): binding names appear in code only through
//! `code24_shared::names`, which is what makes this textual scan sufficient.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use code24_shared::names::binding;

use crate::workers::WORKERS;
use crate::Problem;

/// The runtime adapters (`runtime/src`) a Worker builds from its `Env`, and the bindings each
/// one reads. A test keeps this list complete.
pub const ADAPTERS: &[(&str, &[&str])] = &[
    ("DurableLedger", &[binding::LEDGER]),
    ("D1Registry", &[binding::DB]),
    ("AnalyticsMetrics", &[binding::JOB_ANALYTICS]),
    ("ServiceElite", &[binding::ELITE_BRAND, binding::ELITE_DESIGNER, binding::ELITE_DEVELOPER]),
];

/// Directories never searched for wrangler configs: build outputs and installed tools.
const SKIPPED_DIRS: &[&str] = &["target", "node_modules", ".git", ".tools", ".state", ".wrangler", "build", "artifacts"];

/// The Workers' code against the table, and the repository's configs against the table.
pub fn check_sources(root: &Path) -> Vec<Problem> {
    let mut out = Vec::new();
    for spec in WORKERS {
        let used = bindings_used(&root.join(spec.crate_dir).join("src"));
        for (name, file) in &used {
            if !spec.bindings.iter().any(|b| b.name == name) {
                out.push(Problem::new(
                    spec,
                    None,
                    format!("binding {name}"),
                    format!("the code uses it ({file}) but the binding table (config-check/src/workers.rs) does not list it for this Worker: add it there, then to every environment of the toml"),
                ));
            }
        }
        for required in spec.bindings {
            if !used.contains_key(required.name) {
                out.push(Problem::new(
                    spec,
                    None,
                    format!("binding {}", required.name),
                    format!("listed in the binding table, but no code in {}/src uses it", spec.crate_dir),
                ));
            }
        }
    }
    let mut configs = Vec::new();
    find_configs(root, root, &mut configs);
    for config in configs {
        let relative = config.strip_prefix(root).unwrap_or(&config).to_string_lossy().replace('\\', "/");
        if !WORKERS.iter().any(|w| w.config == relative) {
            out.push(Problem {
                worker: "(not in the table)".into(),
                config: relative,
                env: None,
                subject: "file".into(),
                message: "a wrangler config the check does not know: add its Worker to config-check/src/workers.rs".into(),
            });
        }
    }
    out
}

/// Binding name → the first file (relative to `src`'s crate) that uses it.
pub fn bindings_used(src: &Path) -> BTreeMap<String, String> {
    let mut used = BTreeMap::new();
    for file in rust_files(src) {
        let text = fs::read_to_string(&file).unwrap_or_default();
        let shown = file.strip_prefix(src.parent().unwrap_or(src)).unwrap_or(&file).display().to_string();
        for name in bindings_in(&text) {
            used.entry(name).or_insert_with(|| shown.clone());
        }
    }
    used
}

/// The bindings named in one file's code (comments ignored).
pub fn bindings_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in code_lines(text) {
        let mut rest = line;
        while let Some(at) = rest.find("binding::") {
            rest = &rest[at + "binding::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
        for (adapter, bindings) in ADAPTERS {
            if line.contains(&format!("{adapter}::from_env")) {
                out.extend(bindings.iter().map(|b| (*b).to_owned()));
            }
        }
    }
    out
}

fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.trim_start().starts_with("//"))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else { return out };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

fn find_configs(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            let skipped = SKIPPED_DIRS.contains(&name.as_str()) || (dir == root && name.starts_with('.'));
            if !skipped {
                find_configs(root, &path, out);
            }
        } else if matches!(name.as_str(), "wrangler.toml" | "wrangler.json" | "wrangler.jsonc") {
            out.push(path);
        }
    }
}

/// The types in `runtime/src` with a `fn from_env`, i.e. the adapters a Worker can build.
pub fn runtime_adapters(runtime_src: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for file in rust_files(runtime_src) {
        let text = fs::read_to_string(&file).unwrap_or_default();
        let mut current: Option<String> = None;
        for line in code_lines(&text) {
            if let Some(rest) = line.trim_start().strip_prefix("impl ") {
                // `impl Type {` only: trait impls (`impl Trait for Type`) have no `from_env`.
                current = rest.strip_suffix('{').map(|t| t.trim().to_owned()).filter(|t| !t.contains(' '));
            }
            if line.contains("fn from_env(") {
                out.extend(current.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_are_found_in_code_not_comments() {
        let text = "// binding::NOT_THIS\nlet db = env.d1(binding::DB)?;\nlet l = DurableLedger::from_env(&env)?; let q = names::binding::OPTIMIZE_QUEUE;";
        assert_eq!(bindings_in(text), ["DB", "OPTIMIZE_QUEUE", "LEDGER"]);
    }

    /// Every adapter the runtime crate offers is in [`ADAPTERS`], and every binding the runtime
    /// names is read by one of them: a new adapter cannot slip past the scan.
    #[test]
    fn the_adapter_list_is_complete() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let found = runtime_adapters(&root.join("runtime/src"));
        let mut listed: Vec<String> = ADAPTERS.iter().map(|(a, _)| (*a).to_owned()).collect();
        let mut found_sorted = found.clone();
        listed.sort();
        found_sorted.sort();
        assert_eq!(found_sorted, listed, "runtime adapters with `fn from_env` vs ADAPTERS");
        let read: Vec<&str> = ADAPTERS.iter().flat_map(|(_, b)| b.iter().copied()).collect();
        for file in rust_files(&root.join("runtime/src")) {
            for name in bindings_in(&fs::read_to_string(&file).unwrap()) {
                assert!(read.contains(&name.as_str()), "{}: binding {name} is read by no listed adapter", file.display());
            }
        }
    }
}
