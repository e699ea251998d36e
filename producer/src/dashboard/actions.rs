//! The dashboard's state-changing actions (POST), reached only with a valid session and CSRF
//! token (checked in `mod.rs`). Each posts to the admin API in-process and renders what it
//! did; a refused input changes nothing and says why.

use code24_dashboard::html::{notice, Nav};
use code24_dashboard::pages::dead_letters::{self, parse_ids, Action};
use code24_shared::dead_letters::selection::SelectionOutcome;
use serde_json::json;
use worker::Response;

use super::views::percent_decoded;
use super::{field, see_other, Ctx};

pub(super) async fn handle(ctx: &Ctx<'_>, path: &str, fields: &[(String, String)]) -> worker::Result<Response> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["dead-letters", action] if Action::parse(action).is_some() => {
            dead_letter_action(ctx, Action::parse(action).expect("checked"), fields).await
        }
        ["sites"] => add_site(ctx, fields).await,
        ["sites", id, "deactivate"] => deactivate(ctx, &percent_decoded(id)).await,
        _ => ctx.fail(404, Nav::None, &format!("There is no action {path}. Nothing changed."), "Use the dashboard's forms."),
    }
}

/// A confirmed replay or purge of exactly the ids its preview listed.
async fn dead_letter_action(ctx: &Ctx<'_>, action: Action, fields: &[(String, String)]) -> worker::Result<Response> {
    let ids = match parse_ids(field(fields, "ids")) {
        Ok(ids) => ids,
        Err(e) => return ctx.fail(400, Nav::DeadLetters, &format!("{e}. Nothing changed."), "Start again from a dead-letter page."),
    };
    let body = json!({"ids": ids, "limit": ids.len(), "reason": field(fields, "reason").trim()});
    match ctx.backend.post::<_, SelectionOutcome>(&format!("dead-letters/{}", action.as_str()), &body).await {
        Ok(done) => {
            let title = if action == Action::Replay { "Replay: done" } else { "Purge: done" };
            ctx.page(200, title, Nav::DeadLetters, &dead_letters::outcome(action, &done))
        }
        Err(e) => ctx.fail(
            e.status,
            Nav::DeadLetters,
            &format!("The {} failed: {e}", action.as_str()),
            "The API changes nothing on a refused request; a failed queue send marks nothing replayed. Try again.",
        ),
    }
}

async fn add_site(ctx: &Ctx<'_>, fields: &[(String, String)]) -> worker::Result<Response> {
    let name = field(fields, "name").trim();
    let mut site = json!({
        "customer_id": field(fields, "customer_id").trim(),
        "url": field(fields, "url").trim(),
        "plan": field(fields, "plan"),
    });
    if !name.is_empty() {
        site["name"] = json!(name);
    }
    match ctx.backend.post::<_, serde_json::Value>("sites", &site).await {
        Ok(_) => see_other("/sites", None),
        Err(e) if e.status == 400 => ctx.page(
            400,
            "Sites",
            Nav::Sites,
            &notice("error", &format!("The site was not saved: {}", e.message), "Go back, correct the form and save again."),
        ),
        Err(e) => ctx.fail(e.status, Nav::Sites, &format!("The site could not be saved: {e}"), "Try again."),
    }
}

async fn deactivate(ctx: &Ctx<'_>, id: &str) -> worker::Result<Response> {
    match ctx
        .backend
        .post::<_, serde_json::Value>(&format!("sites/{}/deactivate", code24_shared::url::percent_encode(id)), &json!({}))
        .await
    {
        Ok(_) => see_other("/sites", None),
        Err(e) => ctx.fail(e.status, Nav::Sites, &format!("{id} was not deactivated: {e}"), "Reload the sites page and try again."),
    }
}
