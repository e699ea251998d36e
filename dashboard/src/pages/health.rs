//! The health page (`/status`): the platform's health from the admin API's `GET /api/health`:
//! the latest health check (each check with its latency), the elite breakers' states and their
//! history (or "no breaker data"), the incidents (open first) and the alert messages with what
//! became of each. Read-only.

use std::fmt::Write;

use code24_shared::alerts::outbox::Message;
use code24_shared::alerts::HealthView;
use code24_shared::breaker::BreakersView;
use code24_shared::reports::health::{CheckGroup, HealthReport};

use crate::html::{esc, notice, time};

pub fn page(view: &HealthView) -> String {
    let mut out = String::new();
    out.push_str("<section data-section=\"health-check\"><h2>Latest health check</h2>");
    match &view.health_check {
        Some(report) => health_check(&mut out, report),
        None => out.push_str(&notice(
            "empty",
            "No health check report in the last two hours.",
            "The hourly health check writes dev/health-checks/{timestamp}.json where it is scheduled (dev, local).",
        )),
    }
    out.push_str("</section><section data-section=\"breakers\"><h2>Elite breakers</h2>");
    match &view.breakers {
        Some(b) => breakers(&mut out, b),
        None => out.push_str(&notice("empty", "No breaker data.", "The ledger reports no breakers (yet): every role's calls flow.")),
    }
    out.push_str("</section><section data-section=\"incidents\"><h2>Incidents</h2>");
    incidents(&mut out, view);
    let _ =
        write!(out, "</section><section data-section=\"alerts\"><h2>Alerts</h2><p class=\"hint\">Alerts go to: {}</p>", esc(&view.webhook));
    alerts(&mut out, &view.alerts);
    out.push_str("</section>");
    out
}

fn health_check(out: &mut String, r: &HealthReport) {
    let status = format!("{:?}", r.status).to_lowercase();
    let _ = write!(
        out,
        "<p>Run <code>{}</code> at {}: <strong class=\"status {status}\" data-field=\"status\">{status}</strong> · elite {}</p>\
         <table class=\"checks\"><thead><tr><th>Check</th><th>Group</th><th>Result</th><th>Latency</th><th>Detail</th></tr></thead><tbody>",
        esc(&r.run_id),
        esc(&r.generated_at),
        esc(&r.elite.summary)
    );
    for c in &r.checks {
        let group = match c.group {
            CheckGroup::Elite => "elite",
            CheckGroup::Platform => "platform",
            CheckGroup::Sites => "sites",
        };
        let _ = write!(
            out,
            "<tr data-check=\"{name}\"><td>{name}</td><td>{group}</td><td data-field=\"ok\">{ok}</td><td data-field=\"latency\">{} ms</td><td>{}</td></tr>",
            c.latency_ms,
            esc(&c.detail),
            name = esc(&c.name),
            ok = if c.ok { "ok" } else { "failed" },
        );
    }
    out.push_str("</tbody></table>");
}

fn breakers(out: &mut String, b: &BreakersView) {
    out.push_str("<table class=\"breakers\"><thead><tr><th>Role</th><th>State</th><th>Since</th><th>Cool-down</th><th>Reason</th></tr></thead><tbody>");
    for x in &b.breakers {
        let _ = write!(
            out,
            "<tr data-breaker=\"{role}\"><td>{role}</td><td data-field=\"state\">{}</td><td>{}</td><td>{} s</td><td>{}</td></tr>",
            x.state.as_str(),
            time(Some(x.since_ms)),
            x.cool_down_ms / 1000,
            esc(&x.reason),
            role = esc(x.role.as_str()),
        );
    }
    out.push_str("</tbody></table><h3>History</h3>");
    if b.transitions.is_empty() {
        out.push_str("<p class=\"hint\">No transition recorded.</p>");
        return;
    }
    out.push_str(
        "<table class=\"transitions\"><thead><tr><th>When</th><th>Role</th><th>From</th><th>To</th><th>Calls</th><th>Failures</th>\
         <th>Reason</th></tr></thead><tbody>",
    );
    for t in b.transitions.iter().rev() {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            time(Some(t.at_ms)),
            esc(t.role.as_str()),
            t.from.as_str(),
            t.to.as_str(),
            t.calls,
            t.failures,
            esc(&t.reason)
        );
    }
    out.push_str("</tbody></table>");
}

fn incidents(out: &mut String, view: &HealthView) {
    if view.incidents.is_empty() {
        out.push_str(&notice(
            "empty",
            "No incidents.",
            "An incident opens when a health check fails, a breaker opens, a sweep lags, dead letters pile up or a monthly report is late.",
        ));
        return;
    }
    out.push_str("<table class=\"incidents\"><thead><tr><th>State</th><th>Incident</th><th>Severity</th><th>Opened</th><th>Resolved</th><th>Summary</th></tr></thead><tbody>");
    for i in &view.incidents {
        let _ = write!(
            out,
            "<tr data-incident=\"{id}\" data-key=\"{key}\"><td data-field=\"state\">{}</td><td><code>{id}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if i.is_open() { "open" } else { "resolved" },
            i.severity.as_str(),
            time(Some(i.opened_ms)),
            time(i.resolved_ms),
            esc(&i.summary),
            id = esc(&i.id),
            key = esc(&i.key),
        );
    }
    out.push_str("</tbody></table>");
}

fn alerts(out: &mut String, alerts: &[Message]) {
    if alerts.is_empty() {
        out.push_str("<p class=\"hint\">No alert written yet.</p>");
        return;
    }
    out.push_str(
        "<table class=\"alerts\"><thead><tr><th>Written</th><th>Message</th><th>Status</th><th>Attempts</th><th>Sent</th><th>Text</th>\
         <th>Last error</th></tr></thead><tbody>",
    );
    for m in alerts {
        let text = m.text();
        let _ = write!(
            out,
            "<tr data-alert=\"{id}\"><td>{}</td><td><code>{id}</code></td><td data-field=\"status\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            time(Some(m.created_ms)),
            m.status.as_str(),
            m.attempts,
            time(m.sent_ms),
            esc(&text),
            esc(m.last_error.as_deref().unwrap_or("")),
            id = esc(&m.id),
        );
    }
    out.push_str("</tbody></table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use code24_shared::alerts::incidents::Incident;
    use code24_shared::alerts::outbox::Phase;
    use code24_shared::alerts::Severity;
    use code24_shared::reports::health::Check;

    fn view() -> HealthView {
        let checks = vec![
            Check { name: "canary".into(), group: CheckGroup::Platform, ok: false, latency_ms: 41, detail: "HTTP 503 <simulated>".into() },
            Check { name: "d1".into(), group: CheckGroup::Platform, ok: true, latency_ms: 7, detail: "SELECT 1 answered".into() },
        ];
        let incident = Incident {
            id: "health:failing.1800000000000".into(),
            key: "health:failing".into(),
            severity: Severity::Critical,
            summary: "health check x is failing: canary (<503>)".into(),
            opened_ms: 1_800_000_000_000,
            resolved_ms: None,
        };
        let message = Message::new("local", &incident, Phase::Open, 1_800_000_000_000);
        HealthView {
            health_check: Some(HealthReport::new("local.health-check.x", "s", "2027-01-15T08:00:00Z", checks, Vec::new())),
            breakers: None,
            incidents: vec![incident],
            alerts: vec![message],
            webhook: "the local stand-in".into(),
        }
    }

    #[test]
    fn the_page_shows_each_check_with_its_latency_incidents_and_alerts_escaped() {
        let html = page(&view());
        for fragment in [
            "data-field=\"status\">failing<",
            "data-check=\"canary\"",
            "data-field=\"latency\">41 ms<",
            "HTTP 503 &lt;simulated&gt;",
            "No breaker data.",
            "data-key=\"health:failing\"",
            "data-field=\"state\">open<",
            "(&lt;503&gt;)",
            "data-alert=\"health:failing.1800000000000.open\"",
            "data-field=\"status\">pending<",
            "[local] critical incident health:failing",
            "Alerts go to: the local stand-in",
        ] {
            assert!(html.contains(fragment), "{fragment}: {html}");
        }
        assert!(!html.contains("<simulated>") && !html.contains("<503>"), "every value is escaped");
    }

    #[test]
    fn breakers_and_their_history_show_when_the_ledger_has_them() {
        let answer = r#"{"breakers":[{"role":"brand","state":"open","since_ms":1000,"reason":"7 of 10 failed","cool_down_ms":30000}],
            "transitions":[{"at_ms":1000,"role":"brand","from":"closed","to":"open","reason":"7 of 10 failed","calls":10,"failures":7}]}"#;
        let view = HealthView { breakers: BreakersView::decode(200, answer), health_check: None, ..view() };
        let html = page(&view);
        for fragment in [
            "data-breaker=\"brand\"",
            "data-field=\"state\">open<",
            "30 s",
            "<td>closed</td><td>open</td><td>10</td><td>7</td>",
            "No health check report",
        ] {
            assert!(html.contains(fragment), "{fragment}: {html}");
        }
    }
}
