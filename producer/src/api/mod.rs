//! The dispatcher's admin API. Every `/api/` route requires a caller: `Authorization: Bearer
//! <ADMIN_TOKEN>` (the service identity `admin-token`, checked in constant time) or, where the
//! environment names a Cloudflare Access application, a valid `Cf-Access-Jwt-Assertion` (the
//! operator's email; [`crate::access`]). Both are checked before the route is chosen, with one
//! 401 for every refusal (an Access refusal's reason goes to the log). Every mutating request is
//! recorded in the audit log once answered (dry runs excepted); JSON in and out, bodies of at most 64 KB with a declared length; errors are
//! `{"error": ...}` with a 4xx status naming what was wrong, or a 5xx when a dependency failed.
//! The router is the core's `code24_shared::api::ROUTES` (resolved by `api::admit`); this
//! module dispatches on its endpoints.
//!
//! - `GET /health` (no token): liveness.
//! - sweeps ([`sweeps`]): `GET /api/sweeps?limit=N`, `GET /api/sweeps/{sweep_id}`.
//! - results ([`results`]): `GET /api/results?prefix=P&cursor=C&limit=N`, `GET /api/results/{key}`.
//! - sites ([`sites`]): `GET /api/sites?after=C&limit=N`, `POST /api/sites`,
//!   `POST /api/sites/{customer_id}/deactivate`.
//! - dead letters ([`dead_letters`]): `GET /api/dead-letters?<filter>&cursor=C&limit=N`,
//!   `GET /api/dead-letters/{id}`, `POST /api/dead-letters/replay`, `POST /api/dead-letters/purge`.
//! - report runs ([`runs`]): `POST /api/runs` backfills a monthly report run, idempotently.
//! - the canary ([`canary`]): `POST /api/canary` starts one optimization run over the canary
//!   sites only (`code24_shared::canary`), for the smoke check after a deploy.
//! - billing ([`billing`]): `POST /api/billing-events` records a customer's MRR from an instant.
//! - rollups ([`rollups`]): `GET /api/rollups?customer_id=C&month=YYYY-MM`, the daily rollups.
//! - audit ([`audit`]): `GET /api/audit?actor=&action=&from_ms=&to_ms=&cursor=C&limit=N`, the
//!   append-only log of every mutating request; `GET /api/whoami`, the caller as identified.
//! - health ([`health`]): `GET /api/health`, the latest health check, the breakers, incidents
//!   and alerts sent.
//! - `GET|PUT|DELETE /api/standin/{faults|stats}` and `POST /api/standin/queue/{optimize|reports}`
//!   (the queue injection hook for tests): forwarded to the local elite stand-in; 404 where it
//!   is not bound (every deployed environment).

pub(crate) mod audit;
mod billing;
mod canary;
pub(crate) mod dead_letters;
mod health;
mod results;
mod rollups;
mod runs;
mod sites;
mod sweeps;

use code24_runtime::http::{access, error, json};
use code24_shared::api::{self, BodyPlan, Endpoint, Refusal};
use code24_shared::api::{DEFAULT_LIMIT, MAX_BODY_BYTES, MAX_LIMIT};
use code24_shared::audit::{self as audit_log, Actor, ADMIN_TOKEN_SERVICE};
use code24_shared::auth::{self, Access};
use code24_shared::names::{binding, var};
use serde_json::json as j;
use worker::{console_log, Env, Headers, Method, Request, RequestInit, Response, Url};

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

/// Serves `/health` and the admin API for a caller identified by the request itself.
pub(crate) async fn handle(req: Request, env: &Env) -> worker::Result<Response> {
    handle_as(req, env, None).await
}

/// Who a request is from: the admin bearer token, or a valid Access token where Access is
/// configured. `None` when neither holds (the reason of a refused Access token is logged).
async fn identify(req: &Request, env: &Env, token: &str) -> Result<Actor, Access> {
    match access(req, token) {
        Access::Allowed => return Ok(Actor::Service(ADMIN_TOKEN_SERVICE.into())),
        Access::Disabled => return Err(Access::Disabled),
        Access::Refused => {}
    }
    let (Ok(Some(config)), Some(raw)) = (crate::access::config(env), crate::access::token_of(req)) else {
        return Err(Access::Refused);
    };
    match crate::access::verify(&raw, env, &config, code24_runtime::env::now_ms()).await {
        Ok(code24_shared::access::Principal::Operator(email)) => Ok(Actor::Operator(email)),
        Ok(code24_shared::access::Principal::ServiceToken(name)) => Ok(Actor::Service(format!("access:{name}"))),
        Err(refusal) => {
            console_log!("{}", j!({"event": "access_refused", "path": req.path(), "reason": refusal.reason()}));
            Err(Access::Refused)
        }
    }
}

/// Serves `/health` and the admin API. Every `/api/` request goes through the core's
/// [`api::admit`]: the caller's verdict first (the same 401 whatever the path, and known or
/// not), then the route of `code24_shared::api::ROUTES`, which this function dispatches on.
/// `on_behalf` is the dashboard's signed-in actor (in-process calls only): the audit log
/// records them rather than the bearer token the dashboard calls with.
pub(crate) async fn handle_as(mut req: Request, env: &Env, on_behalf: Option<Actor>) -> worker::Result<Response> {
    let url = req.url()?;
    let path = url.path().to_owned();
    if path == "/health" {
        return json(200, &j!({"status": "ok", "worker": code24_shared::names::DISPATCHER_WORKER}));
    }
    if !path.starts_with("/api/") {
        return error(404, format!("no route {}", api::truncated(&path, 120)));
    }
    let method = req.method();
    let caller = identify(&req, env, &secret(env, var::ADMIN_TOKEN)).await;
    let verdict = match &caller {
        Ok(_) => Access::Allowed,
        Err(refused) => *refused,
    };
    let (endpoint, params) = match api::admit(verdict, method.as_ref(), &path) {
        Ok(found) => found,
        Err(refusal) => return refuse(refusal, &method, &path),
    };
    let actor = on_behalf.or(caller.ok()).unwrap_or_else(|| Actor::Service(ADMIN_TOKEN_SERVICE.into()));
    let Some(action) = audit_log::action_of(endpoint) else {
        return dispatch(endpoint, &params, &actor, req, env, url).await;
    };
    // A recorded request's body is read here, once, for its entry, and handed on.
    let body = match body_text(&mut req).await {
        Ok(body) => body,
        Err((status, message)) => return error(status, message),
    };
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("content-length", &body.len().to_string())?;
    let mut init = RequestInit::new();
    init.with_method(method.clone()).with_headers(headers).with_body(Some(body.as_str().into()));
    let rebuilt = Request::new_with_init(url.as_str(), &init)?;
    let mut response = dispatch(endpoint, &params, &actor, rebuilt, env, url).await?;
    if audit_log::is_dry_run(&body) {
        return Ok(response);
    }
    let status = response.status_code();
    let answer = response.cloned()?.text().await?;
    let entry = audit::Answered { actor: &actor, action, path: &path, body: &body, status, answer: &answer, endpoint };
    if !audit::record(env, &entry, code24_runtime::env::now_ms()).await {
        response.headers_mut().set("x-code24-audit", "failed")?;
    }
    Ok(response)
}

async fn dispatch(
    endpoint: Endpoint,
    params: &api::Params<'_>,
    actor: &Actor,
    mut req: Request,
    env: &Env,
    url: Url,
) -> worker::Result<Response> {
    let path = url.path().to_owned();
    let call = Call { env, url };
    match endpoint {
        Endpoint::ListSweeps => sweeps::list(&call).await,
        Endpoint::ShowSweep => sweeps::show(&call, params.get("sweep_id")).await,
        Endpoint::ListResults => results::list(&call).await,
        Endpoint::GetResult => results::get(&call, params.get("key")).await,
        Endpoint::ListSites => sites::list(&call).await,
        Endpoint::AddSite => sites::add(&call, &mut req).await,
        Endpoint::DeactivateSite => sites::deactivate(&call, params.get("customer_id")).await,
        Endpoint::BackfillRun => runs::backfill_run(&call, &mut req).await,
        Endpoint::StartCanary => canary::start(&call).await,
        Endpoint::AddBillingEvent => billing::add(&call, &mut req).await,
        Endpoint::ListRollups => rollups::list(&call).await,
        Endpoint::RollupFreshness => rollups::freshness(&call).await,
        Endpoint::ListDeadLetters => dead_letters::list(&call).await,
        Endpoint::ShowDeadLetter => dead_letters::show(&call, params.get("id")).await,
        Endpoint::ReplayDeadLetters => dead_letters::replay(&call, &mut req).await,
        Endpoint::PurgeDeadLetters => dead_letters::purge(&call, &mut req).await,
        Endpoint::ListAudit => audit::list(&call).await,
        Endpoint::WhoAmI => json(200, actor),
        Endpoint::ShowHealth => health::show(&call).await,
        Endpoint::ListBreakers => sweeps::breakers(&call).await,
        Endpoint::Standin => forward_to_standin(req, env, &api::standin_control_path(&path)).await,
    }
}

/// The answer to a refused request. The two token refusals carry one fixed message each, so an
/// answer tells nothing about the guess or the path.
fn refuse(refusal: Refusal, method: &Method, path: &str) -> worker::Result<Response> {
    let status = refusal.status();
    // The path is quoted as `/api/` and at most 120 characters of the rest.
    match refusal {
        Refusal::Disabled => error(status, auth::DISABLED_MESSAGE),
        Refusal::Unauthorized => error(status, auth::REFUSED_MESSAGE),
        Refusal::MethodNotAllowed => error(status, format!("{method:?} is not allowed on {}", api::truncated(path, 125))),
        Refusal::NotFound => error(status, format!("no route {method:?} {}", api::truncated(path, 125))),
    }
}

/// Forwards a request to the local elite stand-in's `control_path`; 404 where the stand-in is
/// not bound (every deployed environment).
async fn forward_to_standin(mut req: Request, env: &Env, control_path: &str) -> worker::Result<Response> {
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
    standin.fetch(format!("https://standin{control_path}"), Some(init)).await
}

/// A secret of the dispatcher (empty when unset). Secrets are read here only, next to the
/// token check; the dashboard uses it for the admin token and its session-signing secret.
pub(crate) fn secret(env: &Env, name: &str) -> String {
    env.secret(name).map(|s| s.to_string()).unwrap_or_default()
}
