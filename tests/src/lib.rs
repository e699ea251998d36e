//! Harness of the end-to-end tier: talks to a local stack started by `cargo xtask test`.
//!
//! End-to-end tests live in `tests/tests/` as `#[ignore]`d tests, so a plain `cargo test` skips
//! them; `cargo xtask test` starts a fresh stack (every Worker on local workerd, empty state,
//! migrations applied, no demo data) and runs them with `--ignored --test-threads=1`, passing
//! the stack's address and admin token in `CODE24_E2E_URL` and `CODE24_E2E_TOKEN`, and the
//! folder of its wrangler logs in `CODE24_E2E_LOG_DIR`.
//!
//! Tests wait on conditions with [`wait_until`], never on fixed sleeps: the pipeline is
//! asynchronous (queues, retries with delays), and a condition states what the test expects.
//!
//! Map of the crate:
//! - this file: [`Stack`], the local stack's address and token, and the HTTP calls tests make.
//! - [`faults`]: how every site of one sweep ended, and the pipeline's invariant over them.
//! - [`restart`]: asking `cargo xtask test` to restart the whole stack on its persisted state.
//! - [`logs`]: the stack's wrangler logs, for what only they say (the Workers' limit counts).
//! - [`browser`]: the WebDriver client of the dashboard's browser test.
//!
//! ```no_run
//! use std::time::Duration;
//! use code24_tests::{wait_until, Stack};
//!
//! let stack = Stack::from_env();
//! stack.fire_cron("*/3 * * * *", 1_795_000_000_000);
//! let sweeps = wait_until("one sweep is listed", Duration::from_secs(30), || {
//!     let sweeps = stack.get_json("/api/sweeps");
//!     if sweeps.as_array().is_some_and(|s| s.len() == 1) { Ok(sweeps) } else { Err(sweeps) }
//! });
//! ```

pub mod browser;

use std::fmt::Debug;
use std::time::{Duration, Instant};

use serde_json::Value;
use ureq::http::{self, Method};

/// Environment variable with the stack's base URL, e.g. `http://127.0.0.1:40123`.
pub const URL_VAR: &str = "CODE24_E2E_URL";
/// Environment variable with the dispatcher's admin token (from `.dev.vars`).
pub const TOKEN_VAR: &str = "CODE24_E2E_TOKEN";
/// How often [`wait_until`] polls.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A running local stack, as seen from a test.
#[derive(Debug, Clone)]
pub struct Stack {
    /// Base URL of the dispatcher, without a trailing slash.
    base_url: String,
    /// Bearer token of the admin API.
    token: String,
    /// Non-2xx answers are values, not errors: tests assert on statuses.
    agent: ureq::Agent,
}

/// The most bytes of one answer the tests read.
const BODY_LIMIT_BYTES: u64 = 64 * 1024 * 1024;
/// How long a `GET` or `HEAD` waits for its answer before it is sent again (the slowest is a
/// report object of about 13 MB, read in a few seconds).
const IDEMPOTENT_TIMEOUT: Duration = Duration::from_secs(20);
/// How many times a `GET` or `HEAD` is sent before the stack counts as not answering.
const IDEMPOTENT_ATTEMPTS: usize = 3;

/// One HTTP answer, kept whole so a failed assertion can show it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON; panics (showing the body) when it is not JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        match serde_json::from_str(&self.body) {
            Ok(json) => json,
            Err(e) => panic!("expected a JSON body ({e}), got {}: {}", self.status, self.body),
        }
    }
}

impl Stack {
    /// The stack named by `CODE24_E2E_URL` and `CODE24_E2E_TOKEN`.
    ///
    /// # Panics
    /// When either variable is missing: these tests only run through `cargo xtask test`.
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var(name).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| {
                panic!(
                    "{name} is not set: end-to-end tests need a running local stack; \
                     run through `cargo xtask test` (or `cargo xtask test --e2e-only`)"
                )
            })
        };
        Self::new(&var(URL_VAR), &var(TOKEN_VAR))
    }

    pub fn new(base_url: &str, token: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Self { base_url: base_url.trim_end_matches('/').to_string(), token: token.to_string(), agent }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `path` (starting with `/`) as a full URL on the stack.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends one request with the bearer token (when `authorized`) and an optional JSON body.
    /// Never panics on an HTTP status; panics only when the stack cannot be reached.
    #[track_caller]
    pub fn send(&self, method: Method, path: &str, body: Option<&Value>, authorized: bool) -> Reply {
        let bearer = format!("Bearer {}", self.token);
        let headers: &[(&str, &str)] = if authorized { &[("authorization", &bearer)] } else { &[] };
        self.send_with(method, path, body, headers)
    }

    /// Sends one request with exactly these headers (no bearer token unless given) and an
    /// optional JSON body, e.g. a Cloudflare Access token instead of the bearer token.
    #[track_caller]
    pub fn send_with(&self, method: Method, path: &str, body: Option<&Value>, headers: &[(&str, &str)]) -> Reply {
        self.try_send_with(method, path, body, headers).unwrap_or_else(|e| panic!("{e}"))
    }

    /// One request, answered or not. A `GET` or `HEAD` that gets no answer within
    /// [`IDEMPOTENT_TIMEOUT`] is sent again, up to [`IDEMPOTENT_ATTEMPTS`] times in all: wrangler
    /// 4.86's dev proxy loses a forwarded `GET` for good when its connection to the Workers drops
    /// (its retry never fires: `ProxyWorker` compares the request's whole URL with the Worker's
    /// origin), and local workerd drops that connection while a Worker's subrequests fail DNS
    /// lookups, as the health check's probes of the tests' `.example` sites do. ARCHITECTURE.md,
    /// "Faults", says more. Other methods are sent once: a lost `POST` may have been served.
    fn try_send_with(&self, method: Method, path: &str, body: Option<&Value>, headers: &[(&str, &str)]) -> Result<Reply, String> {
        let idempotent = method == Method::GET || method == Method::HEAD;
        let attempts = if idempotent { IDEMPOTENT_ATTEMPTS } else { 1 };
        let mut lost = Vec::new();
        for _ in 0..attempts {
            match self.send_once(&method, path, body, headers, idempotent) {
                Ok(reply) => {
                    if !lost.is_empty() {
                        eprintln!("{method} {path}: answered after {} unanswered attempt(s): {}", lost.len(), lost.join("; "));
                    }
                    return Ok(reply);
                }
                Err(e) => lost.push(e),
            }
        }
        Err(format!("{method} {}: the local stack did not answer ({} attempt(s)): {}", self.url(path), lost.len(), lost.join("; ")))
    }

    fn send_once(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        idempotent: bool,
    ) -> Result<Reply, String> {
        let url = self.url(path);
        let mut request = http::Request::builder().method(method.clone()).uri(&url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        // A `GET` or `HEAD` has no body at all (not an empty one): the dev proxy could not resend
        // a request whose body it had already read.
        let sent = match body {
            Some(json) => {
                let request = request
                    .header("content-type", "application/json")
                    .body(json.to_string())
                    .unwrap_or_else(|e| unbuildable(method, &url, e));
                self.agent.run(request)
            }
            None if idempotent => {
                let request = request.body(()).unwrap_or_else(|e| unbuildable(method, &url, e));
                self.agent.run(self.agent.configure_request(request).timeout_global(Some(IDEMPOTENT_TIMEOUT)).build())
            }
            // Other methods declare their empty body (`content-length: 0`), as the API requires.
            None => self.agent.run(request.body(Vec::new()).unwrap_or_else(|e| unbuildable(method, &url, e))),
        };
        let response = sent.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        // The largest answer of the local stack is a report object (the multipart test reads one
        // of about 13 MB), over ureq's default limit of 10 MiB.
        match response.into_body().with_config().limit(BODY_LIMIT_BYTES).read_to_string() {
            Ok(body) => Ok(Reply { status, body }),
            Err(e) => panic!("{method} {url}: cannot read the body: {e}"),
        }
    }

    /// `GET path` with the token; panics unless the answer is 2xx JSON.
    #[track_caller]
    pub fn get_json(&self, path: &str) -> Value {
        self.expect_json(Method::GET, path, None)
    }

    /// `POST path` with a JSON body and the token; panics unless the answer is 2xx JSON.
    #[track_caller]
    pub fn post_json(&self, path: &str, body: &Value) -> Value {
        self.expect_json(Method::POST, path, Some(body))
    }

    /// `PUT path` with a JSON body and the token; panics unless the answer is 2xx JSON.
    #[track_caller]
    pub fn put_json(&self, path: &str, body: &Value) -> Value {
        self.expect_json(Method::PUT, path, Some(body))
    }

    /// One dashboard request (no bearer token): an optional session cookie, extra headers, and
    /// form fields (sent urlencoded when given); redirects are not followed. Returns the status,
    /// the `Set-Cookie` header and the body.
    #[track_caller]
    pub fn dashboard(
        &self,
        method: Method,
        path: &str,
        cookie: Option<&str>,
        headers: &[(&str, &str)],
        fields: Option<&[(&str, &str)]>,
    ) -> (u16, Option<String>, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).proxy(None).max_redirects(0).build().into();
        let mut request = http::Request::builder().method(method).uri(self.url(path));
        if let Some(c) = cookie {
            request = request.header("cookie", format!("code24_session={c}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if fields.is_some() {
            request = request.header("content-type", "application/x-www-form-urlencoded");
        }
        let body =
            fields.map_or_else(String::new, |f| f.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect::<Vec<_>>().join("&"));
        let mut reply = agent.run(request.body(body.into_bytes()).unwrap()).expect("the stack answers");
        let set_cookie = reply.headers().get("set-cookie").and_then(|v| v.to_str().ok()).map(str::to_owned);
        (reply.status().as_u16(), set_cookie, reply.body_mut().read_to_string().unwrap_or_default())
    }

    /// `DELETE path` (with a JSON body when given) and the token; panics unless the answer is
    /// 2xx. Returns the body as JSON, or `Value::Null` when it is empty.
    #[track_caller]
    pub fn delete(&self, path: &str, body: Option<&Value>) -> Value {
        self.expect_json(Method::DELETE, path, body)
    }

    /// A scheduled time for a new sweep, later than every sweep the ledger knows (so no test's
    /// sweep is superseded by another's, whichever test binary ran first) and a multiple of
    /// 3 minutes, like the optimize cron's own slots.
    #[track_caller]
    pub fn next_sweep_time(&self) -> i64 {
        const SLOT_MS: i64 = 180_000;
        let newest = self.get_json("/api/sweeps?limit=1");
        let newest_ms = newest.as_array().and_then(|s| s.first()).and_then(|s| s["scheduled_ms"].as_i64()).unwrap_or(0);
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        newest_ms.max(now_ms) / SLOT_MS * SLOT_MS + SLOT_MS
    }

    /// Customer ids of every active site in the registry.
    #[track_caller]
    pub fn active_customers(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let page = self.get_json(&format!("/api/sites?limit=1000&after={}", percent_encode(&after)));
            let sites = page["sites"].as_array().cloned().unwrap_or_default();
            let Some(last) = sites.last() else { return out };
            after = last["customer_id"].as_str().unwrap_or_default().to_owned();
            out.extend(
                sites
                    .iter()
                    .filter(|s| s["active"].as_f64() == Some(1.0) || s["active"].as_i64() == Some(1))
                    .filter_map(|s| s["customer_id"].as_str().map(str::to_owned)),
            );
        }
    }

    /// Sends each of `bodies` as-is as one message onto the `queue` (`optimize` or `reports`)
    /// through the local stand-in's queue injection hook: duplicate deliveries and malformed
    /// bodies for tests. Returns the answer (`{"queue", "sent"}`, or an error naming the body
    /// the queue refused) without judging it.
    #[track_caller]
    pub fn inject_raw(&self, queue: &str, bodies: &[String]) -> Reply {
        self.send(Method::POST, &format!("/api/standin/queue/{queue}"), Some(&serde_json::json!({ "bodies": bodies })), true)
    }

    /// Fires `cron` as if Cloudflare scheduled it at `time_ms` (epoch milliseconds), through
    /// workerd's scheduled-handler endpoint. Panics unless the handler answered 2xx.
    #[track_caller]
    pub fn fire_cron(&self, cron: &str, time_ms: i64) -> Reply {
        let path = format!("/cdn-cgi/handler/scheduled?cron={}&time={time_ms}", percent_encode(cron));
        let reply = self.send(Method::GET, &path, None, false);
        assert!(reply.is_success(), "firing `{cron}` at {time_ms}: {} {}", reply.status, reply.body);
        reply
    }

    #[track_caller]
    fn expect_json(&self, method: Method, path: &str, body: Option<&Value>) -> Value {
        let reply = self.send(method.clone(), path, body, true);
        assert!(reply.is_success(), "{method} {path}: {} {}", reply.status, reply.body);
        if reply.body.trim().is_empty() {
            Value::Null
        } else {
            reply.json()
        }
    }
}

/// Polls `poll` every [`POLL_INTERVAL`] until it returns `Ok`, and returns that value.
///
/// `poll` returns `Err(observed)` while the condition does not hold yet; on timeout this
/// panics with `description` and the last observed value, which usually says why.
#[track_caller]
pub fn wait_until<T, O: Debug>(description: &str, timeout: Duration, mut poll: impl FnMut() -> Result<T, O>) -> T {
    let started = Instant::now();
    loop {
        let observed = match poll() {
            Ok(done) => return done,
            Err(observed) => observed,
        };
        if started.elapsed() >= timeout {
            panic!("timed out after {timeout:?} waiting until {description}; last observed: {observed:#?}");
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

pub mod faults;
pub mod logs;
pub mod restart;

pub use code24_shared::url::percent_encode;

/// The session value of a `Set-Cookie` header.
pub fn session_of(set_cookie: &str) -> String {
    set_cookie.split(';').next().and_then(|kv| kv.split_once('=')).map(|(_, v)| v.to_owned()).expect("a cookie value")
}

/// The CSRF token of a dashboard page (its logout form carries one).
pub fn csrf_of(page: &str) -> String {
    let field = "name=\"csrf\" value=\"";
    let at = page.find(field).expect("the page's CSRF token") + field.len();
    page[at..at + page[at..].find('"').expect("a closing quote")].to_owned()
}

/// A request the harness itself could not build: a bug in the test, not in the stack.
fn unbuildable<T>(method: &Method, url: &str, e: http::Error) -> T {
    panic!("cannot build {method} {url}: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_until_returns_the_first_ok() {
        let mut polls = 0;
        let got = wait_until("the third poll", Duration::from_secs(5), || {
            polls += 1;
            if polls == 3 {
                Ok(polls)
            } else {
                Err(polls)
            }
        });
        assert_eq!(got, 3);
    }

    #[test]
    #[should_panic(expected = "waiting until never; last observed: \"still no\"")]
    fn wait_until_reports_the_last_observation() {
        wait_until::<(), _>("never", Duration::from_millis(250), || Err("still no"));
    }
}
