//! What operators read: aligned tables, key/value views, UTC times, truncated and sanitised
//! text, and the progress line of long replays. Everything here returns strings (or writes to
//! a given stream), so formatting is tested without a terminal.

use std::io::Write;

use chrono::{SecondsFormat, TimeZone, Utc};

/// Longest error message a list shows; `show` prints it whole.
pub(crate) const LIST_MESSAGE_CHARS: usize = 60;
/// Width of the progress bar between its brackets.
const BAR_WIDTH: usize = 30;

/// Writes `text` to stdout. A reader that stops early (`code24-ops dlq list | head`) ends the
/// output quietly instead of panicking, as `print!` would on the closed pipe.
pub(crate) fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => eprintln!("warning: cannot write the output: {e}"),
        _ => {}
    }
}

/// A table with a header row and left-aligned columns separated by two spaces. The last
/// column is not padded, so no line ends in spaces.
#[derive(Debug)]
pub(crate) struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(headers: &[&'static str]) -> Self {
        Self { headers: headers.to_vec(), rows: Vec::new() }
    }

    /// Adds a row; each cell is sanitised, so an API value cannot break the layout or send
    /// escape sequences to the terminal.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| clean(c)).collect());
    }

    pub(crate) fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let header: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = row.get(i).map_or("", String::as_str);
                if i + 1 == columns {
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(width - cell.chars().count() + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Key/value lines with the values aligned, for the `show` commands. A multi-line value is
/// indented under its key.
pub(crate) fn key_values(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in pairs {
        let mut lines = value.lines();
        let first = lines.next().unwrap_or("");
        out.push_str(format!("{key:width$}  {}", clean(first)).trim_end());
        out.push('\n');
        for line in lines {
            out.push_str(&" ".repeat(width + 2));
            out.push_str(&clean(line));
            out.push('\n');
        }
    }
    out
}

/// An epoch-millisecond instant as UTC RFC 3339 to the second, e.g. `2026-11-29T01:15:00Z`;
/// a value chrono cannot represent is shown as the raw number rather than hidden.
pub(crate) fn time(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(at) => at.to_rfc3339_opts(SecondsFormat::Secs, true),
        None => format!("{ms} (epoch ms)"),
    }
}

/// [`time`] of an optional instant; `-` when absent.
pub(crate) fn time_or_dash(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_owned(), time)
}

/// The first `max` characters of `text` (one line), with `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    let text = clean(text);
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Replaces control characters (newlines, escape sequences) with spaces.
pub(crate) fn clean(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// `1 dead letter`, `2 dead letters`.
pub(crate) fn count(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// The progress line of a long replay or purge, e.g.
/// `replaying  150/400 [###########...................] 37%`.
pub(crate) fn progress_line(label: &str, done: usize, total: usize) -> String {
    let total_width = total.to_string().len();
    let (filled, percent) = match total {
        0 => (BAR_WIDTH, 100),
        _ => (BAR_WIDTH * done.min(total) / total, 100 * done.min(total) / total),
    };
    format!("{label:<10} {done:>total_width$}/{total} [{}{}] {percent}%", "#".repeat(filled), ".".repeat(BAR_WIDTH - filled))
}

/// A progress line on stderr: redrawn in place on a terminal, one plain line per update
/// otherwise (so logs of a scripted replay stay readable).
#[derive(Debug)]
pub(crate) struct Progress {
    label: &'static str,
    total: usize,
    terminal: bool,
}

impl Progress {
    pub(crate) fn new(label: &'static str, total: usize, terminal: bool) -> Self {
        let progress = Self { label, total, terminal };
        progress.update(0);
        progress
    }

    pub(crate) fn update(&self, done: usize) {
        let line = progress_line(self.label, done, self.total);
        let mut err = std::io::stderr().lock();
        // A failed write to stderr only loses the progress display; the work goes on.
        let _ = if self.terminal { write!(err, "\r{line}") } else { writeln!(err, "{line}") };
        let _ = err.flush();
    }

    /// Ends the redrawn line so later output starts on a fresh one.
    pub(crate) fn finish(&self) {
        if self.terminal {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_without_trailing_spaces() {
        let mut t = Table::new(&["ID", "STATUS", "ERROR"]);
        t.row(vec!["a".into(), "dead".into(), "elite designer answered HTTP 400".into()]);
        t.row(vec!["local.optimize.x".into(), "replayed".into(), String::new()]);
        let expected = "\
ID                STATUS    ERROR
a                 dead      elite designer answered HTTP 400
local.optimize.x  replayed
";
        assert_eq!(t.render(), expected);
    }

    #[test]
    fn cells_cannot_break_the_layout() {
        let mut t = Table::new(&["A", "B"]);
        t.row(vec!["x\ny".into(), "\u{1b}[31mred".into()]);
        assert_eq!(t.render(), "A    B\nx y   [31mred\n");
    }

    #[test]
    fn times_are_utc_rfc3339_to_the_second() {
        assert_eq!(time(1_795_914_900_123), "2026-11-29T01:15:00Z");
        assert_eq!(time_or_dash(None), "-");
        assert_eq!(time(i64::MAX), format!("{} (epoch ms)", i64::MAX));
    }

    #[test]
    fn long_messages_are_truncated_on_one_line() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("exactly10!", 10), "exactly10!");
        assert_eq!(truncate("elite designer answered HTTP 400", 10), "elite des…");
        assert_eq!(truncate("two\nlines", 20), "two lines");
    }

    #[test]
    fn key_values_align_and_indent_continuations() {
        let out = key_values(&[("id", "x".into()), ("last failed", "t".into()), ("body", "{\n  \"v\": 1\n}".into())]);
        assert_eq!(out, "id           x\nlast failed  t\nbody         {\n               \"v\": 1\n             }\n");
    }

    #[test]
    fn progress_lines_fill_in_proportion() {
        assert_eq!(progress_line("replaying", 150, 400), format!("replaying  150/400 [{}{}] 37%", "#".repeat(11), ".".repeat(19)));
        assert_eq!(progress_line("purging", 0, 60), format!("purging     0/60 [{}] 0%", ".".repeat(30)));
        assert_eq!(progress_line("replaying", 400, 400), format!("replaying  400/400 [{}] 100%", "#".repeat(30)));
    }

    #[test]
    fn counts_agree_in_number() {
        assert_eq!(count(1, "site", "sites"), "1 site");
        assert_eq!(count(0, "site", "sites"), "0 sites");
    }
}
