//! What operators read: aligned tables, key/value views, UTC times, truncated and sanitised
//! text, and the progress of long replays and purges. Tables are drawn by `comfy-table` and
//! the progress bar by `indicatif`; this module holds the look they are given (borderless
//! columns two spaces apart; one bar line on stderr) and what no crate knows about our data
//! (sanitising API values, UTC times, counts). Everything but the terminal bar returns
//! strings, so formatting is tested without a terminal.

use std::io::Write;

use chrono::{SecondsFormat, TimeZone, Utc};
use comfy_table::presets::NOTHING;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Longest error message a list shows; `show` prints it whole.
pub(crate) const LIST_MESSAGE_CHARS: usize = 60;
/// Width of the progress bar between its brackets.
const BAR_WIDTH: usize = 30;
/// Spaces between two columns of a table.
const COLUMN_GAP: u16 = 2;

/// Writes `text` to stdout. A reader that stops early (`code24-ops dlq list | head`) ends the
/// output quietly instead of panicking, as `print!` would on the closed pipe.
pub(crate) fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => eprintln!("warning: cannot write the output: {e}"),
        _ => {}
    }
}

/// A table with a header row and left-aligned columns separated by two spaces, without
/// borders, so `grep`, `cut` and `awk` read it as they read `ps` or `kubectl get`. No line
/// ends in spaces.
#[derive(Debug)]
pub(crate) struct Table(comfy_table::Table);

impl Table {
    pub(crate) fn new(headers: &[&'static str]) -> Self {
        let mut table = borderless();
        table.set_header(headers.to_vec());
        Self(table)
    }

    /// Adds a row; each cell is sanitised, so an API value cannot break the layout or send
    /// escape sequences to the terminal.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.0.add_row(cells.iter().map(|c| clean(c)).collect::<Vec<_>>());
    }

    pub(crate) fn render(&self) -> String {
        render(&self.0)
    }
}

/// A table in our look: no borders or rules, columns two spaces apart, and no wrapping to the
/// terminal's width (the default arrangement), so a row stays one line whatever reads it.
fn borderless() -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table.load_style(NOTHING);
    table
}

/// The lines of `table` without trailing spaces, each ending in a newline.
fn render(table: &comfy_table::Table) -> String {
    let mut table = table.clone();
    // Columns exist once rows do; each gets the gap on its right (the last one's is trimmed).
    for column in table.column_iter_mut() {
        column.set_padding((0, COLUMN_GAP));
    }
    let mut out = table.trim_fmt();
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// Key/value lines with the values aligned, for the `show` commands. A multi-line value is
/// indented under its key (a two-column table: its cells keep their lines).
pub(crate) fn key_values(pairs: &[(&str, String)]) -> String {
    let mut table = borderless();
    for (key, value) in pairs {
        let lines: Vec<String> = value.lines().map(clean).collect();
        table.add_row(vec![(*key).to_owned(), lines.join("\n")]);
    }
    render(&table)
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
/// `replaying  150/400 [###########...................] 37%`: the line a log gets per chunk
/// when stderr is not a terminal, and the look of the terminal's bar ([`bar_template`]).
pub(crate) fn progress_line(label: &str, done: usize, total: usize) -> String {
    let total_width = total.to_string().len();
    let (filled, percent) = match total {
        0 => (BAR_WIDTH, 100),
        _ => (BAR_WIDTH * done.min(total) / total, 100 * done.min(total) / total),
    };
    format!("{label:<10} {done:>total_width$}/{total} [{}{}] {percent}%", "#".repeat(filled), ".".repeat(BAR_WIDTH - filled))
}

/// The `indicatif` template of the terminal's bar: [`progress_line`]'s fields, and the time
/// left (a paced replay of a thousand entries at `--rate 10` runs for minutes).
fn bar_template(total: usize) -> String {
    let total_width = total.to_string().len();
    format!("{{prefix:<10}} {{pos:>{total_width}}}/{{len}} [{{bar:{BAR_WIDTH}}}] {{percent}}% (eta {{eta}})")
}

/// The progress of a long replay or purge, on stderr. On a terminal it is an `indicatif` bar
/// redrawn in place; otherwise (a script, a CI log) one plain [`progress_line`] per update,
/// because a bar redrawn with carriage returns is unreadable in a log, and `indicatif` draws
/// nothing where stderr is not a terminal.
#[derive(Debug)]
pub(crate) struct Progress {
    label: &'static str,
    total: usize,
    /// The terminal's bar; `None` when stderr is not a terminal.
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar on stderr when `terminal`, plain lines otherwise.
    pub(crate) fn new(label: &'static str, total: usize, terminal: bool) -> Self {
        Self::drawn_to(label, total, terminal.then(ProgressDrawTarget::stderr))
    }

    /// A bar drawn to `target`, or plain lines on stderr without one.
    fn drawn_to(label: &'static str, total: usize, target: Option<ProgressDrawTarget>) -> Self {
        let bar = target.map(|target| {
            // The template is ours and constant but for a number; a test renders it.
            let style =
                ProgressStyle::with_template(&bar_template(total)).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("#.");
            ProgressBar::with_draw_target(Some(total as u64), target).with_style(style).with_prefix(label)
        });
        let progress = Self { label, total, bar };
        progress.update(0);
        progress
    }

    pub(crate) fn update(&self, done: usize) {
        match &self.bar {
            Some(bar) => bar.set_position(done as u64),
            None => {
                // A failed write to stderr only loses the progress display; the work goes on.
                let _ = writeln!(std::io::stderr().lock(), "{}", progress_line(self.label, done, self.total));
            }
        }
    }

    /// Leaves the bar where it stands (full after a whole run, partial when a chunk failed),
    /// so later output starts on a fresh line below it.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
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
    fn the_terminal_bar_draws_what_the_log_line_says() {
        let terminal = indicatif::InMemoryTerm::new(4, 100);
        let progress = Progress::drawn_to("replaying", 60, Some(ProgressDrawTarget::term_like(Box::new(terminal.clone()))));
        progress.update(50);
        progress.finish();
        let shown = terminal.contents();
        assert!(shown.starts_with(&format!("replaying  50/60 [{}{}] 83% (eta ", "#".repeat(25), ".".repeat(5))), "{shown:?}");
        assert_eq!(shown.lines().count(), 1, "one line, redrawn in place: {shown:?}");
    }

    #[test]
    fn counts_agree_in_number() {
        assert_eq!(count(1, "site", "sites"), "1 site");
        assert_eq!(count(0, "site", "sites"), "0 sites");
    }
}
