//! HTML building blocks of the dashboard: escaping, the page frame, times and durations, the
//! stacked progress bar, and the empty and error notices. Every value that reaches a page goes
//! through [`esc`] (text and attributes alike), so no stored string (an error message, a
//! customer's URL, a dead letter's body) can become markup.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use code24_shared::ids::from_epoch_ms;
use code24_shared::ledger::RunProgress;

/// `raw` with the five HTML-significant characters escaped; safe in text and in quoted
/// attribute values.
pub fn esc(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `raw` percent-encoded for a URL path segment or query value.
pub fn url(raw: &str) -> String {
    code24_shared::url::percent_encode(raw)
}

/// A sections of the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Sweeps,
    Schedules,
    DeadLetters,
    Sites,
    Audit,
    Reports,
    Health,
    /// The login page and error pages outside a session: no navigation.
    None,
}

const NAV: [(Nav, &str, &str); 7] = [
    (Nav::Sweeps, "/", "Sweeps"),
    (Nav::Schedules, "/schedules", "Schedules"),
    (Nav::DeadLetters, "/dead-letters", "Dead letters"),
    (Nav::Sites, "/sites", "Sites"),
    (Nav::Audit, "/audit", "Audit"),
    (Nav::Reports, "/reports", "Reports"),
    (Nav::Health, "/status", "Health"),
];

/// A whole page. `csrf` is the session's token (for the logout forms) and `who` the signed-in
/// actor (an operator's email, or the service identity of a token login), both `None` outside a
/// session. `body` must already be HTML.
pub fn page(title: &str, nav: Nav, environment: &str, csrf: Option<&str>, who: Option<&str>, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 1_500);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Code24 {}</title><link rel=\"stylesheet\" href=\"/static/dash.css\">\
         <script src=\"/static/dash.js\" defer></script></head><body><header><a class=\"brand\" href=\"/\">Code24 \
         <small>{}</small></a>",
        esc(title),
        esc(environment),
        esc(environment)
    );
    if nav != Nav::None {
        out.push_str("<nav>");
        for (item, href, label) in NAV {
            let current = if item == nav { " aria-current=\"page\"" } else { "" };
            let _ = write!(out, "<a href=\"{href}\"{current}>{label}</a>");
        }
        out.push_str("</nav>");
    }
    if let Some(who) = who {
        let _ = write!(out, "<span class=\"who\" id=\"who\">{}</span>", esc(who));
    }
    if let Some(token) = csrf {
        let _ = write!(
            out,
            "<form class=\"logout\" method=\"post\" action=\"/logout\">{}<button>Log out</button> \
             <button formaction=\"/logout-everywhere\" id=\"logout-everywhere\">Log out everywhere</button></form>",
            csrf_input(token)
        );
    }
    let _ = write!(out, "</header><main><h1>{}</h1>{body}</main></body></html>", esc(title));
    out
}

/// The hidden CSRF field of a state-changing form.
pub fn csrf_input(token: &str) -> String {
    format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", crate::session::CSRF_FIELD, esc(token))
}

/// A notice box: `kind` is `empty`, `error` or `ok`.
pub fn notice(kind: &str, what: &str, todo: &str) -> String {
    format!("<div class=\"notice {kind}\" role=\"status\"><p><strong>{}</strong></p><p>{}</p></div>", esc(what), esc(todo))
}

/// `2026-11-29 04:33:00Z`, or `—` when absent or out of range.
pub fn time(ms: Option<i64>) -> String {
    ms.and_then(from_epoch_ms).map_or_else(|| "—".to_owned(), datetime)
}

/// `2026-11-29 04:33Z` (`:ss` only when not zero).
pub fn datetime(t: DateTime<Utc>) -> String {
    if t.timestamp() % 60 == 0 {
        t.format("%Y-%m-%d %H:%MZ").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%SZ").to_string()
    }
}

/// A short duration: `850 ms`, `12.3 s`, `4 min 05 s`, `3 h 07 min`, `2 d 4 h`.
pub fn duration(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let s = ms / 1_000;
    let text = match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1_000.0),
        60_000..3_600_000 => format!("{} min {:02} s", s / 60, s % 60),
        3_600_000..86_400_000 => format!("{} h {:02} min", s / 3_600, s / 60 % 60),
        _ => format!("{} d {} h", s / 86_400, s / 3_600 % 24),
    };
    format!("{sign}{text}")
}

/// The parts of a sweep's stacked bar: (css class, label, count), in drawing order. What is
/// left of the bar is queued (enqueued or about to be, not yet claimed).
pub fn bar_parts(p: &RunProgress) -> [(&'static str, &'static str, u64); 5] {
    let running = p.in_flight;
    [
        ("ok", "succeeded", p.succeeded),
        ("dead", "dead", p.dead),
        ("sup", "superseded", p.superseded),
        ("retry", "retrying", p.retrying),
        ("run", "running", running),
    ]
}

/// The stacked progress bar of a sweep as inline SVG (no inline styles: the dashboard's
/// Content-Security-Policy allows none), with a text legend for screen readers and tests.
pub fn progress_bar(p: &RunProgress) -> String {
    // A run's fan-in job (monthly analytics' finalize) ends beyond the expected count.
    let total = bar_parts(p).iter().map(|(_, _, n)| n).sum::<u64>().max(p.expected).max(1) as f64;
    let mut out = format!(
        "<svg class=\"bar\" viewBox=\"0 0 100 4\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{} of {} ended\">",
        p.succeeded + p.dead + p.superseded,
        p.expected
    );
    let mut x = 0.0;
    for (class, _, n) in bar_parts(p) {
        if n == 0 {
            continue;
        }
        let w = n as f64 / total * 100.0;
        let _ = write!(out, "<rect class=\"{class}\" x=\"{x:.2}\" y=\"0\" width=\"{w:.2}\" height=\"4\"></rect>");
        x += w;
    }
    out.push_str("</svg><p class=\"legend\">");
    let _ = write!(out, "<span data-count=\"expected\">expected {}</span>", p.expected);
    for (class, label, n) in bar_parts(p) {
        let _ = write!(out, " <span class=\"{class}\" data-count=\"{label}\">{label} {n}</span>");
    }
    out.push_str("</p>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        for (raw, expected) in [
            ("plain", "plain"),
            ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
            ("a \"b\" 'c' & d", "a &quot;b&quot; &#39;c&#39; &amp; d"),
            ("", ""),
            ("ünïcode ✓", "ünïcode ✓"),
        ] {
            assert_eq!(esc(raw), expected, "{raw}");
        }
    }

    #[test]
    fn durations_and_times() {
        for (ms, expected) in [
            (0, "0 ms"),
            (850, "850 ms"),
            (12_345, "12.3 s"),
            (245_000, "4 min 05 s"),
            (11_220_000, "3 h 07 min"),
            (187_200_000, "2 d 4 h"),
            (-1_500, "-1.5 s"),
        ] {
            assert_eq!(duration(ms), expected, "{ms}");
        }
        assert_eq!(time(Some(1_795_919_580_000)), "2026-11-29 02:33Z");
        assert_eq!(time(Some(1_795_919_581_000)), "2026-11-29 02:33:01Z");
        assert_eq!(time(None), "—");
    }

    #[test]
    fn progress_bars_never_overflow() {
        let check = |expected, succeeded, dead, in_flight, widths: &[&str]| {
            let p: RunProgress = serde_json::from_value(serde_json::json!({
                "sweep_id": "s", "task": "optimize", "scheduled_ms": 0, "phase": "enqueued", "expected": expected,
                "enqueued": expected, "in_flight": in_flight, "retrying": 0, "succeeded": succeeded, "dead": dead,
                "superseded": 0, "duplicates": 0, "firings": 1, "started_ms": 0, "fanout_done_ms": null,
                "finished_ms": null, "complete": false
            }))
            .unwrap();
            let bar = progress_bar(&p);
            let found: Vec<&str> = bar.split("width=\"").skip(1).map(|w| w.split('"').next().unwrap()).collect();
            assert_eq!(found, widths, "{bar}");
        };
        check(4, 2, 1, 1, &["50.00", "25.00", "25.00"]);
        check(4, 1, 0, 0, &["25.00"]);
        // A monthly run's finalize job ends beyond the expected count.
        check(11, 12, 0, 0, &["100.00"]);
        check(0, 0, 0, 0, &[]);
    }

    #[test]
    fn pages_escape_their_title_and_carry_the_csrf_token() {
        let html = page("<b>", Nav::Sites, "local", Some("t\"k"), Some("o<p>s@example.com"), "<p>x</p>");
        assert!(html.contains("id=\"who\">o&lt;p&gt;s@example.com</span>"), "{html}");
        assert!(html.contains("<title>&lt;b&gt; · Code24 local</title>"), "{html}");
        assert!(html.contains("name=\"csrf\" value=\"t&quot;k\""), "{html}");
        assert!(html.contains("<a href=\"/sites\" aria-current=\"page\">Sites</a>"));
        assert!(html.contains("name=\"viewport\""));
        let out = page("Log in", Nav::None, "local", None, None, "");
        assert!(!out.contains("<nav>") && !out.contains("/logout"));
    }
}
