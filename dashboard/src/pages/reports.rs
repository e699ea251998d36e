//! The Reports section: the index of months, and the end-of-month report of one month with its
//! executive summary on top and its charts (the MRR bridge as a waterfall, a year of MRR with
//! the forecast and its band, churn and NRR, score distributions, top improvers), drawn from
//! the two objects the end-of-month job wrote to R2. The monthly analytics page is
//! [`super::analytics`]. Every page links to the JSON it was drawn from.

use std::fmt::Write as _;

use crate::charts::{self, Forecast, Step};
use crate::html::{esc, notice};
use code24_shared::reports::forecast::scores::ScoreForecast;
use code24_shared::reports::forecast::MrrForecast;
use code24_shared::reports::period::Month;
use code24_shared::reports::summary::{dollars, percent, ExecutiveSummary, FinalReport, Kpi};

/// The dashboard path of a month's end-of-month report.
pub fn report_path(month: Month) -> String {
    format!("/reports/{}", month.label())
}

/// The dashboard path of a month's monthly analytics.
pub fn analytics_path(month: Month) -> String {
    format!("/reports/{}/analytics", month.label())
}

/// The JSON objects a report page may link to: the name in the dashboard's path and the R2 key.
pub fn json_objects(month: Month) -> [(&'static str, String); 3] {
    [
        ("final-report.json", month.final_report_key()),
        ("executive-summary.json", month.executive_summary_key()),
        ("analytics.json", month.analytics_key()),
    ]
}

/// A link to one JSON object, showing its R2 key.
pub fn json_link(month: Month, name: &str) -> String {
    let key = json_objects(month).into_iter().find(|(n, _)| *n == name).map(|(_, k)| k).unwrap_or_default();
    format!("<a class=\"json\" href=\"/reports/{}/{}\">{}</a>", month.label(), esc(name), esc(&key))
}

/// A value in its unit: `cents` as dollars, `bp` as a percentage, `count` as a number.
pub fn kpi_value(unit: &str, value: Option<i64>) -> String {
    match (unit, value) {
        (_, None) => "—".to_owned(),
        ("cents", Some(v)) => dollars(v),
        ("bp", Some(v)) => percent(v),
        (_, Some(v)) => v.to_string(),
    }
}

fn kpi_label(name: &str) -> String {
    let label = name.replace('_', " ").replace("mrr", "MRR").replace("arpa", "ARPA");
    let mut chars = label.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The previous and next months, and the month's other page.
fn month_nav(month: Month, other: (&str, String)) -> String {
    format!(
        "<nav class=\"months no-print\"><a href=\"{}\">← {}</a> <a href=\"{}\">{}</a> <a href=\"{}\">{} →</a> <a href=\"/reports\">All months</a></nav>",
        report_path(month.previous()),
        month.previous(),
        other.1,
        esc(other.0),
        report_path(month.next()),
        month.next()
    )
}

/// The index: the last `count` months up to `latest`, each with its two pages, marked by which
/// objects exist (`have` holds the R2 keys found), and a form to open any month.
pub fn index(latest: Month, count: usize, have: &[String]) -> String {
    let mut out = String::from(
        "<form class=\"filters no-print\" method=\"get\" action=\"/reports\"><label>Month<input name=\"month\" placeholder=\"YYYY-MM\" \
         pattern=\"[0-9]{4}-[0-9]{2}\" required></label><button>Open</button></form><div class=\"scroll\"><table class=\"reports\">\
         <thead><tr><th>Month</th><th>End-of-month report</th><th>Monthly analytics</th></tr></thead><tbody>",
    );
    let mut month = latest;
    for _ in 0..count {
        let mark = |key: String, path: String, what: &str| {
            if have.contains(&key) {
                format!("<a href=\"{path}\">{what}</a>")
            } else {
                format!("<span class=\"muted\">not written</span> <a class=\"hint\" href=\"{path}\">(open)</a>")
            }
        };
        let _ = write!(
            out,
            "<tr><td>{month}</td><td>{}</td><td>{}</td></tr>",
            mark(month.final_report_key(), report_path(month), "Report and executive summary"),
            mark(month.analytics_key(), analytics_path(month), "Analytics and insights"),
        );
        month = month.previous();
    }
    out.push_str("</tbody></table></div>");
    out
}

/// The executive summary: headline KPIs with their month-over-month change, then its sentences.
pub fn summary_section(s: &ExecutiveSummary) -> String {
    let mut out = String::from("<section class=\"summary\"><h2>Executive summary</h2><div class=\"kpis\">");
    for k in &s.headline {
        let change = match (k.change, k.change_bp) {
            (Some(c), Some(bp)) => format!("{}{} ({})", if c > 0 { "+" } else { "" }, kpi_value(&k.unit, Some(c)), percent(bp)),
            (Some(c), None) => format!("{}{}", if c > 0 { "+" } else { "" }, kpi_value(&k.unit, Some(c))),
            _ => "no previous month".to_owned(),
        };
        let _ = write!(
            out,
            "<div class=\"kpi\" data-kpi=\"{}\"><span class=\"name\">{}</span><strong class=\"value\">{}</strong><span class=\"change\">{}</span></div>",
            esc(&k.name),
            esc(&kpi_label(&k.name)),
            esc(&kpi_value(&k.unit, k.value)),
            esc(&change)
        );
    }
    out.push_str("</div>");
    for sentence in &s.sentences {
        let _ = write!(out, "<p class=\"sentence\">{}</p>", esc(sentence));
    }
    out.push_str("</section>");
    out
}

/// A KPI of the summary by name (for pages and tests alike).
pub fn kpi<'a>(s: &'a ExecutiveSummary, name: &str) -> Option<&'a Kpi> {
    s.headline.iter().find(|k| k.name == name)
}

fn money(v: f64) -> String {
    dollars(v.round() as i64)
}

fn pct(v: f64) -> String {
    percent(v.round() as i64)
}

/// The charts of the report.
fn charts_section(r: &FinalReport) -> String {
    let v = &r.revenue;
    let mut out = String::from("<section class=\"charts\"><h2>Revenue</h2>");
    let steps = [
        Step::Total("Start".into(), v.starting_mrr_cents as f64),
        Step::Change("New".into(), v.new_mrr_cents as f64),
        Step::Change("Expansion".into(), v.expansion_mrr_cents as f64),
        Step::Change("Reactivation".into(), v.reactivation_mrr_cents as f64),
        Step::Change("Contraction".into(), -(v.contraction_mrr_cents as f64)),
        Step::Change("Churn".into(), -(v.churned_mrr_cents as f64)),
        Step::Total("End".into(), v.ending_mrr_cents as f64),
    ];
    out.push_str(&figure(&charts::waterfall(&format!("MRR bridge of {}", r.month), &steps, &money), "MRR bridge: start, flows, end"));
    let mrr = r.forecast.as_ref().map(|f| &f.mrr);
    let history = mrr.map(|m| m.history.as_slice()).unwrap_or_default();
    if history.is_empty() {
        out.push_str(&notice(
            "empty",
            "No MRR history to chart yet.",
            "The history starts with the first month that began with a paying customer.",
        ));
    } else {
        let mut labels: Vec<String> = history.iter().map(|h| h.month.clone()).collect();
        let values: Vec<Option<f64>> = history.iter().map(|h| Some(h.ending_mrr_cents as f64)).collect();
        let mut band = Forecast { values: Vec::new(), low: Vec::new(), high: Vec::new() };
        for f in mrr.map(|m| m.months.as_slice()).unwrap_or_default() {
            if let MrrForecast::Estimate { month, mrr_cents, low_cents, high_cents, .. } = f {
                labels.push(month.clone());
                band.values.push(*mrr_cents as f64);
                band.low.push(*low_cents as f64);
                band.high.push(*high_cents as f64);
            }
        }
        let shown = &labels[..history.len()];
        let forecast = (!band.values.is_empty()).then_some(&band);
        let svg = charts::line("MRR, last 12 months, with the forecast and its interval", shown, &values, forecast, &money);
        out.push_str(&figure(&svg, "MRR at each month's end; dashed: forecast, shaded: its interval"));
        let churn: Vec<Option<f64>> = history.iter().map(|h| h.customer_churn_rate_bp.map(|v| v as f64)).collect();
        let nrr: Vec<Option<f64>> = history.iter().map(|h| h.net_revenue_retention_bp.map(|v| v as f64)).collect();
        out.push_str("<div class=\"pair\">");
        out.push_str(&figure(&charts::line("Customer churn rate", shown, &churn, None, &pct), "Customer churn rate per month"));
        out.push_str(&figure(&charts::line("Net revenue retention", shown, &nrr, None, &pct), "Net revenue retention per month"));
        out.push_str("</div>");
    }
    out.push_str("<h2>Optimization scores</h2>");
    let customers = r.forecast.as_ref().map(|f| f.scores.customers.as_slice()).unwrap_or_default();
    out.push_str(&score_distributions(customers.iter().map(|c: &ScoreForecast| c.average_scores)));
    let improvers: Vec<(String, f64)> = r.technical.top_improvers.iter().map(|c| (c.customer_id.clone(), c.change)).collect();
    if improvers.is_empty() {
        out.push_str(&notice("empty", "No improvers this month.", "A customer needs scored runs at the start and the end of the month."));
    } else {
        out.push_str(&figure(
            &charts::rows("Top improvers", &improvers, &|v| format!("{v:+.1}")),
            "Top improvers: score change first to last run",
        ));
    }
    out.push_str("</section>");
    out
}

/// One column chart per role of how customers' average scores fall into tens.
pub fn score_distributions(averages: impl Iterator<Item = [Option<f64>; 3]>) -> String {
    let mut counts = [[0u64; 10]; 3];
    let mut any = false;
    for scores in averages {
        for (role, score) in scores.iter().enumerate() {
            if let Some(s) = score {
                counts[role][((s / 10.0) as usize).min(9)] += 1;
                any = true;
            }
        }
    }
    if !any {
        return notice("empty", "No scored runs this month.", "Score distributions appear once optimizations record scores.");
    }
    let mut out = String::from("<div class=\"triple\">");
    for (role, name) in ["Brand", "Designer", "Developer"].iter().enumerate() {
        let bars: Vec<(String, f64)> = counts[role].iter().enumerate().map(|(i, n)| (format!("{}", i * 10), *n as f64)).collect();
        let svg = charts::columns(&format!("{name} score distribution"), &bars, &|v| format!("{v:.0}"));
        out.push_str(&figure(&svg, &format!("{name}: customers by average score (tens)")));
    }
    out.push_str("</div>");
    out
}

fn figure(svg: &str, caption: &str) -> String {
    format!("<figure>{svg}<figcaption>{}</figcaption></figure>", esc(caption))
}

/// The forecast table: each month ahead with its interval and backtest, or why there is none.
fn forecast_table(r: &FinalReport) -> String {
    let Some(f) = &r.forecast else { return String::new() };
    let mut out = format!(
        "<h2>Forecast</h2><p class=\"hint\">Method <code>{}</code>, {} months of history.</p><div class=\"scroll\"><table class=\"forecast\">\
         <thead><tr><th>Month</th><th>MRR forecast</th><th>Interval</th><th>Backtest</th></tr></thead><tbody>",
        esc(&f.mrr.method),
        f.mrr.months_available
    );
    for m in &f.mrr.months {
        let row = match m {
            MrrForecast::Estimate { month, mrr_cents, low_cents, high_cents, backtest, .. } => format!(
                "<td>{}</td><td>{}</td><td>{} – {}</td><td>{} months, MAPE {}, largest miss {}</td>",
                esc(month),
                dollars(*mrr_cents),
                dollars(*low_cents),
                dollars(*high_cents),
                backtest.months,
                backtest.mape_bp.map_or("—".to_owned(), percent),
                dollars(backtest.max_absolute_error_cents)
            ),
            MrrForecast::InsufficientHistory { month, months_available, months_needed, .. } => format!(
                "<td>{}</td><td colspan=\"3\">Too little history: {months_available} months available, {months_needed} needed.</td>",
                esc(month)
            ),
        };
        let _ = write!(out, "<tr>{row}</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// The end-of-month page of `month`: the summary on top, the charts, the forecast, the JSON;
/// or the missing-report state when the report is not written.
pub fn end_of_month(month: Month, report: Option<&FinalReport>, summary: Option<&ExecutiveSummary>) -> String {
    let mut out = month_nav(month, ("Monthly analytics", analytics_path(month)));
    let Some(report) = report else {
        out.push_str(&notice(
            "empty",
            &format!("No end-of-month report for {month} has been written."),
            "The end-of-month cron writes it at 23:59 UTC on the month's last weekday (staging and production); for any month, an operator can run it with POST /api/runs {\"task\": \"end-of-month\", \"month\": \"YYYY-MM\"}.",
        ));
        return out;
    };
    let v = &report.revenue;
    if v.starting_mrr_cents == 0 && v.ending_mrr_cents == 0 && report.technical.runs == 0 {
        out.push_str(&notice(
            "empty",
            &format!("{month} was empty: no paying customers and no optimization runs."),
            "The report below is complete; its charts have nothing to draw.",
        ));
    }
    match summary {
        Some(s) => out.push_str(&summary_section(s)),
        None => out.push_str(&notice(
            "error",
            "The executive summary is missing beside this report.",
            "Run the month's end-of-month job again.",
        )),
    }
    out.push_str(&charts_section(report));
    out.push_str(&forecast_table(report));
    let _ = write!(
        out,
        "<h2>Data</h2><ul class=\"json\"><li>{}</li><li>{}</li></ul><p class=\"hint\">Generated {}.</p>",
        json_link(month, "final-report.json"),
        json_link(month, "executive-summary.json"),
        esc(&report.generated_at)
    );
    out
}

#[cfg(test)]
mod tests;
