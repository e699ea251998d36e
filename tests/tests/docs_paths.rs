//! ARCHITECTURE.md's path of one message names real files, and few of them: the section headed
//! [`SECTION`] tells how one optimization message goes from cron to R2, and every repository
//! file it names must exist (a renamed or moved file fails here, not in a reader's head), with
//! at least one and at most [`MAX_FILES`] distinct files (issue 12: the path is told through at
//! most 20 files).
//!
//! What counts as a repository path: a backticked token (`` `...` ``) of the section that
//! - contains a `/` and does not start with `/` or `.` (so `/api/sweeps/{id}` is a URL path,
//!   not a file);
//! - contains no whitespace and none of `:` `{` `}` `*` `?` `=` `<` `>` (so `crate::paths`,
//!   `https://...` URLs, key templates like `optimizations/{customerId}/{ts}.json` and cron
//!   strings like `*/3 * * * *` are not files);
//! - ends in a file name with an extension: a non-empty stem, a `.`, and 1 to 8 ASCII letters
//!   or digits (`producer/src/lib.rs`, `migrations/0001_site_registry.sql`). A directory such
//!   as `consumers/dead-letters` names no file and is not counted.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The heading of the section, exactly as ARCHITECTURE.md spells it.
const SECTION: &str = "## The path of one message, from cron to R2";

/// At most this many distinct files tell the path of one message.
const MAX_FILES: usize = 20;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lives in the repository").to_path_buf()
}

/// The section's text: from its heading to the next `## ` heading (or the end).
fn section(doc: &str) -> Option<&str> {
    let start = doc.find(&format!("{SECTION}\n"))? + SECTION.len();
    let rest = &doc[start..];
    Some(rest.find("\n## ").map_or(rest, |end| &rest[..end]))
}

/// Whether a backticked token is a repository file path (the rule of the module's header).
fn is_file_path(token: &str) -> bool {
    let forbidden = |c: char| c.is_whitespace() || ":{}*?=<>".contains(c);
    let Some((_, file)) = token.rsplit_once('/') else { return false };
    let Some((stem, extension)) = file.rsplit_once('.') else { return false };
    !token.starts_with(['/', '.'])
        && !token.contains(forbidden)
        && !stem.is_empty()
        && (1..=8).contains(&extension.len())
        && extension.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The distinct repository paths backticked in `text`, sorted.
fn file_paths(text: &str) -> BTreeSet<&str> {
    // Between the 1st and 2nd backtick, the 3rd and 4th, ...: the odd pieces of a split.
    text.split('`').skip(1).step_by(2).filter(|t| is_file_path(t)).collect()
}

#[test]
fn the_path_of_one_message_names_existing_files() {
    let doc = fs::read_to_string(repo().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let text = section(&doc).unwrap_or_else(|| panic!("ARCHITECTURE.md has no section headed exactly {SECTION:?}"));
    let files = file_paths(text);
    assert!(
        !files.is_empty(),
        "the section {SECTION:?} names no repository file: name each file the message passes through, backticked, as \
         `producer/src/lib.rs`"
    );
    assert!(
        files.len() <= MAX_FILES,
        "the section {SECTION:?} names {} files, more than {MAX_FILES}: tell the path through fewer files\n{}",
        files.len(),
        files.iter().copied().collect::<Vec<_>>().join("\n")
    );
    println!("{SECTION:?} names {} files: {files:?}", files.len());
    let missing: Vec<&str> = files.iter().copied().filter(|f| !repo().join(f).is_file()).collect();
    assert!(
        missing.is_empty(),
        "the section {SECTION:?} of ARCHITECTURE.md names files that do not exist; fix the doc (or the path):\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_rule_takes_files_and_leaves_everything_else() {
    for file in ["producer/src/lib.rs", "consumers/optimizer/src/lib.rs", "migrations/0001_site_registry.sql", "shared/Cargo.toml"] {
        assert!(is_file_path(file), "{file} is a file");
    }
    for other in [
        "crate::paths",
        "code24_shared::api::ROUTES",
        "https://example.com/a.json",
        "/api/sweeps/{id}",
        "optimizations/{customerId}/{scheduled basic timestamp}.json",
        "*/3 * * * *",
        "consumers/dead-letters",
        "lib.rs",
        "./x.rs",
        "a/.rs",
        "a/b.",
        "customer_id > cursor ORDER BY customer_id",
    ] {
        assert!(!is_file_path(other), "{other} is not a repository file");
    }
    let doc = format!("# T\n\n{SECTION}\n\n`a/b.rs`, `a/b.rs` and `c/d.toml` but `e::f`.\n\n## Next\n`g/h.rs`\n");
    assert_eq!(file_paths(section(&doc).expect("the section")).into_iter().collect::<Vec<_>>(), ["a/b.rs", "c/d.toml"]);
}
