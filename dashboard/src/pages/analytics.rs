//! The monthly analytics page of one month: the platform's numbers, what worked across
//! customers (the insights, with their samples), score distributions, top improvers and
//! regressions, and the job duration histogram, drawn from `analytics/monthly/{yyyy}/{mm}/report.json`;
//! and how fresh the daily rollups in D1 are, which the analytics read ([`rollup_freshness`]).

use std::fmt::Write as _;

use super::reports::{analytics_path, json_link, report_path, score_distributions};
use crate::charts;
use crate::html::{duration, esc, notice, time};
use code24_shared::ledger::freshness::Freshness;
use code24_shared::reports::analytics::{MonthlyReport, DURATION_BUCKETS_MS};
use code24_shared::reports::insights::points;
use code24_shared::reports::period::Month;
use code24_shared::reports::summary::percent;

fn facts(r: &MonthlyReport) -> String {
    let p = &r.platform;
    let ms = |v: Option<i64>| v.map_or("—".to_owned(), |v| format!("≤ {v} ms"));
    format!(
        "<dl class=\"facts\"><dt>Customers</dt><dd data-fact=\"customers\">{}</dd><dt>Optimization runs</dt><dd data-fact=\"runs\">{}</dd>\
         <dt>Success rate</dt><dd data-fact=\"success_rate\">{}</dd><dt>Failures</dt><dd>{} ({} transient, {} permanent)</dd>\
         <dt>Duration p50 / p95</dt><dd>{} / {}</dd></dl>",
        p.customers,
        p.runs,
        p.success_rate_bp.map_or("—".to_owned(), percent),
        p.failures,
        p.transient_failures,
        p.permanent_failures,
        ms(p.p50_duration_ms),
        ms(p.p95_duration_ms)
    )
}

fn insights_table(r: &MonthlyReport) -> String {
    if r.insights.is_empty() {
        return notice(
            "empty",
            "No insight this month.",
            "A claim needs at least 3 customers given the same recommendation, gaining on average more than the others of their cohort.",
        );
    }
    let mut out = String::from(
        "<p class=\"hint\">Followed by, not caused by: customers whose first run of the month gave the recommendation, against the rest of \
         their cohort. The first few travel to the elite workers as platform context next month.</p><div class=\"scroll\"><table class=\"insights\">\
         <thead><tr><th>Claim</th><th>Cohort</th><th>Advised</th><th>Gained</th><th>Mean change</th><th>Others</th></tr></thead><tbody>",
    );
    for i in &r.insights {
        let others = i.others_mean_gain_hundredths.map_or("—".to_owned(), |m| format!("{} ({})", points(m), i.others));
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&i.claim),
            esc(&i.cohort),
            i.customers,
            i.improved,
            points(i.mean_gain_hundredths),
            others
        );
    }
    out.push_str("</tbody></table></div>");
    out
}

/// "Rollups in D1 as of ...": when D1 last held every rollup change, how they are written behind,
/// and each stale shard (its flushes failing for more than two intervals) as an error; or why
/// the shards could not be read.
pub fn rollup_freshness(read: Result<&Freshness, String>) -> String {
    let f = match read {
        Ok(f) => f,
        Err(e) => return notice("error", &format!("How fresh the rollups in D1 are is unknown: {e}"), "Reload the page."),
    };
    let as_of = f.as_of_ms.map_or_else(|| "unknown (a shard could not be read, or has not flushed yet)".to_owned(), |t| time(Some(t)));
    let oldest = f.oldest_flush_ms.map_or_else(|| "none yet".to_owned(), |t| format!("{} ago", duration(f.now_ms - t)));
    let mut out = format!(
        "<p class=\"hint\" data-rollups-as-of=\"{}\">Rollups in D1 as of {} (written behind every {}; {} shards, oldest flush {}).</p>",
        f.as_of_ms.map_or_else(String::new, |t| t.to_string()),
        esc(&as_of),
        duration(i64::from(f.interval_s) * 1_000),
        f.shards.len(),
        esc(&oldest)
    );
    for s in &f.shards {
        if let (true, Some(state)) = (s.stale, &s.state) {
            let what = format!("Rollups of shard {} are stale: its flushes to D1 fail since {}.", s.shard, time(state.failing_since_ms));
            out.push_str(&notice("error", &what, "The shard keeps them and retries every interval; see the ledger's logs."));
        } else if let Some(e) = &s.error {
            out.push_str(&notice("error", &format!("Shard {} could not be read: {e}", s.shard), "Reload the page."));
        }
    }
    out
}

/// The page of `month`'s monthly analytics, or its missing state.
pub fn monthly(month: Month, report: Option<&MonthlyReport>) -> String {
    let mut out = format!(
        "<nav class=\"months no-print\"><a href=\"{}\">← {}</a> <a href=\"{}\">End-of-month report</a> <a href=\"{}\">{} →</a> <a href=\"/reports\">All months</a></nav>",
        analytics_path(month.previous()),
        month.previous(),
        report_path(month),
        analytics_path(month.next()),
        month.next()
    );
    let Some(r) = report else {
        out.push_str(&notice(
            "empty",
            &format!("No monthly analytics for {month} have been written."),
            "The monthly analytics cron runs at 15:00 UTC on the 1st for the month before (staging and production); for any month, an operator can run them with POST /api/runs {\"task\": \"monthly-analytics\", \"month\": \"YYYY-MM\"}.",
        ));
        return out;
    };
    if r.platform.customers == 0 {
        out.push_str(&notice(
            "empty",
            &format!("{month} had no customer with optimization runs."),
            "Nothing to chart; the report is empty.",
        ));
    }
    out.push_str(&facts(r));
    out.push_str("<h2>What worked across customers</h2>");
    out.push_str(&insights_table(r));
    out.push_str("<h2>Score distributions</h2>");
    out.push_str(&score_distributions(r.customers.iter().map(|c| c.average_scores)));
    let mut changes: Vec<(String, f64)> = r.platform.top_improvers.iter().map(|c| (c.customer_id.clone(), c.change)).collect();
    changes.extend(r.platform.top_regressions.iter().map(|c| (c.customer_id.clone(), c.change)));
    if !changes.is_empty() {
        out.push_str("<h2>Top improvers and regressions</h2>");
        let _ = write!(out, "<figure>{}</figure>", charts::rows("Score change, first to last run", &changes, &|v| format!("{v:+.1}")));
    }
    let mut buckets = vec![0u64; DURATION_BUCKETS_MS.len()];
    for c in &r.customers {
        for (total, n) in buckets.iter_mut().zip(&c.duration_buckets) {
            *total += n;
        }
    }
    if buckets.iter().any(|n| *n > 0) {
        let bars: Vec<(String, f64)> = DURATION_BUCKETS_MS
            .iter()
            .zip(&buckets)
            .map(|(b, n)| (if *b == i64::MAX { "more".to_owned() } else { format!("≤{b}") }, *n as f64))
            .collect();
        out.push_str("<h2>Job durations (ms)</h2>");
        let _ = write!(out, "<figure>{}</figure>", charts::columns("Jobs by duration", &bars, &|v| format!("{v:.0}")));
    }
    let _ = write!(
        out,
        "<h2>Data</h2><ul class=\"json\"><li>{}</li></ul><p class=\"hint\">Generated {}.</p>",
        json_link(month, "analytics.json"),
        esc(&r.generated_at)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use code24_shared::ledger::freshness::FlushState;

    #[test]
    fn the_freshness_line_names_the_time_and_each_stale_shard() {
        let now = 1_795_914_000_000;
        let state = |flushed: i64, failing: Option<i64>| FlushState {
            interval_s: 3_600,
            flushed_ms: Some(flushed),
            failing_since_ms: failing,
            dirty: 4,
        };
        let f = Freshness::of(
            now,
            vec![
                ("jobs-0".into(), Ok(state(now - 600_000, None))),
                ("jobs-1".into(), Ok(state(now - 4 * 3_600_000, Some(now - 3 * 3_600_000)))),
            ],
        );
        let html = rollup_freshness(Ok(&f));
        assert!(html.contains(&format!("data-rollups-as-of=\"{}\"", now - 4 * 3_600_000)), "{html}");
        assert!(
            html.contains("Rollups in D1 as of 2026-11-28 21:00Z (written behind every 1 h 00 min; 2 shards, oldest flush 4 h 00 min ago)"),
            "{html}"
        );
        assert!(html.contains("Rollups of shard jobs-1 are stale") && !html.contains("shard jobs-0 are stale"), "{html}");
        let fresh = Freshness::of(now, vec![("jobs-0".into(), Ok(state(now - 600_000, None)))]);
        assert!(!rollup_freshness(Ok(&fresh)).contains("stale"));
        assert!(rollup_freshness(Err("HTTP 502".into())).contains("unknown: HTTP 502"));
    }
}
