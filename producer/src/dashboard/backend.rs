//! The dashboard's data source: the admin API itself, called in-process. Each read or action
//! is a request to [`crate::api::handle`] carrying the `ADMIN_TOKEN` bearer, so the dashboard
//! gets exactly the API's validation, limits and answers, and never a path around them. The
//! signed-in actor goes with each call (in-process, never as a header a client could send), so
//! the audit log names the operator rather than the token.

use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::JsValue;
use worker::{Env, Headers, Method, Request, RequestInit};

/// A failed call: the API's status and its `error` message.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: u16,
    pub(crate) message: String,
}

impl Failure {
    fn new(status: u16, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (HTTP {})", self.message, self.status)
    }
}

/// The admin API as the signed-in operator's agent.
pub(crate) struct Backend<'a> {
    pub(crate) env: &'a Env,
    /// The dashboard's own origin, for the in-process request URLs.
    pub(crate) origin: String,
    pub(crate) token: String,
    /// The signed-in actor, recorded in the audit log for every change made through the page.
    pub(crate) actor: code24_shared::audit::Actor,
}

impl Backend<'_> {
    /// `GET /api/{path}` decoded as `T`.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.call(Method::Get, path, None).await
    }

    /// `POST /api/{path}` with a JSON body, decoded as `T`.
    pub(crate) async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, Failure> {
        let text = serde_json::to_string(body).map_err(|e| Failure::new(500, format!("cannot encode the request: {e}")))?;
        self.call(Method::Post, path, Some(text)).await
    }

    async fn call<T: DeserializeOwned>(&self, method: Method, path: &str, body: Option<String>) -> Result<T, Failure> {
        let internal = |e: worker::Error| Failure::new(500, e.to_string());
        let headers = Headers::new();
        headers.set("authorization", &format!("Bearer {}", self.token)).map_err(internal)?;
        headers.set("content-type", "application/json").map_err(internal)?;
        let mut init = RequestInit::new();
        if let Some(body) = body {
            // The API sizes a body by its declared length before reading it.
            headers.set("content-length", &body.len().to_string()).map_err(internal)?;
            init.with_body(Some(JsValue::from_str(&body)));
        }
        init.with_method(method).with_headers(headers);
        let request = Request::new_with_init(&format!("{}/api/{path}", self.origin), &init).map_err(internal)?;
        let mut response = crate::api::handle_as(request, self.env, Some(self.actor.clone())).await.map_err(internal)?;
        let status = response.status_code();
        let text = response.text().await.map_err(internal)?;
        if !(200..300).contains(&status) {
            let message =
                serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| v["error"].as_str().map(str::to_owned)).unwrap_or(text);
            return Err(Failure::new(status, message));
        }
        serde_json::from_str(&text).map_err(|e| Failure::new(502, format!("unexpected answer from /api/{path}: {e}")))
    }
}
