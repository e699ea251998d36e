//! The schedules page: each cron of this environment with its plain-English description, its
//! next run times, and its last run with status (catch-up runs marked).

use std::fmt::Write as _;

use crate::html::{datetime, esc, notice, time, url};
use crate::schedules::{LastRun, ScheduleRow};

pub fn list(rows: &[ScheduleRow], lookup_error: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(e) = lookup_error {
        out.push_str(&notice(
            "error",
            &format!("The last runs could not be read from the ledger: {e}"),
            "Reload the page; if this persists, check the ledger Worker's log.",
        ));
    }
    if rows.is_empty() {
        out.push_str(&notice(
            "empty",
            "No schedule runs in this environment.",
            "Schedules are listed in shared/src/schedule.rs, per environment.",
        ));
        return out;
    }
    out.push_str(
        "<div class=\"scroll\"><table class=\"schedules\"><thead><tr><th>Cron (UTC)</th><th>Task</th><th class=\"wide\">When</th>\
         <th>Next runs</th><th>Last run</th></tr></thead><tbody>",
    );
    for r in rows {
        let next: Vec<String> = r.next.iter().map(|t| format!("<span class=\"nowrap\">{}</span>", datetime(*t))).collect();
        let last = match &r.last {
            LastRun::Never => "<span class=\"muted\">none recorded</span>".to_owned(),
            LastRun::Run { id, scheduled_ms, status, catch_up } => format!(
                "<a href=\"/sweeps/{}\">{}</a><br><span class=\"status {s}\">{s}</span> {}{}",
                url(id),
                esc(id),
                time(Some(*scheduled_ms)),
                if *catch_up { " <span class=\"badge\">catch-up</span>" } else { "" },
                s = status.as_str(),
            ),
        };
        let _ = write!(
            out,
            "<tr data-task=\"{task}\"><td><code>{cron}</code></td><td>{task}</td><td>{english}<br><small>{why}</small></td>\
             <td>{next}</td><td>{last}</td></tr>",
            cron = esc(r.schedule.cron),
            task = r.schedule.task.as_str(),
            english = esc(&r.english),
            why = esc(r.schedule.description),
            next = next.join("<br>"),
        );
    }
    out.push_str("</tbody></table></div><p class=\"hint\">A run marked catch-up started 10 minutes or more after its slot: a missed slot caught up by a later tick, or a backfill.</p>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedules::rows;
    use chrono::TimeZone;
    use code24_shared::names::Environment;

    #[test]
    fn the_schedules_page() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 29, 4, 31, 0).unwrap();
        let html = list(&rows(Environment::Local, now, &[]), None);
        for e in [
            "<code>*/3 * * * *</code>",
            "Every 3rd minute",
            "2026-11-29 04:33Z</span><br><span class=\"nowrap\">2026-11-29 04:36Z",
            "At 23:59 on the last weekday",
            "none recorded",
        ] {
            assert!(html.contains(e), "missing {e} in {html}");
        }
        assert!(list(&[], Some("down")).contains("could not be read from the ledger: down"));
    }
}
