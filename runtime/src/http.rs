//! HTTP helpers shared by the Workers' fetch handlers: JSON answers, JSON errors, and the
//! bearer-token check of the admin API (constant-time, so response timing does not leak how
//! much of a guessed token was right).

use code24_shared::auth::{self, Access};
use serde::Serialize;
use worker::{Request, Response};

/// A JSON answer with a status.
pub fn json<T: Serialize>(status: u16, body: &T) -> worker::Result<Response> {
    Ok(Response::from_json(body)?.with_status(status))
}

/// A JSON error `{"error": message}` with a status.
pub fn error(status: u16, message: impl Into<String>) -> worker::Result<Response> {
    json(status, &serde_json::json!({ "error": message.into() }))
}

/// What the token check decides about a request (`code24_shared::auth::authorize`).
pub fn access(req: &Request, secret: &str) -> Access {
    let header = req.headers().get("authorization").ok().flatten();
    auth::authorize(header.as_deref(), secret)
}
