//! The operator dashboard, served at `/` by the dispatcher: server-rendered pages over the
//! admin API (see `code24_dashboard` for every decision and every page's HTML).
//!
//! Access: `GET|POST /login` (the admin token, compared in constant time, starts a signed
//! 12-hour session cookie: HttpOnly, SameSite=Strict, Secure over https; signed with the
//! optional `SESSION_SECRET`, else with a key derived from `ADMIN_TOKEN`; at most 10 wrong
//! tokens per client a minute, then 429), `POST /logout`, `POST /logout-everywhere`. Sessions
//! are also stored server-side in the `Gate` Durable Object ([`crate::gate`]): logout deletes
//! the session's row, "log out everywhere" every row of the same actor, and a cookie without
//! its row opens nothing. Where the environment names a Cloudflare Access application, a valid
//! Access token signs the operator in by email (no token form); deployed, it is required.
//! Every other page needs the session; a page request without one is answered 401 with the
//! login form. Every POST needs the session, a matching CSRF token and (when the browser sends
//! one) a same-origin `Origin`; a refused POST is answered 401 or 403 and changes nothing.
//!
//! Pages ([`views`]): `/` (sweeps), `/sweeps/{id}`, `/schedules`, `/dead-letters`,
//! `/dead-letters/{id}`, `/dead-letters/preview?action=replay|purge&(ids=..|<filter>)`,
//! `/sites`, and the Reports section ([`reports`]): `/reports`, `/reports/{YYYY-MM}` (end of
//! month), `/reports/{YYYY-MM}/analytics`, `/reports/{YYYY-MM}/{object}.json`. Actions ([`actions`]): `POST /dead-letters/replay|purge` (ids from a preview),
//! `POST /sites`, `POST /sites/{id}/deactivate`.

mod actions;
mod backend;
mod reports;
mod views;

use code24_dashboard::assets::{CSP, CSS, CSS_PATH, JS, JS_PATH};
use code24_dashboard::html::{notice, page, Nav};
use code24_dashboard::pages::{login, safe_next};
use code24_dashboard::session::{clear_cookie, cookie_value, same_origin, set_cookie, Session, SessionError, SessionKey, CSRF_FIELD};
use code24_shared::access::Principal;
use code24_shared::audit::{Actor, ADMIN_TOKEN_SERVICE};
use code24_shared::auth::constant_time_eq;
use code24_shared::gate::{client_key, GateRequest, LoginVerdict};
use code24_shared::names::var;
use wasm_bindgen::JsCast;
use worker::{console_log, Env, Headers, Method, Request, Response, Url};

use backend::Backend;

/// A signed-in request: what every page and action needs.
pub(crate) struct Ctx<'a> {
    pub(crate) url: Url,
    pub(crate) backend: Backend<'a>,
    pub(crate) csrf: String,
    pub(crate) environment: String,
    /// Who is signed in, shown in every page's header.
    pub(crate) who: String,
}

impl Ctx<'_> {
    /// One query parameter.
    pub(crate) fn query(&self, name: &str) -> Option<String> {
        self.url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }

    /// A whole page in this session.
    pub(crate) fn page(&self, status: u16, title: &str, nav: Nav, body: &str) -> worker::Result<Response> {
        html(status, &page(title, nav, &self.environment, Some(&self.csrf), Some(&self.who), body), None)
    }

    /// An error page in this session: what failed, and what to do.
    pub(crate) fn fail(&self, status: u16, nav: Nav, what: &str, todo: &str) -> worker::Result<Response> {
        self.page(status, "Something went wrong", nav, &notice("error", what, todo))
    }
}

/// An HTML answer with the dashboard's security headers.
fn html(status: u16, body: &str, cookie: Option<&str>) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "text/html; charset=utf-8")?;
    headers.set("content-security-policy", CSP)?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("x-frame-options", "DENY")?;
    headers.set("referrer-policy", "same-origin")?;
    headers.set("cache-control", "no-store")?;
    if let Some(cookie) = cookie {
        headers.set("set-cookie", cookie)?;
    }
    Ok(Response::ok(body)?.with_status(status).with_headers(headers))
}

/// A 303 to `location`, optionally setting a cookie.
fn see_other(location: &str, cookie: Option<&str>) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("location", location)?;
    headers.set("cache-control", "no-store")?;
    if let Some(cookie) = cookie {
        headers.set("set-cookie", cookie)?;
    }
    Ok(Response::empty()?.with_status(303).with_headers(headers))
}

fn asset(body: &'static str, content_type: &str) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", content_type)?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("cache-control", "public, max-age=300")?;
    Ok(Response::ok(body)?.with_headers(headers))
}

/// 16 random bytes as hex, from the platform's CSPRNG (`crypto.getRandomValues`).
fn random_hex() -> worker::Result<String> {
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into())?;
    let get: js_sys::Function = js_sys::Reflect::get(&crypto, &"getRandomValues".into())?
        .dyn_into()
        .map_err(|_| worker::Error::RustError("crypto.getRandomValues is missing".into()))?;
    let bytes = js_sys::Uint8Array::new_with_length(16);
    get.call1(&crypto, &bytes)?;
    Ok(code24_dashboard::session::hex(&bytes.to_vec()))
}

/// The form fields of a POST body, read as the admin API reads its bodies (the declared length
/// checked before a byte is read, at most 64 KB, none declared: 411), so no one, signed in or
/// not, can make the Worker buffer a huge or endless body.
async fn form(req: &mut Request) -> Result<Vec<(String, String)>, (u16, String)> {
    let body = crate::api::body_text(req).await?;
    let parsed = Url::parse(&format!("http://form/?{body}")).map_err(|e| (400, format!("unreadable form: {e}")))?;
    Ok(parsed.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
}

/// One field of a form.
pub(crate) fn field<'f>(fields: &'f [(String, String)], name: &str) -> &'f str {
    fields.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

/// Serves every path that is not `/health` or under `/api/`.
pub(crate) async fn handle(mut req: Request, env: &Env) -> worker::Result<Response> {
    let url = req.url()?;
    let path = url.path().to_owned();
    let method = req.method();
    match (&method, path.as_str()) {
        (Method::Get, CSS_PATH) => return asset(CSS, "text/css; charset=utf-8"),
        (Method::Get, JS_PATH) => return asset(JS, "text/javascript; charset=utf-8"),
        _ => {}
    }
    let environment = env.var(var::ENVIRONMENT).map(|v| v.to_string()).unwrap_or_default();
    let bare = |status: u16, title: &str, body: &str, cookie: Option<&str>| {
        html(status, &page(title, Nav::None, &environment, None, None, body), cookie)
    };
    let secret = |name: &str| crate::api::secret(env, name);
    let token = secret(var::ADMIN_TOKEN);
    // Sessions are signed with a key from both secrets (SESSION_SECRET required when deployed).
    let key = match SessionKey::for_environment(&environment, &token, &secret(var::SESSION_SECRET)) {
        Ok(key) => key,
        Err(missing) => {
            let what = notice(
                "error",
                &format!("The dashboard is disabled: {missing}."),
                "Set it with `npx wrangler secret put NAME --env ENV` (docs/DEPLOY.md).",
            );
            return bare(503, "Dashboard disabled", &what, None);
        }
    };
    // Secure everywhere but the local run (plain http on 127.0.0.1, where a Secure cookie
    // would never come back); a deployed dashboard reached over http gets no usable cookie.
    let secure = environment != "local" || url.scheme() == "https";
    let origin = url.origin().ascii_serialization();
    let now = code24_runtime::env::now_ms();
    if method == Method::Post && !same_origin(req.headers().get("origin")?.as_deref(), &origin) {
        let what = notice(
            "error",
            "Refused: this form was not sent from the dashboard's own origin. Nothing changed.",
            "Open the dashboard and submit the form there.",
        );
        return bare(403, "Refused", &what, None);
    }
    let access_actor = match access_actor(&req, env, now).await {
        Ok(actor) => actor,
        Err(problem) => {
            return bare(
                503,
                "Dashboard disabled",
                &notice(
                    "error",
                    &format!("The dashboard is disabled: {problem}."),
                    "Fix the vars (docs/DEPLOY.md, \"Cloudflare Access\").",
                ),
                None,
            )
        }
    };
    // Behind Access (deployed), every page needs a valid Access token: the token login is off.
    let access_required = crate::access::config(env).ok().flatten().is_some() && environment != "local";
    if access_required && access_actor.is_none() {
        let what = notice(
            "error",
            "This dashboard is behind Cloudflare Access, and this request carries no valid Access token.",
            "Open the dashboard through its Access-protected address and sign in there.",
        );
        return bare(401, "Cloudflare Access required", &what, None);
    }
    if path == "/login" {
        return match method {
            Method::Get => bare(
                200,
                "Log in",
                &login(
                    SessionError::Malformed.message(),
                    &url.query_pairs().find(|(k, _)| k == "next").map(|(_, v)| v.into_owned()).unwrap_or_default(),
                ),
                None,
            ),
            Method::Post => {
                let fields = match form(&mut req).await {
                    Ok(f) => f,
                    Err((status, message)) => return bare(status, "Log in", &login(&message, "/"), None),
                };
                let next = safe_next(field(&fields, "next"));
                let token_ok = constant_time_eq(field(&fields, "token").as_bytes(), token.as_bytes());
                let client = client_key(req.headers().get("cf-connecting-ip")?.as_deref());
                match crate::gate::ask::<LoginVerdict>(env, &GateRequest::Login { client, token_ok, now_ms: now }).await? {
                    LoginVerdict::Limited { retry_after_ms } => {
                        let wait_s = (retry_after_ms + 999) / 1000;
                        let body = login(&format!("Too many wrong logins from your address: try again in {wait_s} s."), next);
                        let mut refused = bare(429, "Log in", &body, None)?;
                        refused.headers_mut().set("retry-after", &wait_s.to_string())?;
                        Ok(refused)
                    }
                    LoginVerdict::Refused => bare(401, "Log in", &login("That is not the admin token. Nothing changed.", next), None),
                    LoginVerdict::Allowed => {
                        let session = open_session(env, &key, now, Actor::Service(ADMIN_TOKEN_SERVICE.into())).await?;
                        see_other(next, Some(&set_cookie(&session, now, secure)))
                    }
                }
            }
            _ => bare(405, "Not allowed", &notice("error", "Use the login form.", "Open /login."), None),
        };
    }
    let cookie = req.headers().get("cookie")?.unwrap_or_default();
    let verified: Result<Session, SessionError> = cookie_value(&cookie).map_or(Err(SessionError::Malformed), |v| key.verify(v, now));
    let stored = match &verified {
        Ok(s) => crate::gate::ask::<Option<Actor>>(env, &GateRequest::Check { id: s.nonce.clone(), now_ms: now }).await?,
        Err(_) => None,
    };
    let (session, actor, fresh_cookie) = match (verified, stored, access_actor) {
        (Ok(session), Some(actor), _) => (session, actor, None),
        // A valid Access token signs the operator in without the token form.
        (_, _, Some(actor)) => {
            let session = open_session(env, &key, now, actor.clone()).await?;
            let cookie = set_cookie(&session, now, secure);
            (session, actor, Some(cookie))
        }
        (verified, _, None) => {
            let e = verified.err().unwrap_or(SessionError::Revoked);
            let next = match url.query() {
                Some(q) => format!("{path}?{q}"),
                None => path.clone(),
            };
            let body = if method == Method::Get {
                login(e.message(), safe_next(&next))
            } else {
                format!("{}{}", notice("error", "Refused: you are not logged in. Nothing changed.", e.message()), login(e.message(), "/"))
            };
            return bare(401, "Log in", &body, Some(&clear_cookie(secure)));
        }
    };
    let who = actor.name().to_owned();
    let ctx = Ctx { url, backend: Backend { env, origin, token, actor: actor.clone() }, csrf: key.csrf_token(&session), environment, who };
    if method == Method::Post {
        let fields = match form(&mut req).await {
            Ok(f) => f,
            Err((status, message)) => return ctx.fail(status, Nav::None, &message, "Go back and try again."),
        };
        if !key.csrf_ok(&session, field(&fields, CSRF_FIELD)) {
            return ctx.fail(
                403,
                Nav::None,
                "Refused: the form's CSRF token is missing or wrong. Nothing changed.",
                "Reload the page and submit the form again.",
            );
        }
        if path == "/logout" || path == "/logout-everywhere" {
            let revoke =
                if path == "/logout" { GateRequest::Revoke { id: session.nonce.clone() } } else { GateRequest::RevokeAll { actor } };
            crate::gate::ask::<u32>(env, &revoke).await?;
            return see_other("/login", Some(&clear_cookie(secure)));
        }
        return actions::handle(&ctx, &path, &fields).await;
    }
    if method != Method::Get {
        return ctx.fail(405, Nav::None, &format!("{method:?} is not allowed on {path}."), "Use the dashboard's links and forms.");
    }
    let mut response = views::handle(&ctx, &path, now).await?;
    if let Some(cookie) = fresh_cookie {
        response.headers_mut().set("set-cookie", &cookie)?;
    }
    Ok(response)
}

/// Issues a signed session and records it server-side, so it can be revoked.
async fn open_session(env: &Env, key: &SessionKey, now: i64, actor: Actor) -> worker::Result<Session> {
    let session = key.issue(now, &random_hex()?);
    let open = GateRequest::Open { id: session.nonce.clone(), actor, expires_ms: session.expires_ms };
    crate::gate::ask::<Option<()>>(env, &open).await?;
    Ok(session)
}

/// The actor a valid Access token names, where the environment configures Access (`None`
/// without a token or with a refused one, whose reason is logged). `Err` for a
/// half-configured Access application.
async fn access_actor(req: &Request, env: &Env, now: i64) -> Result<Option<Actor>, String> {
    let (Some(config), Some(raw)) = (crate::access::config(env)?, crate::access::token_of(req)) else {
        return Ok(None);
    };
    match crate::access::verify(&raw, env, &config, now).await {
        Ok(Principal::Operator(email)) => Ok(Some(Actor::Operator(email))),
        Ok(Principal::ServiceToken(name)) => Ok(Some(Actor::Service(format!("access:{name}")))),
        Err(refusal) => {
            console_log!("{}", serde_json::json!({"event": "access_refused", "path": req.path(), "reason": refusal.reason()}));
            Ok(None)
        }
    }
}
