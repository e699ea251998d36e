//! The dispatcher's admin API. Every `/api/` route requires `Authorization: Bearer
//! <ADMIN_TOKEN>` (checked before the route is chosen, in constant time; one 401 for every
//! refusal); JSON in and out, bodies of at most 64 KB with a declared length; errors are
//! `{"error": ...}` with a 4xx status naming what was wrong, or a 5xx when a dependency failed.
//! The route table below is also `code24_shared::api::ROUTES` (kept equal by a tidy test).
//!
//! - `GET /health` (no token): liveness.
//! - sweeps ([`sweeps`]): `GET /api/sweeps?limit=N`, `GET /api/sweeps/{sweep_id}`.
//! - results ([`results`]): `GET /api/results?prefix=P&cursor=C&limit=N`, `GET /api/results/{key}`.
//! - sites ([`sites`]): `GET /api/sites?after=C&limit=N`, `POST /api/sites`,
//!   `POST /api/sites/{customer_id}/deactivate`.
//! - dead letters ([`dead_letters`]): `GET /api/dead-letters?<filter>&cursor=C&limit=N`,
//!   `GET /api/dead-letters/{id}`, `POST /api/dead-letters/replay`, `POST /api/dead-letters/purge`.
//! - report runs ([`runs`]): `POST /api/runs` backfills a monthly report run, idempotently.
//! - billing ([`billing`]): `POST /api/billing-events` records a customer's MRR from an instant.
//! - rollups ([`rollups`]): `GET /api/rollups?customer_id=C&month=YYYY-MM`, the daily rollups.
//! - `GET|PUT|DELETE /api/standin/{faults|stats}` and `POST /api/standin/queue/{optimize|reports}`
//!   (the queue injection hook for tests): forwarded to the local elite stand-in; 404 where it
//!   is not bound (every deployed environment).

mod billing;
mod dead_letters;
mod results;
mod rollups;
mod runs;
mod sites;
mod sweeps;

use code24_runtime::http::{access, error, json};
use code24_shared::api::{self, BodyPlan};
use code24_shared::api::{DEFAULT_LIMIT, MAX_BODY_BYTES, MAX_LIMIT};
use code24_shared::auth::{self, Access};
use code24_shared::names::{binding, var};
use code24_shared::standin::CONTROL_PREFIX;
use serde_json::json as j;
use worker::{Env, Method, Request, Response, Url};

/// The parts of a request every route handler may need.
pub(crate) struct Call<'a> {
    pub(crate) env: &'a Env,
    pub(crate) url: Url,
}

impl Call<'_> {
    /// One query parameter.
    pub(crate) fn query(&self, name: &str) -> Option<String> {
        self.url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }

    /// The `limit` parameter, validated.
    pub(crate) fn limit(&self) -> Result<u32, String> {
        match self.query("limit").map(|l| l.parse::<u32>()) {
            None => Ok(DEFAULT_LIMIT),
            Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(format!("limit must be a whole number in 1..={MAX_LIMIT}")),
        }
    }
}

/// Reads a JSON request body within the admin API's size limit ([`MAX_BODY_BYTES`]).
pub(crate) async fn body_text(req: &mut Request) -> Result<String, (u16, String)> {
    read_limited(req, MAX_BODY_BYTES).await
}

/// Reads a body of at most `max` bytes, refused by its declared length before a byte is read
/// (`code24_shared::api::body_plan`: a body with no declared length is refused, 411), so an
/// oversized body is never read.
async fn read_limited(req: &mut Request, max: usize) -> Result<String, (u16, String)> {
    let declared = req.headers().get("content-length").ok().flatten();
    match api::body_plan(declared.as_deref(), req.inner().body().is_some(), max)? {
        BodyPlan::Empty => Ok(String::new()),
        BodyPlan::Read => {
            let bytes = req.bytes().await.map_err(|e| (400, format!("unreadable body: {e}")))?;
            api::check_read_length(bytes.len(), max)?;
            api::body_text(bytes)
        }
    }
}

pub(crate) async fn handle(mut req: Request, env: &Env) -> worker::Result<Response> {
    let url = req.url()?;
    let path = url.path().to_owned();
    if path == "/health" {
        return json(200, &j!({"status": "ok", "worker": code24_shared::names::DISPATCHER_WORKER}));
    }
    let Some(route) = path.strip_prefix("/api/").map(str::to_owned) else {
        return error(404, format!("no route {}", api::truncated(&path, 120)));
    };
    // The token is checked before the path is looked at: every `/api/` path, known or not,
    // answers 401 without it, and the same 401 whatever was wrong.
    let token = env.secret(var::ADMIN_TOKEN).map(|s| s.to_string()).unwrap_or_default();
    match access(&req, &token) {
        Access::Allowed => {}
        Access::Disabled => return error(503, auth::DISABLED_MESSAGE),
        Access::Refused => return error(401, auth::REFUSED_MESSAGE),
    }
    let method = req.method();
    let call = Call { env, url };
    let segments: Vec<&str> = route.split('/').collect();
    match (method.clone(), segments.as_slice()) {
        (Method::Get, ["sweeps"]) => sweeps::list(&call).await,
        (Method::Get, ["sweeps", id]) => sweeps::show(&call, id).await,
        (Method::Get, ["results"]) => results::list(&call).await,
        (Method::Get, ["results", ..]) => results::get(&call, route.strip_prefix("results/").unwrap_or_default()).await,
        (Method::Get, ["sites"]) => sites::list(&call).await,
        (Method::Post, ["sites"]) => sites::add(&call, &mut req).await,
        (Method::Post, ["sites", id, "deactivate"]) => sites::deactivate(&call, id).await,
        (Method::Post, ["runs"]) => runs::backfill_run(&call, &mut req).await,
        (Method::Post, ["billing-events"]) => billing::add(&call, &mut req).await,
        (Method::Get, ["rollups"]) => rollups::list(&call).await,
        (Method::Get, ["dead-letters"]) => dead_letters::list(&call).await,
        (Method::Post, ["dead-letters", "replay"]) => dead_letters::replay(&call, &mut req).await,
        (Method::Post, ["dead-letters", "purge"]) => dead_letters::purge(&call, &mut req).await,
        (Method::Get, ["dead-letters", id]) => dead_letters::show(&call, id).await,
        (_, ["standin", knob]) if matches!(*knob, "faults" | "stats") => forward_to_standin(req, env, knob).await,
        (_, ["standin", "queue", target]) => forward_to_standin(req, env, &format!("queue/{target}")).await,
        (_, ["sweeps" | "results" | "sites" | "dead-letters" | "runs" | "rollups" | "billing-events", ..]) => {
            error(405, format!("{method:?} is not allowed on /api/{}", api::truncated(&route, 120)))
        }
        _ => error(404, format!("no route {method:?} /api/{}", api::truncated(&route, 120))),
    }
}

async fn forward_to_standin(mut req: Request, env: &Env, knob: &str) -> worker::Result<Response> {
    let Ok(standin) = env.service(binding::ELITE_STANDIN) else {
        return error(404, "the elite stand-in is not bound in this environment");
    };
    let mut init = worker::RequestInit::new();
    init.with_method(req.method());
    if matches!(req.method(), Method::Put | Method::Post) {
        match read_limited(&mut req, api::MAX_STANDIN_BODY_BYTES).await {
            Ok(body) => init.with_body(Some(body.into())),
            Err((status, message)) => return error(status, message),
        };
    }
    standin.fetch(format!("https://standin{CONTROL_PREFIX}/{knob}"), Some(init)).await
}

/// A secret of the dispatcher (empty when unset). Secrets are read here only, next to the
/// token check; the dashboard uses it for the admin token and its session-signing secret.
pub(crate) fn secret(env: &Env, name: &str) -> String {
    env.secret(name).map(|s| s.to_string()).unwrap_or_default()
}
