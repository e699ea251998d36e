//! The Reports section's Worker side: the index of months, a month's end-of-month report and
//! monthly analytics, and each report's JSON, read from R2 through the admin API in-process
//! (`/api/results/...`) and rendered by `code24_dashboard::pages::{reports, analytics}`.

use code24_dashboard::html::Nav;
use code24_dashboard::pages::{analytics, reports};
use code24_shared::ids::from_epoch_ms;
use code24_shared::ledger::freshness::Freshness;
use code24_shared::reports::analytics::MonthlyReport;
use code24_shared::reports::period::Month;
use code24_shared::reports::summary::{ExecutiveSummary, FinalReport};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use worker::{Headers, Response};

use super::backend::Failure;
use super::Ctx;

/// Months the index lists, the latest first.
const INDEX_MONTHS: usize = 12;

#[derive(Deserialize)]
struct Listing {
    objects: Vec<Listed>,
}

#[derive(Deserialize)]
struct Listed {
    key: String,
}

pub(super) async fn handle(ctx: &Ctx<'_>, segments: &[&str], now_ms: i64) -> worker::Result<Response> {
    let month = |raw: &str| Month::parse(raw);
    match segments {
        [] => index(ctx, now_ms).await,
        [m] => match month(m) {
            Some(m) => end_of_month(ctx, m).await,
            None => bad_month(ctx, m),
        },
        [m, "analytics"] => match month(m) {
            Some(m) => monthly(ctx, m).await,
            None => bad_month(ctx, m),
        },
        [m, name] => match month(m).and_then(|m| reports::json_objects(m).into_iter().find(|(n, _)| n == name)) {
            Some((_, key)) => raw_json(ctx, &key).await,
            None => ctx.fail(404, Nav::Reports, &format!("There is no report object {name} of {m}."), "Use the links on the report page."),
        },
        _ => ctx.fail(404, Nav::Reports, "There is no such report page.", "Pick a month from the list."),
    }
}

fn bad_month(ctx: &Ctx<'_>, raw: &str) -> worker::Result<Response> {
    ctx.fail(400, Nav::Reports, &format!("{raw:?} is not a month."), "Months are written YYYY-MM, e.g. 2026-11.")
}

/// The object at `key`, `None` when it is not written.
async fn object<T: DeserializeOwned>(ctx: &Ctx<'_>, key: &str) -> Result<Option<T>, Failure> {
    match ctx.backend.get::<T>(&format!("results/{key}")).await {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.status == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

async fn index(ctx: &Ctx<'_>, now_ms: i64) -> worker::Result<Response> {
    if let Some(raw) = ctx.query("month") {
        return match Month::parse(&raw) {
            Some(m) => super::see_other(&reports::report_path(m), None),
            None => bad_month(ctx, &raw),
        };
    }
    let latest = from_epoch_ms(now_ms).map(Month::of).unwrap_or(Month { year: 2026, month: 1 });
    let mut have = Vec::new();
    for prefix in ["reports/end-of-month/", "analytics/monthly/"] {
        match ctx.backend.get::<Listing>(&format!("results?prefix={prefix}&limit=1000")).await {
            Ok(l) => have.extend(l.objects.into_iter().map(|o| o.key)),
            Err(e) => return ctx.fail(e.status, Nav::Reports, &format!("The reports could not be listed: {e}"), "Reload the page."),
        }
    }
    ctx.page(200, "Reports", Nav::Reports, &reports::index(latest, INDEX_MONTHS, &have))
}

async fn end_of_month(ctx: &Ctx<'_>, month: Month) -> worker::Result<Response> {
    let report = object::<FinalReport>(ctx, &month.final_report_key()).await;
    let summary = object::<ExecutiveSummary>(ctx, &month.executive_summary_key()).await;
    match (report, summary) {
        (Ok(report), Ok(summary)) => ctx.page(
            200,
            &format!("End-of-month report {month}"),
            Nav::Reports,
            &reports::end_of_month(month, report.as_ref(), summary.as_ref()),
        ),
        (Err(e), _) | (_, Err(e)) => {
            ctx.fail(e.status, Nav::Reports, &format!("The report of {month} could not be read: {e}"), "Reload the page.")
        }
    }
}

/// The month's analytics, after how fresh the rollups they read are.
async fn monthly(ctx: &Ctx<'_>, month: Month) -> worker::Result<Response> {
    let freshness = ctx.backend.get::<Freshness>("rollups/freshness").await;
    let fresh = analytics::rollup_freshness(freshness.as_ref().map_err(ToString::to_string));
    match object::<MonthlyReport>(ctx, &month.analytics_key()).await {
        Ok(report) => {
            let body = format!("{fresh}{}", analytics::monthly(month, report.as_ref()));
            ctx.page(200, &format!("Monthly analytics {month}"), Nav::Reports, &body)
        }
        Err(e) => ctx.fail(e.status, Nav::Reports, &format!("The analytics of {month} could not be read: {e}"), "Reload the page."),
    }
}

/// A report object as stored (re-encoded as pretty JSON), for download or a closer look.
async fn raw_json(ctx: &Ctx<'_>, key: &str) -> worker::Result<Response> {
    match object::<serde_json::Value>(ctx, key).await {
        Ok(Some(value)) => {
            let headers = Headers::new();
            headers.set("content-type", "application/json; charset=utf-8")?;
            headers.set("cache-control", "no-store")?;
            headers.set("x-content-type-options", "nosniff")?;
            Ok(Response::ok(serde_json::to_string_pretty(&value).unwrap_or_default())?.with_headers(headers))
        }
        Ok(None) => ctx.fail(404, Nav::Reports, &format!("No object {key} in R2."), "The report of that month is not written."),
        Err(e) => ctx.fail(e.status, Nav::Reports, &format!("{key} could not be read: {e}"), "Reload the page."),
    }
}
