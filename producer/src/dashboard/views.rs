//! The dashboard's pages (GET): each reads the admin API in-process and renders one of the
//! core's page functions. A failed read becomes an error page that says what failed and what
//! to do; nothing here changes state (the replay and purge previews are dry runs).

use code24_dashboard::html::{url as enc, Nav};
use code24_dashboard::pages::dead_letters::{self, parse_ids, Action, MAX_CONFIRM};
use code24_dashboard::pages::sites::{SitesPage, PAGE};
use code24_dashboard::pages::{schedules as schedules_page, sweeps};
use code24_dashboard::schedules::{latest_run_id, rows};
use code24_shared::dead_letters::query::{DeadLetterDetail, DeadLetterFilter, DeadLetterPage, DeadLetterStatus, FILTER_PARAMS};
use code24_shared::dead_letters::selection::SelectionOutcome;
use code24_shared::ids::from_epoch_ms;
use code24_shared::ledger::RunProgress;
use code24_shared::names::Environment;
use code24_shared::schedule::SCHEDULES;
use serde_json::json;
use worker::Response;

use super::Ctx;

/// How many recent sweeps the front page shows.
const RECENT: u32 = 20;

pub(super) async fn handle(ctx: &Ctx<'_>, path: &str, now_ms: i64) -> worker::Result<Response> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        [""] => sweep_list(ctx, now_ms).await,
        ["sweeps", id] => sweep(ctx, id, now_ms).await,
        ["schedules"] => schedules(ctx, now_ms).await,
        ["dead-letters"] => dead_letter_list(ctx).await,
        ["dead-letters", "preview"] => preview(ctx).await,
        ["dead-letters", id] => dead_letter(ctx, id).await,
        ["sites"] => sites(ctx).await,
        ["audit"] => audit(ctx).await,
        ["status"] => health(ctx).await,
        ["reports", rest @ ..] => super::reports::handle(ctx, rest, now_ms).await,
        _ => ctx.fail(404, Nav::None, &format!("There is no page {path}."), "Use the navigation above."),
    }
}

/// The health page: the latest health check, the breakers, incidents and alerts.
async fn health(ctx: &Ctx<'_>) -> worker::Result<Response> {
    match ctx.backend.get::<code24_shared::alerts::HealthView>("health").await {
        Ok(view) => ctx.page(200, "Health", Nav::Health, &code24_dashboard::pages::health::page(&view)),
        Err(e) => ctx.fail(e.status, Nav::Health, &format!("The platform's health could not be read: {e}"), "Reload the page."),
    }
}

/// The audit log, filtered by actor and action, one API page at a time.
async fn audit(ctx: &Ctx<'_>) -> worker::Result<Response> {
    let (actor, action) = (ctx.query("actor").unwrap_or_default(), ctx.query("action").unwrap_or_default());
    let mut query = format!("audit?limit={RECENT}");
    for (name, value) in [("actor", actor.as_str()), ("action", action.as_str()), ("cursor", ctx.query("cursor").as_deref().unwrap_or(""))]
    {
        if !value.is_empty() {
            query.push_str(&format!("&{name}={}", enc(value)));
        }
    }
    match ctx.backend.get::<code24_shared::audit::AuditPage>(&query).await {
        Ok(page) => ctx.page(200, "Audit log", Nav::Audit, &code24_dashboard::pages::audit::list(&page, &actor, &action)),
        Err(e) => ctx.fail(e.status, Nav::Audit, &format!("The audit log could not be read: {e}"), "Check the filter and reload."),
    }
}

async fn sweep_list(ctx: &Ctx<'_>, now_ms: i64) -> worker::Result<Response> {
    match ctx.backend.get::<Vec<RunProgress>>(&format!("sweeps?limit={RECENT}")).await {
        Ok(list) => ctx.page(200, "Sweeps", Nav::Sweeps, &sweeps::list(&list, now_ms)),
        Err(e) => ctx.fail(
            e.status,
            Nav::Sweeps,
            &format!("The sweeps could not be read: {e}"),
            "Reload the page; if this persists, check the ledger Worker's log.",
        ),
    }
}

async fn sweep(ctx: &Ctx<'_>, id: &str, now_ms: i64) -> worker::Result<Response> {
    let id = percent_decoded(id);
    let progress = match ctx.backend.get::<RunProgress>(&format!("sweeps/{}", enc(&id))).await {
        Ok(p) => p,
        Err(e) if e.status == 404 => {
            return ctx.fail(
                404,
                Nav::Sweeps,
                &format!("No sweep {id} is known to the ledger."),
                "It may be older than the retention; pick one from the list.",
            )
        }
        Err(e) => {
            return ctx.fail(e.status, Nav::Sweeps, &format!("Sweep {id} could not be read: {e}"), "Check the id, or reload the page.")
        }
    };
    let failures = ctx
        .backend
        .get::<DeadLetterPage>(&format!("dead-letters?sweep_id={}&limit=100", enc(&id)))
        .await
        .map(|p| p.dead_letters)
        .map_err(|e| e.to_string());
    ctx.page(200, &format!("Sweep {id}"), Nav::Sweeps, &sweeps::detail(&progress, &failures, now_ms))
}

async fn schedules(ctx: &Ctx<'_>, now_ms: i64) -> worker::Result<Response> {
    let Some(environment) = Environment::parse(&ctx.environment) else {
        return ctx.fail(
            500,
            Nav::Schedules,
            &format!("ENVIRONMENT is {:?}, not a known environment.", ctx.environment),
            "Fix the Worker's vars.",
        );
    };
    let now = from_epoch_ms(now_ms).unwrap_or_default();
    let mut error = None;
    // The recent sweeps hold every frequent schedule's last run (the sweep list is newest
    // first); the rest are looked up by their latest slot below.
    let mut known = match ctx.backend.get::<Vec<RunProgress>>(&format!("sweeps?limit={RECENT}")).await {
        Ok(list) => list,
        Err(e) => {
            error = Some(e.to_string());
            Vec::new()
        }
    };
    // Report runs are too rare to be among the recent sweeps: look up each one's latest slot.
    for s in SCHEDULES.iter().filter(|s| s.runs_in(environment)) {
        if known.iter().any(|p| p.task == s.task.as_str()) {
            continue;
        }
        if let Some(run_id) = latest_run_id(environment, s.task, s.cron, now) {
            match ctx.backend.get::<RunProgress>(&format!("sweeps/{}", enc(&run_id))).await {
                Ok(p) => known.push(p),
                Err(e) if e.status == 404 => {}
                Err(e) => error = Some(e.to_string()),
            }
        }
    }
    ctx.page(200, "Schedules", Nav::Schedules, &schedules_page::list(&rows(environment, now, &known), error.as_deref()))
}

/// The filter parameters of the request (validated by the API), and them encoded again.
fn filter_query(ctx: &Ctx<'_>) -> (Vec<(String, String)>, String) {
    let pairs: Vec<(String, String)> = ctx
        .url
        .query_pairs()
        .filter(|(k, v)| FILTER_PARAMS.contains(&k.as_ref()) && !v.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let encoded = pairs.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect::<Vec<_>>().join("&");
    (pairs, encoded)
}

async fn dead_letter_list(ctx: &Ctx<'_>) -> worker::Result<Response> {
    let (pairs, encoded) = filter_query(ctx);
    let cursor = ctx.query("cursor").map(|c| format!("&cursor={}", enc(&c))).unwrap_or_default();
    match ctx.backend.get::<DeadLetterPage>(&format!("dead-letters?limit=50&{encoded}{cursor}")).await {
        Ok(page) => ctx.page(200, "Dead letters", Nav::DeadLetters, &dead_letters::list(&page, &pairs, &encoded)),
        Err(e) if e.status == 400 => {
            ctx.fail(400, Nav::DeadLetters, &format!("That filter is not valid: {}", e.message), "Correct it, or clear the filter.")
        }
        Err(e) => ctx.fail(
            e.status,
            Nav::DeadLetters,
            &format!("The dead-letter store could not be read: {e}"),
            "Reload the page; if this persists, check the dispatcher's log.",
        ),
    }
}

async fn dead_letter(ctx: &Ctx<'_>, id: &str) -> worker::Result<Response> {
    let id = percent_decoded(id);
    match ctx.backend.get::<DeadLetterDetail>(&format!("dead-letters/{}", enc(&id))).await {
        Ok(d) => ctx.page(200, &format!("Dead letter {id}"), Nav::DeadLetters, &dead_letters::detail(&d)),
        Err(e) if e.status == 404 => ctx.fail(404, Nav::DeadLetters, &format!("No dead letter {id}."), "Pick one from the list."),
        Err(e) => {
            ctx.fail(e.status, Nav::DeadLetters, &format!("Dead letter {id} could not be read: {e}"), "Check the id, or reload the page.")
        }
    }
}

/// The dry run of a replay or purge, by ids (`ids=a,b`) or by the list's filter.
async fn preview(ctx: &Ctx<'_>) -> worker::Result<Response> {
    let Some(action) = ctx.query("action").as_deref().and_then(Action::parse) else {
        return ctx.fail(
            400,
            Nav::DeadLetters,
            "The preview needs action=replay or action=purge.",
            "Use the buttons on the dead-letter pages.",
        );
    };
    let selection = match ctx.query("ids") {
        Some(raw) => match parse_ids(&raw) {
            Ok(ids) => json!({"ids": ids, "dry_run": true, "limit": ids.len()}),
            Err(e) => return ctx.fail(400, Nav::DeadLetters, &e, "Use the buttons on the dead-letter pages."),
        },
        None => {
            let (pairs, _) = filter_query(ctx);
            let mut filter = match DeadLetterFilter::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), &[]) {
                Ok(f) => f,
                Err(e) => {
                    return ctx.fail(400, Nav::DeadLetters, &format!("That filter is not valid: {e}"), "Correct it on the list page.")
                }
            };
            // Only dead entries can be replayed: without this, replayed ones would fill the
            // preview's places and hide dead entries further down.
            if action == Action::Replay && filter.status.is_none() {
                filter.status = Some(DeadLetterStatus::Dead);
            }
            // One more than a confirmation takes, so the preview can tell "more than".
            json!({"filter": filter, "dry_run": true, "limit": MAX_CONFIRM + 1})
        }
    };
    match ctx.backend.post::<_, SelectionOutcome>(&format!("dead-letters/{}", action.as_str()), &selection).await {
        Ok(dry) => {
            let title = if action == Action::Replay { "Replay: preview" } else { "Purge: preview" };
            ctx.page(200, title, Nav::DeadLetters, &dead_letters::preview(action, &dry, &ctx.csrf))
        }
        Err(e) => {
            ctx.fail(e.status, Nav::DeadLetters, &format!("The dry run failed: {e}"), "Nothing changed. Reload the page to try again.")
        }
    }
}

async fn sites(ctx: &Ctx<'_>) -> worker::Result<Response> {
    let after = ctx.query("after").unwrap_or_default();
    match ctx.backend.get::<SitesPage>(&format!("sites?limit={PAGE}&after={}", enc(&after))).await {
        Ok(page) => ctx.page(200, "Sites", Nav::Sites, &code24_dashboard::pages::sites::list(&page, &after, &ctx.csrf)),
        Err(e) => {
            ctx.fail(e.status, Nav::Sites, &format!("The registry could not be read: {e}"), "Reload the page; if this persists, check D1.")
        }
    }
}

/// A path segment with its percent-escapes decoded (ids are plain ASCII; anything else is
/// refused by the API with a clear message).
pub(super) fn percent_decoded(segment: &str) -> String {
    worker::Url::parse(&format!("http://x/?v={segment}"))
        .ok()
        .and_then(|u| u.query_pairs().next().map(|(_, v)| v.into_owned()))
        .unwrap_or_else(|| segment.to_owned())
}
