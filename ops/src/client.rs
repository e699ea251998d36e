//! The admin API over blocking HTTP: bearer token, JSON bodies, and every failure turned into
//! a [`CliError`] with its exit code (status answers through [`CliError::from_status`],
//! transport failures as "cannot reach").

pub(crate) use code24_shared::url::percent_encode;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use ureq::http::{self, Method};

use crate::config::Target;
use crate::error::{CliError, Exit};

/// A request that has not answered in this long is given up (a replay chunk is one request).
const TIMEOUT: Duration = Duration::from_secs(60);
/// Longest piece of a non-JSON error body quoted in a message.
const QUOTED_BODY_CHARS: usize = 200;

/// Variables holding a Cloudflare Access service token (client id and secret), sent as
/// `CF-Access-Client-Id` / `CF-Access-Client-Secret` so an environment behind Access lets the
/// CLI through its edge (docs/DEPLOY.md); the bearer token is still what the API checks.
pub(crate) const ACCESS_CLIENT_ID_VAR: &str = "CODE24_ACCESS_CLIENT_ID";
pub(crate) const ACCESS_CLIENT_SECRET_VAR: &str = "CODE24_ACCESS_CLIENT_SECRET";

/// A connection to one dispatcher's admin API.
pub(crate) struct Client {
    target: Target,
    /// The Access service token's (client id, client secret), when both variables are set.
    access: Option<(String, String)>,
    /// Answers of any status are values, so they can be classified here.
    agent: ureq::Agent,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("target", &self.target).field("access", &self.access.as_ref().map(|_| "<withheld>")).finish()
    }
}

impl Client {
    pub(crate) fn new(target: Target) -> Self {
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .user_agent(concat!("code24-ops/", env!("CARGO_PKG_VERSION")));
        // A proxy from the environment is for the outside world, never for the local stack.
        if target.is_loopback() {
            config = config.proxy(None);
        }
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let access = var(ACCESS_CLIENT_ID_VAR).zip(var(ACCESS_CLIENT_SECRET_VAR));
        Self { target, access, agent: config.build().into() }
    }

    /// `GET path` (starting with `/api/`); the body of a 2xx answer.
    pub(crate) fn get(&self, path: &str) -> Result<String, CliError> {
        self.send(Method::GET, path, None)
    }

    /// `POST path` with a JSON body; the body of a 2xx answer.
    pub(crate) fn post<B: Serialize>(&self, path: &str, body: &B) -> Result<String, CliError> {
        let json = serde_json::to_vec(body)
            .map_err(|e| CliError::new(Exit::Api, format!("cannot encode the request: {e}"), "report this as a bug of code24-ops"))?;
        self.send(Method::POST, path, Some(json))
    }

    fn send(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<String, CliError> {
        let url = format!("{}{path}", self.target.url);
        let request_name = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let mut request = http::Request::builder()
            .method(method)
            .uri(&url)
            .header("authorization", format!("Bearer {}", self.target.token))
            .header("accept", "application/json");
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        if let Some((id, key)) = &self.access {
            request = request.header("cf-access-client-id", id).header("cf-access-client-secret", key);
        }
        let request = request
            .body(body.unwrap_or_default())
            .map_err(|e| CliError::usage(format!("cannot build a request to {url}: {e}"), "check --url or the url of the config entry"))?;
        let response = self.agent.run(request).map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        let text = response.into_body().read_to_string().map_err(|e| self.transport_error(&e))?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        Err(CliError::from_status(status, &api_message(&text), &request_name, &self.target.token_hint()))
    }

    fn transport_error(&self, e: &ureq::Error) -> CliError {
        let url = &self.target.url;
        match e {
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => {
                CliError::usage(format!("{url} is not a usable URL: {e}"), "check --url or the url of the config entry")
            }
            _ if self.target.is_loopback() => CliError::new(
                Exit::Unreachable,
                format!("cannot reach the API at {url}: {e}"),
                "start the local stack with `cargo xtask dev` (it serves http://127.0.0.1:8787), or point --url at a running dispatcher",
            ),
            _ => CliError::new(
                Exit::Unreachable,
                format!("cannot reach the API at {url}: {e}"),
                "check the URL (--url, or url of the config entry for --env) and your network or VPN, then run the command again",
            ),
        }
    }
}

/// The `error` of a JSON error body, or the start of a body that is not one.
pub(crate) fn api_message(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(json) => match json.get("error").and_then(Value::as_str) {
            Some(message) => message.to_owned(),
            None => crate::output::truncate(body.trim(), QUOTED_BODY_CHARS),
        },
        Err(_) => crate::output::truncate(body.trim(), QUOTED_BODY_CHARS),
    }
}

/// Decodes a 2xx body as `T`. A body that does not decode means the CLI and the dispatcher
/// disagree on the API.
pub(crate) fn decode<T: DeserializeOwned>(body: &str, what: &str) -> Result<T, CliError> {
    serde_json::from_str(body).map_err(|e| {
        CliError::new(
            Exit::Api,
            format!("the API's answer is not {what}: {e}"),
            "the dispatcher and this CLI disagree on the API; update code24-ops (or use --json to see the raw answer)",
        )
    })
}

/// `?k=v&...` of the pairs (empty when there are none), values percent-encoded.
pub(crate) fn query(pairs: &[(&str, String)]) -> String {
    let encoded: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect();
    if encoded.is_empty() {
        String::new()
    } else {
        format!("?{}", encoded.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_yield_their_message() {
        assert_eq!(api_message(r#"{"error":"no sweep x"}"#), "no sweep x");
        assert_eq!(api_message("<html>Bad gateway</html>\n"), "<html>Bad gateway</html>");
        assert_eq!(api_message(r#"{"other":1}"#), r#"{"other":1}"#);
        assert_eq!(api_message(&"x".repeat(500)).chars().count(), QUOTED_BODY_CHARS);
    }

    #[test]
    fn queries_are_encoded() {
        assert_eq!(query(&[]), "");
        assert_eq!(
            query(&[("customer_id", "acme".into()), ("cursor", "17.local.optimize.x:y".into())]),
            "?customer_id=acme&cursor=17.local.optimize.x%3Ay"
        );
    }

    #[test]
    fn undecodable_answers_are_api_errors() {
        let e = decode::<Vec<u32>>("{}", "a list of sweeps").unwrap_err();
        assert_eq!(e.exit, Exit::Api);
        assert!(e.message.contains("not a list of sweeps"), "{e}");
    }
}
