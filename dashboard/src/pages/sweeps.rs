//! The sweeps pages: recent sweeps with their progress bars, duration and lag behind the
//! scheduled time; one sweep with its failures and stragglers. A page that shows a running
//! sweep marks its live section with `data-refresh`, and `dash.js` re-fetches the page while
//! the mark is there.

use std::fmt::Write as _;

use crate::html::{duration, esc, notice, progress_bar, time, url};
use crate::schedules::RunStatus;
use code24_shared::dead_letters::query::DeadLetterEntry;
use code24_shared::ledger::RunProgress;

/// How often a live section is refreshed, in milliseconds.
pub const REFRESH_MS: u32 = 2_000;

fn live_open(live: bool) -> String {
    if live {
        format!("<section id=\"live\" data-refresh=\"{REFRESH_MS}\" aria-live=\"polite\">")
    } else {
        "<section id=\"live\">".to_owned()
    }
}

/// How long a sweep took (or has been running, at `now_ms`).
pub fn sweep_duration(p: &RunProgress, now_ms: i64) -> String {
    match p.finished_ms {
        Some(done) => duration(done - p.started_ms),
        None => format!("{} so far", duration(now_ms - p.started_ms)),
    }
}

/// How long after its scheduled time the sweep started (a firing ahead of its scheduled time,
/// as tests and backfills of future slots do, is said so).
pub fn lag(p: &RunProgress) -> String {
    let lag = p.started_ms - p.scheduled_ms;
    if lag < 0 {
        format!("{} early", duration(-lag))
    } else {
        duration(lag)
    }
}

fn status(p: &RunProgress) -> String {
    let s = RunStatus::of(p).as_str();
    format!("<span class=\"status {s}\">{s}</span>")
}

/// The recent sweeps (newest first), or what to do when there are none.
pub fn list(sweeps: &[RunProgress], now_ms: i64) -> String {
    if sweeps.is_empty() {
        return notice(
            "empty",
            "No sweeps yet.",
            "The optimize cron fires every 3 minutes; locally `cargo xtask dev` fires one at start and then acts as the cron clock. Add sites under Sites if the registry is empty.",
        );
    }
    let live = sweeps.iter().any(|p| !p.complete && RunStatus::of(p) == RunStatus::Running);
    let mut out = live_open(live);
    out.push_str(
        "<div class=\"scroll\"><table class=\"sweeps\"><thead><tr><th>Sweep</th><th>Status</th><th class=\"wide\">Progress</th>\
         <th>Duration</th><th>Lag</th></tr></thead><tbody>",
    );
    for p in sweeps {
        let _ = write!(
            out,
            "<tr data-sweep=\"{id}\"><td><a href=\"/sweeps/{href}\">{id}</a><br><small>scheduled {sched}</small></td>\
             <td>{status}</td><td>{bar}</td><td>{dur}</td><td>{lag}</td></tr>",
            id = esc(&p.run_id),
            href = url(&p.run_id),
            sched = time(Some(p.scheduled_ms)),
            status = status(p),
            bar = progress_bar(p),
            dur = sweep_duration(p, now_ms),
            lag = lag(p),
        );
    }
    out.push_str("</tbody></table></div>");
    if live {
        out.push_str("<p class=\"hint\">A sweep is running: this table refreshes itself every 2 s.</p>");
    }
    out.push_str("</section>");
    out
}

/// One sweep: its numbers, its failures (the dead letters stored for it) and its stragglers
/// (jobs not ended yet). `failures` is `Err` when the dead-letter store could not be read.
pub fn detail(p: &RunProgress, failures: &Result<Vec<DeadLetterEntry>, String>, now_ms: i64) -> String {
    let live = RunStatus::of(p) == RunStatus::Running;
    let mut out = live_open(live);
    let _ = write!(
        out,
        "<dl class=\"facts\"><dt>Status</dt><dd>{status}</dd><dt>Task</dt><dd>{task}</dd><dt>Phase</dt><dd>{phase}</dd>\
         <dt>Scheduled</dt><dd>{sched}</dd><dt>Started</dt><dd>{started} (lag {lag})</dd>\
         <dt>Fan-out done</dt><dd>{fanout}</dd><dt>Finished</dt><dd>{finished}</dd><dt>Duration</dt><dd>{dur}</dd>\
         <dt>Firings</dt><dd>{firings}</dd><dt>Duplicate deliveries</dt><dd>{dups}</dd></dl>{bar}",
        status = status(p),
        task = esc(&p.task),
        phase = p.phase.as_str(),
        sched = time(Some(p.scheduled_ms)),
        started = time(Some(p.started_ms)),
        lag = lag(p),
        fanout = time(p.fanout_done_ms),
        finished = time(p.finished_ms),
        dur = sweep_duration(p, now_ms),
        firings = p.firings,
        dups = p.duplicates,
        bar = progress_bar(p),
    );
    out.push_str("<h2>Stragglers</h2>");
    let ended = p.succeeded + p.dead + p.superseded;
    let open = p.expected.saturating_sub(ended);
    if open == 0 {
        out.push_str("<p>None: every expected job ended.</p>");
    } else {
        let queued = open.saturating_sub(p.in_flight + p.retrying);
        let _ = write!(
            out,
            "<p class=\"stragglers\">{open} of {} jobs have not ended: {} running, {} waiting for a retry, {queued} queued.</p>\
             <p class=\"hint\">Retries back off exponentially; a job that keeps failing is dead-lettered after MAX_ATTEMPTS and then appears under failures.</p>",
            p.expected, p.in_flight, p.retrying
        );
    }
    out.push_str("<h2>Failures</h2>");
    match failures {
        Err(e) => out.push_str(&notice(
            "error",
            &format!("The dead-letter store could not be read: {e}"),
            "Reload the page; if this persists, check the dispatcher's log.",
        )),
        Ok(entries) if entries.is_empty() => out.push_str("<p>No dead letters stored for this sweep.</p>"),
        Ok(entries) => {
            out.push_str(&super::dead_letters::table(entries));
            let _ = write!(out, "<p><a href=\"/dead-letters?sweep_id={}\">Replay or purge these…</a></p>", url(&p.run_id));
        }
    }
    out.push_str("</section>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use code24_shared::ledger::RunPhase;

    pub(crate) fn progress(complete: bool) -> RunProgress {
        RunProgress {
            run_id: "local.optimize.20261129T023000Z".into(),
            task: "optimize".into(),
            scheduled_ms: 1_795_919_400_000,
            phase: RunPhase::Enqueued,
            expected: 11,
            enqueued: 11,
            in_flight: if complete { 0 } else { 2 },
            retrying: if complete { 0 } else { 1 },
            succeeded: if complete { 10 } else { 5 },
            dead: 1,
            superseded: 0,
            duplicates: 0,
            firings: 1,
            started_ms: 1_795_919_401_500,
            fanout_done_ms: Some(1_795_919_401_600),
            finished_ms: complete.then_some(1_795_919_403_000),
            complete,
        }
    }

    #[test]
    fn a_list_of_sweeps() {
        let check = |sweeps: &[RunProgress], expected: &[&str], absent: &[&str]| {
            let html = list(sweeps, 1_795_919_410_000);
            for e in expected {
                assert!(html.contains(e), "missing {e} in {html}");
            }
            for a in absent {
                assert!(!html.contains(a), "unexpected {a} in {html}");
            }
        };
        check(&[], &["No sweeps yet."], &["<table", "data-refresh"]);
        check(
            &[progress(true)],
            &["href=\"/sweeps/local.optimize.20261129T023000Z\"", "succeeded 10", "dead 1", "status failed", "1.5 s</td>"],
            &["data-refresh"],
        );
        let mut early = progress(true);
        early.started_ms = early.scheduled_ms - 61_000;
        check(&[early], &["1 min 01 s early</td>"], &[]);
        check(&[progress(false)], &["data-refresh=\"2000\"", "running 2", "retrying 1", "8.5 s so far", "status running"], &[]);
    }

    #[test]
    fn one_sweep_with_failures_and_stragglers() {
        let entry: DeadLetterEntry = serde_json::from_value(serde_json::json!({
            "id": "j1", "origin_queue": "code24-optimize", "job_id": "j1", "sweep_id": "s", "customer_id": "c<1>",
            "error_class": "permanent", "error_message": "HTTP 400", "attempts": 1, "first_failed_ms": 0,
            "last_failed_ms": 0, "status": "dead", "replay_count": 0, "replayed_ms": null
        }))
        .unwrap();
        let html = detail(&progress(false), &Ok(vec![entry]), 1_795_919_410_000);
        for e in
            ["5 of 11 jobs have not ended: 2 running, 1 waiting for a retry, 2 queued.", "c&lt;1&gt;", "/dead-letters/j1", "data-refresh"]
        {
            assert!(html.contains(e), "missing {e} in {html}");
        }
        let html = detail(&progress(true), &Err("D1 down".into()), 0);
        assert!(html.contains("None: every expected job ended.") && html.contains("D1 down") && !html.contains("data-refresh"), "{html}");
        let html = detail(&progress(true), &Ok(vec![]), 0);
        assert!(html.contains("No dead letters stored for this sweep."));
    }
}
