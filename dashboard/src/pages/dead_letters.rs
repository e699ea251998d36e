//! The dead-letter pages: a filterable table, one entry with its original body and error, and
//! the two-step replay and purge: a dry-run preview (which lists exactly the entries the action
//! would take) whose confirmation form posts those ids with the session's CSRF token, then
//! the outcome.

use std::fmt::Write as _;

use crate::html::{csrf_input, esc, notice, time, url};
use code24_shared::dead_letters::query::{DeadLetterDetail, DeadLetterEntry, DeadLetterPage, FILTER_PARAMS};
use code24_shared::dead_letters::selection::SelectionOutcome;

/// Most entries one confirmation takes: the ids travel in the form, and a larger set is a job
/// for `code24-ops dlq replay`, which chunks and paces it.
pub const MAX_CONFIRM: u32 = 200;

/// A replay or a purge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Replay,
    Purge,
}

impl Action {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "replay" => Some(Self::Replay),
            "purge" => Some(Self::Purge),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replay => "replay",
            Self::Purge => "purge",
        }
    }

    fn verb(self) -> (&'static str, &'static str) {
        match self {
            Self::Replay => ("Replay", "replayed"),
            Self::Purge => ("Purge", "purged"),
        }
    }
}

/// The comma-separated ids of a confirmation form, each checked like the API checks them.
pub fn parse_ids(raw: &str) -> Result<Vec<String>, String> {
    // A repeated id is taken once: the API would otherwise select (and replay) it twice.
    let mut ids: Vec<String> = Vec::new();
    for id in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !ids.iter().any(|seen| seen == id) {
            ids.push(id.to_owned());
        }
    }
    if ids.is_empty() || ids.len() > MAX_CONFIRM as usize {
        return Err(format!("a confirmation takes 1 to {MAX_CONFIRM} ids"));
    }
    match ids.iter().find(|id| !code24_shared::dead_letters::record::valid_entry_id(id)) {
        Some(bad) => Err(format!("{bad:?} is not a dead-letter id")),
        None => Ok(ids),
    }
}

fn short(message: &str) -> String {
    let cut: String = message.chars().take(90).collect();
    if cut.len() < message.len() {
        format!("{}…", esc(&cut))
    } else {
        esc(&cut)
    }
}

/// The table of entries (also used on a sweep's page).
pub fn table(entries: &[DeadLetterEntry]) -> String {
    let mut out = String::from(
        "<div class=\"scroll\"><table class=\"dead-letters\"><thead><tr><th>Entry</th><th>Customer</th><th>Status</th>\
         <th>Class</th><th>Tries</th><th>Replays</th><th>Last failed</th><th class=\"wide\">Error</th></tr></thead><tbody>",
    );
    for e in entries {
        let _ = write!(
            out,
            "<tr data-entry=\"{id}\"><td><a href=\"/dead-letters/{href}\">{id}</a></td><td>{customer}</td>\
             <td><span class=\"status {status}\">{status}</span></td><td>{class}</td><td>{tries}</td><td>{replays}</td>\
             <td>{last}</td><td>{error}</td></tr>",
            id = esc(&e.id),
            href = url(&e.id),
            customer = esc(e.customer_id.as_deref().unwrap_or("—")),
            status = esc(&e.status),
            class = esc(&e.error_class),
            tries = e.attempts,
            replays = e.replay_count,
            last = time(Some(e.last_failed_ms)),
            error = short(&e.error_message),
        );
    }
    out.push_str("</tbody></table></div>");
    out
}

fn select(name: &str, current: &str, options: &[&str]) -> String {
    let mut out = format!("<label>{name}<select name=\"{name}\"><option value=\"\">any</option>");
    for o in options {
        let selected = if *o == current { " selected" } else { "" };
        let _ = write!(out, "<option{selected}>{o}</option>");
    }
    out.push_str("</select></label>");
    out
}

/// The list page. `query` holds the filter parameters as given (validated by the API, which
/// answered `page`); `query_string` is them encoded, for the action and next-page links.
pub fn list(page: &DeadLetterPage, query: &[(String, String)], query_string: &str) -> String {
    let value = |name: &str| query.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str());
    let mut out = String::from("<form class=\"filters\" method=\"get\" action=\"/dead-letters\">");
    for name in ["customer_id", "sweep_id"] {
        let _ = write!(out, "<label>{name}<input name=\"{name}\" value=\"{}\"></label>", esc(value(name)));
    }
    out.push_str(&select("error_class", value("error_class"), &["transient", "permanent"]));
    out.push_str(&select("status", value("status"), &["dead", "replayed", "purged"]));
    out.push_str("<button>Filter</button> <a href=\"/dead-letters\">Clear</a></form>");
    if page.store.near_capacity {
        out.push_str(&notice(
            "error",
            &format!("The store holds {} rows, at or above its warning level of {}.", page.store.rows, page.store.warn_at),
            "Purge what is no longer needed, or raise DEAD_LETTER_WARN_ROWS.",
        ));
    }
    if page.dead_letters.is_empty() {
        let filtered = query.iter().any(|(k, v)| FILTER_PARAMS.contains(&k.as_str()) && !v.is_empty());
        out.push_str(&if filtered {
            notice("empty", "No dead letters match this filter.", "Clear the filter, or look for status replayed or purged.")
        } else {
            notice(
                "empty",
                "No dead letters.",
                "Jobs that fail permanently, or transiently MAX_ATTEMPTS times, are stored here with their reason.",
            )
        });
        return out;
    }
    out.push_str(&table(&page.dead_letters));
    let amp = if query_string.is_empty() { "" } else { "&" };
    if let Some(next) = &page.next_cursor {
        let _ = write!(out, "<p><a href=\"/dead-letters?{}{amp}cursor={}\">Next page →</a></p>", esc(query_string), url(next));
    }
    let _ = write!(
        out,
        "<p class=\"actions\"><a class=\"button\" href=\"/dead-letters/preview?action=replay{amp}{q}\">Replay the filtered set…</a> \
         <a class=\"button danger\" href=\"/dead-letters/preview?action=purge{amp}{q}\">Purge the filtered set…</a></p>\
         <p class=\"hint\">Both show a dry run first; nothing changes until you confirm.</p>",
        q = esc(query_string),
    );
    out
}

/// One entry: its facts, error, original body and the job's ledger state.
pub fn detail(d: &DeadLetterDetail) -> String {
    let e = &d.entry;
    let mut out = String::new();
    let _ = write!(
        out,
        "<dl class=\"facts\"><dt>Status</dt><dd><span class=\"status {status}\" data-field=\"status\">{status}</span>, {replays} replays</dd>\
         <dt>Job state</dt><dd data-field=\"job_state\">{job}</dd><dt>Customer</dt><dd>{customer}</dd><dt>Sweep</dt><dd>{sweep}</dd>\
         <dt>Origin queue</dt><dd>{queue}</dd><dt>Attempts</dt><dd>{attempts}</dd><dt>First failed</dt><dd>{first}</dd>\
         <dt>Last failed</dt><dd>{last}</dd><dt>Result key</dt><dd>{key}</dd></dl>\
         <h2>Error</h2><p class=\"error\"><strong>{class}</strong>: {message}</p><h2>Original body</h2><pre>{body}</pre>",
        status = esc(&e.status),
        replays = e.replay_count,
        job = esc(d.job_state.as_deref().unwrap_or("unknown (not an optimize job, or pruned)")),
        customer = esc(e.customer_id.as_deref().unwrap_or("—")),
        sweep = e.run_id.as_deref().map_or_else(|| "—".to_owned(), |s| format!("<a href=\"/sweeps/{}\">{}</a>", url(s), esc(s))),
        queue = esc(&e.origin_queue),
        attempts = e.attempts,
        first = time(Some(e.first_failed_ms)),
        last = time(Some(e.last_failed_ms)),
        key = esc(d.result_key.as_deref().unwrap_or("—")),
        class = esc(&e.error_class),
        message = esc(&e.error_message),
        body = esc(e.body.as_deref().unwrap_or("")),
    );
    let _ = write!(
        out,
        "<p class=\"actions\"><a class=\"button\" href=\"/dead-letters/preview?action=replay&amp;ids={id}\">Replay…</a> \
         <a class=\"button danger\" href=\"/dead-letters/preview?action=purge&amp;ids={id}\">Purge…</a></p>",
        id = url(&e.id)
    );
    out
}

fn skipped(outcome: &SelectionOutcome) -> String {
    if outcome.skipped.is_empty() {
        return String::new();
    }
    let mut out = String::from("<h2>Skipped</h2><ul class=\"skipped\">");
    for s in &outcome.skipped {
        let _ = write!(out, "<li><code>{}</code>: {}</li>", esc(&s.id), esc(&s.reason));
    }
    out.push_str("</ul>");
    out
}

fn id_list(ids: &[String]) -> String {
    let mut out = String::from("<ul class=\"ids\">");
    for id in ids {
        let _ = write!(out, "<li><a href=\"/dead-letters/{}\"><code>{}</code></a></li>", url(id), esc(id));
    }
    out.push_str("</ul>");
    out
}

/// The dry-run preview and its confirmation form.
pub fn preview(action: Action, dry: &SelectionOutcome, csrf: &str) -> String {
    let (verb, _) = action.verb();
    let mut out = String::new();
    if dry.done.is_empty() {
        out.push_str(&notice(
            "empty",
            &format!("Nothing to {}: {} matched, none can be taken.", action.as_str(), dry.matched),
            "Only entries with status dead can be replayed; purged entries cannot be purged again.",
        ));
        out.push_str(&skipped(dry));
        return out;
    }
    // A filter preview asks for one entry more than a confirmation takes, to tell "exactly
    // 200" from "more": the confirmation then takes the first 200 (newest first), and says so.
    let done = &dry.done[..dry.done.len().min(MAX_CONFIRM as usize)];
    if done.len() < dry.done.len() {
        out.push_str(&notice(
            "warning",
            &format!("More than {MAX_CONFIRM} dead letters match: this takes the first {MAX_CONFIRM}, newest first."),
            "Confirm, then preview the same filter again for the rest.",
        ));
    }
    let n = done.len();
    let _ = write!(
        out,
        "<p class=\"preview\">Dry run: this would {} <strong data-count=\"would\">{n}</strong> dead letter{} ({} matched). Nothing has changed yet.</p>{}{}",
        action.as_str(),
        if n == 1 { "" } else { "s" },
        dry.matched,
        id_list(done),
        skipped(dry)
    );
    let _ = write!(
        out,
        "<form method=\"post\" action=\"/dead-letters/{a}\" class=\"confirm\">{csrf}<input type=\"hidden\" name=\"ids\" value=\"{ids}\">\
         <label>Reason (kept in the audit log)<input name=\"reason\" id=\"reason\" required maxlength=\"500\"></label> \
         <button class=\"{class}\" id=\"confirm\">{verb} {n} dead letter{s}</button> <a href=\"/dead-letters\">Cancel</a></form>",
        a = action.as_str(),
        csrf = csrf_input(csrf),
        ids = esc(&done.join(",")),
        class = if action == Action::Purge { "danger" } else { "primary" },
        s = if n == 1 { "" } else { "s" },
    );
    out
}

/// What a confirmed replay or purge did.
pub fn outcome(action: Action, done: &SelectionOutcome) -> String {
    let (_, past) = action.verb();
    let n = done.done.len();
    let mut out = notice(
        "ok",
        &format!("{} {n} dead letter{}.", capitalized(past), if n == 1 { "" } else { "s" }),
        match action {
            Action::Replay => "Replays run for their original sweep; watch the entry's job state and the sweep's counts.",
            Action::Purge => "Purged entries leave the default list; filter by status purged to see them.",
        },
    );
    out.push_str(&id_list(&done.done));
    out.push_str(&skipped(done));
    out
}

fn capitalized(word: &str) -> String {
    let mut c = word.chars();
    c.next().map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use code24_shared::dead_letters::record::StoreStats;
    use code24_shared::dead_letters::selection::Skipped;

    fn entry(id: &str, status: &str) -> DeadLetterEntry {
        serde_json::from_value(serde_json::json!({
            "id": id, "origin_queue": "code24-optimize", "job_id": id, "sweep_id": "local.optimize.20261129T023000Z",
            "customer_id": "acme", "error_class": "permanent", "error_message": "<img src=x onerror=alert(1)>",
            "attempts": 1, "first_failed_ms": 0, "last_failed_ms": 0, "status": status, "replay_count": 0,
            "replayed_ms": null, "body": "{\"job_id\":\"<x>\"}"
        }))
        .unwrap()
    }

    #[test]
    fn confirmation_ids() {
        assert_eq!(parse_ids("a.b, c-d,"), Ok(vec!["a.b".to_owned(), "c-d".to_owned()]));
        for bad in ["", " , ", "a b", "x,<y>"] {
            assert!(parse_ids(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_ids("a,b,a"), Ok(vec!["a".to_owned(), "b".to_owned()]), "a repeated id is taken once");
        let many: Vec<String> = (0..=MAX_CONFIRM).map(|i| format!("x{i}")).collect();
        assert!(parse_ids(&many.join(",")).is_err());
        assert_eq!(Action::parse("replay"), Some(Action::Replay));
        assert_eq!(Action::parse("delete"), None);
    }

    #[test]
    fn list_pages() {
        let store = StoreStats::new(5, 100);
        let full = DeadLetterPage { dead_letters: vec![entry("j1", "dead")], next_cursor: Some("1.j1".into()), store: store.clone() };
        let query = vec![("customer_id".to_owned(), "acme".to_owned())];
        let html = list(&full, &query, "customer_id=acme");
        for e in ["&lt;img src=x", "value=\"acme\"", "cursor=1.j1", "preview?action=replay&customer_id=acme", "/dead-letters/j1"] {
            assert!(html.contains(e), "missing {e} in {html}");
        }
        assert!(!html.contains("<img"), "unescaped error message: {html}");
        let empty = DeadLetterPage { dead_letters: vec![], next_cursor: None, store };
        assert!(list(&empty, &query, "customer_id=acme").contains("No dead letters match this filter."));
        assert!(list(&empty, &[], "").contains("No dead letters."));
        let near = DeadLetterPage { dead_letters: vec![], next_cursor: None, store: StoreStats::new(100, 100) };
        assert!(list(&near, &[], "").contains("at or above its warning level"));
    }

    #[test]
    fn detail_preview_and_outcome() {
        let d = DeadLetterDetail {
            entry: entry("j1", "dead"),
            job_state: Some("dead".into()),
            result_key: Some("optimizations/acme/x.json".into()),
        };
        let html = detail(&d);
        for e in ["{&quot;job_id&quot;:&quot;&lt;x&gt;&quot;}", "data-field=\"job_state\">dead<", "preview?action=replay&amp;ids=j1"] {
            assert!(html.contains(e), "missing {e} in {html}");
        }
        let dry = SelectionOutcome {
            dry_run: true,
            matched: 2,
            done: vec!["j1".into()],
            skipped: vec![Skipped { id: "j2".into(), reason: "status is replayed, not dead".into() }],
        };
        let html = preview(Action::Replay, &dry, "tok");
        for e in [
            "would replay <strong data-count=\"would\">1</strong> dead letter (2 matched)",
            "name=\"ids\" value=\"j1\"",
            "value=\"tok\"",
            "Replay 1 dead letter<",
            "status is replayed",
        ] {
            assert!(html.contains(e), "missing {e} in {html}");
        }
        // More than a confirmation takes: the first MAX_CONFIRM, with a warning.
        let over: Vec<String> = (0..=MAX_CONFIRM).map(|i| format!("j{i}")).collect();
        let html = preview(
            Action::Replay,
            &SelectionOutcome { matched: MAX_CONFIRM + 1, done: over.clone(), skipped: vec![], dry_run: true },
            "tok",
        );
        let confirmed = over[..MAX_CONFIRM as usize].join(",");
        assert!(html.contains(&format!("More than {MAX_CONFIRM}")) && html.contains(&format!("value=\"{confirmed}\"")), "{html}");
        assert!(html.contains(&format!("Replay {MAX_CONFIRM} dead letters<")), "{html}");
        let none = SelectionOutcome { done: vec![], ..dry.clone() };
        let html = preview(Action::Purge, &none, "tok");
        assert!(html.contains("Nothing to purge") && !html.contains("<form"), "{html}");
        let html = outcome(Action::Replay, &SelectionOutcome { dry_run: false, ..dry });
        assert!(html.contains("Replayed 1 dead letter.") && html.contains("j2"), "{html}");
    }
}
