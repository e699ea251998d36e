//! BENCHMARKS.md: the machine, the date, the command, the table of figures against their
//! targets, and the notes that explain them (kept in BENCHMARKS.md between markers, so the
//! profile findings written by hand survive every run).

use std::fs;
use std::path::Path;

use super::{Figure, Verdict};
use crate::{cmd, Result};

/// The hand-written part of BENCHMARKS.md starts at this line; everything from it on is kept.
pub(crate) const NOTES_MARKER: &str = "<!-- notes: kept by `cargo xtask bench` -->";

/// cores, kernel and CPU model of this machine.
pub(crate) fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = cmd::stdout_of(std::process::Command::new("uname").arg("-r")).unwrap_or_default();
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned()))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(String::new(), |kb| format!(", {:.0} GiB RAM", kb as f64 / 1024.0 / 1024.0));
    format!("{cores} cores, {model}{memory}, Linux {}", kernel.trim())
}

/// The document's generated part.
pub(crate) fn render(figures: &[Figure], command: &str, took: &str, note: &str) -> String {
    let mut out = String::new();
    out.push_str("# Benchmarks\n\n");
    out.push_str("Written by `cargo xtask bench` (see README.md, \"Benchmarks\"); the notes after the table are\n");
    out.push_str("kept by the command and written by hand.\n\n");
    out.push_str(&format!("- Command: `{command}` ({took})\n"));
    out.push_str(&format!("- Date: {}\n", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")));
    out.push_str(&format!("- Machine: {}\n", machine()));
    if !note.is_empty() {
        out.push_str(&format!("- Note: {note}\n"));
    }
    out.push_str("\n| Figure | Measured | Target | |\n|---|---|---|---|\n");
    for f in figures {
        let mark = match f.verdict {
            Verdict::Pass => "pass",
            Verdict::Miss => "**miss**",
            Verdict::Info => "",
        };
        out.push_str(&format!("| {} | {} | {} | {mark} |\n", f.figure, f.value, f.target));
    }
    out.push('\n');
    out
}

/// Writes BENCHMARKS.md: the generated part, then the kept notes (if any).
pub(crate) fn write(root: &Path, generated: &str) -> Result<()> {
    let path = root.join("BENCHMARKS.md");
    let existing = fs::read_to_string(&path).unwrap_or_default();
    let notes = existing.find(NOTES_MARKER).map_or_else(|| format!("{NOTES_MARKER}\n"), |i| existing[i..].to_owned());
    fs::write(&path, format!("{generated}{notes}")).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("bench: wrote {}", cmd::rel(root, &path));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_marks_each_verdict() {
        let figures = vec![
            Figure { figure: "a".into(), value: "1".into(), target: "≤ 2".into(), verdict: Verdict::Pass },
            Figure { figure: "b".into(), value: "3".into(), target: "≤ 2".into(), verdict: Verdict::Miss },
        ];
        let text = render(&figures, "cargo xtask bench", "1m", "");
        assert!(text.contains("| a | 1 | ≤ 2 | pass |"), "{text}");
        assert!(text.contains("| b | 3 | ≤ 2 | **miss** |"), "{text}");
    }
}
