//! HTTP helpers shared by the Workers' fetch handlers: JSON answers, JSON errors, and the
//! bearer-token check of the admin API (constant-time, so response timing does not leak how
//! much of a guessed token was right).

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

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// Whether the request carries `Authorization: Bearer <expected>`. An empty expected token
/// authorizes nothing: a missing secret must not open the API.
pub fn bearer_ok(req: &Request, expected: &str) -> bool {
    let Ok(Some(header)) = req.headers().get("authorization") else { return false };
    let Some(token) = header.strip_prefix("Bearer ") else { return false };
    !expected.is_empty() && constant_time_eq(token.trim().as_bytes(), expected.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn constant_time_eq_compares_exactly() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
