//! The audit page: the admin API's audit log (`GET /api/audit`), newest first, with its
//! filters (actor, action) and a link to the next page. Read-only, like the API: the page has
//! no form that changes an entry.

use std::fmt::Write;

use code24_shared::audit::AuditPage;

use crate::html::{esc, notice, url};

/// The filter form and one page of entries. `actor` and `action` are the current filter.
pub fn list(page: &AuditPage, actor: &str, action: &str) -> String {
    let mut out = format!(
        "<form class=\"filters\" method=\"get\" action=\"/audit\"><label>Actor<input name=\"actor\" value=\"{}\"></label> \
         <label>Action<input name=\"action\" value=\"{}\" placeholder=\"dead_letters.purge\"></label> <button>Filter</button></form>",
        esc(actor),
        esc(action)
    );
    if page.entries.is_empty() {
        out.push_str(&notice("empty", "No audit entries match.", "Every change made through the API or this dashboard is listed here."));
        return out;
    }
    out.push_str(
        "<div class=\"scroll\"><table class=\"audit\"><thead><tr><th>When (UTC)</th><th>Who</th><th>Action</th><th>Count</th><th>Outcome</th>\
         <th>Reason</th><th>Request</th></tr></thead><tbody>",
    );
    for e in &page.entries {
        let when = chrono::DateTime::from_timestamp_millis(e.at_ms)
            .map_or_else(|| e.at_ms.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string());
        let _ = write!(
            out,
            "<tr data-audit-id=\"{id}\"><td>{when}</td><td data-field=\"actor\">{actor} <small>{kind}</small></td>\
             <td data-field=\"action\">{action}</td><td data-field=\"count\">{count}</td><td data-field=\"outcome\">{outcome}</td>\
             <td data-field=\"reason\">{reason}</td><td><code>{request}</code></td></tr>",
            id = e.id,
            actor = esc(&e.actor),
            kind = esc(&e.actor_kind),
            action = esc(&e.action),
            count = e.count,
            outcome = esc(&e.outcome),
            reason = esc(e.reason.as_deref().unwrap_or("")),
            request = esc(&e.request),
        );
    }
    out.push_str("</tbody></table></div>");
    if let Some(cursor) = &page.next_cursor {
        let _ = write!(
            out,
            "<p class=\"more\"><a href=\"/audit?cursor={}&amp;actor={}&amp;action={}\">Older entries</a></p>",
            url(cursor),
            url(actor),
            url(action)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use code24_shared::audit::AuditEntry;

    #[test]
    fn audit_page_lists_entries_escaped_with_a_next_link_and_no_form_that_changes_them() {
        let entry = AuditEntry {
            id: 7,
            at_ms: 1_795_000_000_000,
            actor_kind: "operator".into(),
            actor: "ops@example.com".into(),
            action: "dead_letters.purge".into(),
            request: r#"{"body":{"ids":["<x>"]}}"#.into(),
            count: 2,
            status: 200,
            outcome: "ok".into(),
            reason: Some("ticket <42>".into()),
        };
        let html = list(&AuditPage { entries: vec![entry], next_cursor: Some("7".into()) }, "ops@example.com", "");
        for fragment in ["ops@example.com", "dead_letters.purge", "data-field=\"count\">2<", "ticket &lt;42&gt;", "&lt;x&gt;", "cursor=7"] {
            assert!(html.contains(fragment), "{fragment}: {html}");
        }
        assert!(!html.contains("method=\"post\""), "the audit page changes nothing");
        assert!(list(&AuditPage { entries: vec![], next_cursor: None }, "", "").contains("No audit entries match"));
    }
}
